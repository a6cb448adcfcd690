//! The Python binding, `import hush`: st.secrets-style read-only mappings over hush-client's
//! `Secrets` (`table`, `convert`), the live process-wide `hush.secrets` (`live`), and the
//! exception classes of python/hush/_errors.py (`errors`). The public API is
//! python/hush/__init__.py.

mod convert;
mod errors;
mod live;
mod table;

use std::sync::{Arc, OnceLock};

use pyo3::prelude::*;

/// The one `hush.secrets` of this process (compat §4.4).
fn the_live() -> &'static Arc<live::Live> {
    static LIVE: OnceLock<Arc<live::Live>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

#[pymodule]
mod _hush {
    use super::*;

    #[pymodule_export]
    use crate::table::Secrets;

    /// The live secrets object behind `hush.secrets`.
    #[pyfunction]
    fn live() -> Secrets {
        Secrets::live(the_live().clone())
    }

    /// Registers `callback(changed_keys)`; loads the secrets if they are not loaded yet.
    #[pyfunction]
    fn on_change(py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        let live = the_live();
        live.current(py)
            .map_err(|e| crate::errors::load_failed(py, &e))?;
        live.add_callback(callback);
        Ok(())
    }

    /// Stops following changes (registered with `atexit`).
    #[pyfunction]
    fn shutdown(py: Python<'_>) {
        the_live().stop(py);
    }
}
