//! `hush.Secrets`: a read-only mapping with st.secrets semantics (compat §3.1–§3.9). One
//! class for the root and for every table in it; `hush.secrets` is the live one, whose every
//! read goes to the newest secrets.

use std::path::PathBuf;
use std::sync::Arc;

use hush_client::{SecretTable, SecretsError};
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyIterator, PyList, PyType};

use crate::convert::{Tables, to_dict, to_py};
use crate::errors;
use crate::live::Live;

enum View {
    /// A table as it was when it was read.
    Snapshot(SecretTable),
    /// The process's secrets, always the newest (`hush.secrets`).
    Live(Arc<Live>),
}

/// Read-only secrets: `s["key"]` and `s.key` are the same, tables are `Secrets` too, and
/// the mapping protocol (`in`, `len`, iteration in file order, `keys()`, `values()`,
/// `items()`, `get()`, `**s`) works as on a `dict`. `to_dict()` gives plain, independent
/// copies. Missing keys raise `SecretKeyError` (a `KeyError`) or `SecretAttributeError`
/// (an `AttributeError`) with st.secrets' text; writes raise `SecretsReadOnlyError` (a
/// `TypeError`). `repr()` shows key names, never values.
#[pyclass(frozen, mapping, module = "hush", name = "Secrets")]
pub struct Secrets {
    view: View,
}

impl Secrets {
    pub fn snapshot(table: SecretTable) -> Secrets {
        Secrets {
            view: View::Snapshot(table),
        }
    }

    pub fn live(live: Arc<Live>) -> Secrets {
        Secrets {
            view: View::Live(live),
        }
    }

    /// The table to read now: the snapshot, or the live secrets' newest (loaded on first use).
    fn table(&self, py: Python<'_>) -> Result<SecretTable, SecretsError> {
        match &self.view {
            View::Snapshot(t) => Ok(t.clone()),
            View::Live(live) => live.current(py),
        }
    }

    fn table_or_raise(&self, py: Python<'_>) -> PyResult<SecretTable> {
        self.table(py).map_err(|e| errors::load_failed(py, &e))
    }
}

fn loaded(py: Python<'_>, result: Result<hush_client::Secrets, SecretsError>) -> PyResult<Secrets> {
    result
        .map(|s| Secrets::snapshot(s.root().clone()))
        .map_err(|e| errors::load_failed(py, &e))
}

/// `collections.abc.KeysView` and friends, looked up once.
fn view_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "collections.abc", name)
}

#[pymethods]
impl Secrets {
    /// Load the secrets once, from where `hush.secrets` reads them (without following
    /// changes): the file `hush run` hands over, else a hush server (`HUSH_SERVER`,
    /// `HUSH_APP`, `HUSH_TOKEN`), else Streamlit's files.
    #[staticmethod]
    fn load(py: Python<'_>) -> PyResult<Secrets> {
        loaded(py, crate::live::load(py))
    }

    /// Load one `.toml` file or secrets directory.
    #[staticmethod]
    fn from_path(py: Python<'_>, path: PathBuf) -> PyResult<Secrets> {
        loaded(py, hush_client::Secrets::from_path(path))
    }

    /// Load several paths; later ones win, key by key at the top level (Streamlit's merge).
    #[staticmethod]
    fn from_paths(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Secrets> {
        loaded(py, hush_client::Secrets::from_paths(paths))
    }

    /// Parse a TOML 1.0 document held in memory.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Secrets> {
        loaded(py, hush_client::Secrets::from_str(text))
    }

    /// The newest secrets of `app` on the hush server at `server`, read with `token`.
    #[staticmethod]
    fn from_server(py: Python<'_>, server: &str, app: &str, token: &str) -> PyResult<Secrets> {
        let result = py.detach(|| hush_client::Secrets::from_server(server, app, token));
        loaded(py, result)
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let table = self.table_or_raise(py)?;
        match table.get(key) {
            Some(value) => to_py(py, value, Tables::Secrets),
            None => Err(errors::missing_key(py, key, &table)),
        }
    }

    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.table(py) {
            Ok(table) => match table.get(name) {
                Some(value) => to_py(py, value, Tables::Secrets),
                None => Err(errors::missing_attribute(py, name, &table.hint())),
            },
            // As in Streamlit, "nothing found" is an AttributeError here (so `hasattr` and
            // `getattr(s, k, default)` work); a file that does not parse is not hidden.
            Err(err @ SecretsError::NoSecrets { .. }) => {
                Err(errors::missing_attribute(py, name, &err.to_string()))
            }
            Err(err) => Err(errors::load_failed(py, &err)),
        }
    }

    fn __setattr__(&self, py: Python<'_>, _name: &str, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(errors::read_only(py, "attribute assignment"))
    }

    fn __delattr__(&self, py: Python<'_>, _name: &str) -> PyResult<()> {
        Err(errors::read_only(py, "attribute deletion"))
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        _key: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        Err(errors::read_only(py, "item assignment"))
    }

    fn __delitem__(&self, py: Python<'_>, _key: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(errors::read_only(py, "item deletion"))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.table_or_raise(py)?.len())
    }

    /// The keys, in file order.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let table = self.table_or_raise(py)?;
        PyList::new(py, table.keys())?.into_any().try_iter()
    }

    /// `False` for a missing key, and when there are no secrets at all (compat §3.5).
    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> bool {
        let Ok(key) = key.extract::<&str>() else {
            return false;
        };
        self.table(py).is_ok_and(|t| t.contains_key(key))
    }

    /// The value of `key`, or `default` when it is missing or there are no secrets at all
    /// (compat §3.5). A file that does not parse still raises.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = match self.table(py) {
            Ok(table) => table
                .get(key)
                .map(|v| to_py(py, v, Tables::Secrets))
                .transpose()?,
            Err(SecretsError::NoSecrets { .. }) => None,
            Err(err) => return Err(errors::load_failed(py, &err)),
        };
        Ok(value.unwrap_or_else(|| default.unwrap_or_else(|| py.None().into_bound(py))))
    }

    /// A view of the keys, in file order.
    fn keys<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        view_class(slf.py(), &CLASS, "KeysView")?.call1((slf,))
    }

    /// A view of the values, in file order (tables as `Secrets`).
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        view_class(slf.py(), &CLASS, "ValuesView")?.call1((slf,))
    }

    /// A view of the `(key, value)` pairs, in file order.
    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        view_class(slf.py(), &CLASS, "ItemsView")?.call1((slf,))
    }

    /// Plain nested `dict`s and `list`s, independent of the store: changing them changes
    /// nothing here.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(to_dict(py, &self.table_or_raise(py)?)?.into_any())
    }

    /// Equal to another `Secrets` or any mapping with the same keys and values.
    fn __richcmp__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        op: CompareOp,
    ) -> PyResult<Bound<'py, PyAny>> {
        static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let mapping = view_class(py, &MAPPING, "Mapping")?;
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) || !other.is_instance(mapping)? {
            return Ok(py.NotImplemented().into_bound(py));
        }
        let mine = to_dict(py, &self.table_or_raise(py)?)?;
        let theirs = match other.cast::<Secrets>() {
            Ok(s) => to_dict(py, &s.get().table_or_raise(py)?)?.into_any(),
            Err(_) => other.clone(),
        };
        let equal = mine.eq(theirs)?;
        Ok(
            pyo3::types::PyBool::new(py, equal == matches!(op, CompareOp::Eq))
                .to_owned()
                .into_any(),
        )
    }

    /// Tables are mutable in spirit (a newer version may come): not hashable, like `dict`.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "unhashable type: '{}'",
            py.get_type::<Secrets>().name()?
        )))
    }

    /// Key names only: a value never reaches a log line through `repr()`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match self.table(py) {
            Ok(t) => format!("<hush.Secrets keys={}>", PyList::new(py, t.keys())?.repr()?),
            Err(_) => "<hush.Secrets (not loaded)>".to_owned(),
        })
    }
}
