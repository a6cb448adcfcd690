//! hush-client's errors as the Python exception classes of `hush._errors`, each a subclass of
//! the built-in exception existing `except` clauses expect (KeyError, AttributeError, ...).

use hush_client::SecretTable;
use hush_client::SecretsError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// One exception class of `hush._errors`, looked up once.
struct Class {
    name: &'static str,
    cell: PyOnceLock<Py<PyType>>,
}

impl Class {
    const fn new(name: &'static str) -> Class {
        Class {
            name,
            cell: PyOnceLock::new(),
        }
    }

    fn err(&self, py: Python<'_>, message: String) -> PyErr {
        match self.cell.import(py, "hush._errors", self.name) {
            Ok(class) => PyErr::from_type(class.clone(), (message,)),
            Err(err) => err,
        }
    }
}

static KEY: Class = Class::new("SecretKeyError");
static ATTRIBUTE: Class = Class::new("SecretAttributeError");
static READ_ONLY: Class = Class::new("SecretsReadOnlyError");
static NOT_FOUND: Class = Class::new("SecretsNotFoundError");
static PARSE: Class = Class::new("SecretsParseError");
static SOURCE: Class = Class::new("SecretsSourceError");
static SERVER: Class = Class::new("SecretsServerError");
static BASE: Class = Class::new("SecretsError");

/// `secrets["key"]` of a missing key: Streamlit's text, then where hush looked.
pub fn missing_key(py: Python<'_>, key: &str, table: &SecretTable) -> PyErr {
    KEY.err(
        py,
        format!("st.secrets has no key \"{key}\". {}", table.hint()),
    )
}

/// `secrets.key` of a missing key; `why` says where hush looked.
pub fn missing_attribute(py: Python<'_>, key: &str, why: &str) -> PyErr {
    ATTRIBUTE.err(py, format!("st.secrets has no attribute \"{key}\". {why}"))
}

/// Any write: `what` is `item assignment`, `attribute assignment`, `item deletion` or
/// `attribute deletion`.
pub fn read_only(py: Python<'_>, what: &str) -> PyErr {
    READ_ONLY.err(py, format!("Secrets does not support {what}."))
}

/// A failed load, as the class of its kind. The message never holds a value.
pub fn load_failed(py: Python<'_>, err: &SecretsError) -> PyErr {
    let message = err.to_string();
    match err {
        SecretsError::NoSecrets { .. } => NOT_FOUND.err(py, message),
        SecretsError::Parse { .. } | SecretsError::Config { .. } | SecretsError::Text(_) => {
            PARSE.err(py, message)
        }
        SecretsError::InvalidPath { .. }
        | SecretsError::SecretsDirectory { .. }
        | SecretsError::Io { .. } => SOURCE.err(py, message),
        SecretsError::Server(_) => SERVER.err(py, message),
        _ => BASE.err(py, message),
    }
}
