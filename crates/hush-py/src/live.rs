//! The process's secrets behind `hush.secrets` (compat §4.4: one store per process): loaded on
//! first use, then kept current by a watcher (the files' content, or the server's watch
//! stream), which calls the `hush.on_change` callbacks with the changed key names.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hush_client::secrets::{HUSH_SECRETS_FILE_ENV, SecretsWatcher, WatchEvent};
use hush_client::{SecretTable, Secrets, SecretsError};
use pyo3::prelude::*;
use pyo3::types::PyList;

/// The variables of direct mode: all three set (and no `hush run` file) means "read from
/// the server".
const SERVER_ENV: &str = "HUSH_SERVER";
const APP_ENV: &str = "HUSH_APP";
const TOKEN_ENV: &str = "HUSH_TOKEN";

#[derive(Default)]
pub struct Live {
    /// The newest secrets that loaded; `None` until the first load succeeds.
    current: RwLock<Option<Secrets>>,
    /// Held (without the GIL) while loading, so only one thread loads.
    loading: Mutex<()>,
    /// Follows the source from the first load on; dropped at exit.
    watcher: Mutex<Option<SecretsWatcher>>,
    /// Set at interpreter exit: a load after that starts no watcher.
    stopped: AtomicBool,
    callbacks: Mutex<Vec<Py<PyAny>>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The directory of the main script, for `<script dir>/.streamlit/secrets.toml` (compat §1.1).
fn script_dir(py: Python<'_>) -> Option<PathBuf> {
    let main = py.import("__main__").ok()?;
    let file: PathBuf = main.getattr("__file__").ok()?.extract().ok()?;
    file.parent().map(PathBuf::from)
}

/// Where `hush.secrets` reads: the file `hush run` hands over (`HUSH_SECRETS_FILE`), else
/// the server (`HUSH_SERVER`, `HUSH_APP`, `HUSH_TOKEN`), else Streamlit's files (global,
/// project, script directory, or `secrets.files` / `STREAMLIT_SECRETS_FILES`).
pub fn load(py: Python<'_>) -> Result<Secrets, SecretsError> {
    let dir = script_dir(py);
    py.detach(|| load_from(dir))
}

/// [`load`] without the GIL; `script_dir` as [`script_dir`] found it.
fn load_from(script_dir: Option<PathBuf>) -> Result<Secrets, SecretsError> {
    if env(HUSH_SECRETS_FILE_ENV).is_none()
        && let (Some(server), Some(app), Some(token)) =
            (env(SERVER_ENV), env(APP_ENV), env(TOKEN_ENV))
    {
        return Secrets::from_server(&server, &app, &token);
    }
    let mut builder = Secrets::builder();
    if let Some(dir) = script_dir {
        builder = builder.script_dir(dir);
    }
    builder.load()
}

impl Live {
    /// The newest secrets' root table; loads them (and starts following them) on first use.
    /// Until a load succeeds, every read tries again.
    pub fn current(self: &Arc<Self>, py: Python<'_>) -> Result<SecretTable, SecretsError> {
        if let Some(s) = &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(s.root().clone());
        }
        let dir = script_dir(py);
        py.detach(|| {
            let _loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
                return Ok(s.root().clone());
            }
            let secrets = load_from(dir)?;
            let root = secrets.root().clone();
            if !self.stopped.load(Ordering::SeqCst) {
                let watcher = secrets.watch_with(self.on_event());
                *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
            }
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(secrets);
            Ok(root)
        })
    }

    pub fn add_callback(&self, callback: Py<PyAny>) {
        self.callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(callback);
    }

    /// Stops following (at interpreter exit, before Python may no longer be called). Waits
    /// for a load in progress, so no watcher starts after this.
    pub fn stop(&self, py: Python<'_>) {
        // Without the GIL: the watcher's thread may be waiting for it to run a callback.
        py.detach(|| {
            let _loading = self.loading.lock().unwrap_or_else(|p| p.into_inner());
            self.stopped.store(true, Ordering::SeqCst);
            let watcher = self
                .watcher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            drop(watcher);
        });
    }

    /// What the watcher thread does with each event.
    fn on_event(self: &Arc<Self>) -> impl FnMut(WatchEvent) -> bool + Send + 'static {
        let live = Arc::downgrade(self);
        move |event| {
            let Some(live) = live.upgrade() else {
                return false;
            };
            match event {
                WatchEvent::Reloaded(new) => live.replace(new),
                WatchEvent::Invalid(err) => warn(&format!(
                    "{err}; hush.secrets keeps the last secrets that loaded"
                )),
            }
            true
        }
    }

    fn replace(&self, new: Secrets) {
        let old = self
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(new.clone());
        let Some(old) = old else { return };
        let diff = hush_core::diff(&old.to_table(), &new.to_table());
        if diff.is_empty() {
            return;
        }
        let mut changed = diff.added;
        changed.extend(diff.removed);
        changed.extend(diff.changed);
        changed.sort();
        changed.dedup();
        let callbacks: Vec<Py<PyAny>> = Python::attach(|py| {
            self.callbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|c| c.clone_ref(py))
                .collect()
        });
        Python::attach(|py| {
            for callback in callbacks {
                let names = match PyList::new(py, &changed) {
                    Ok(list) => list,
                    Err(err) => return err.write_unraisable(py, None),
                };
                if let Err(err) = callback.call1(py, (names,)) {
                    err.write_unraisable(py, Some(callback.bind(py)));
                }
            }
        });
    }
}

/// `logging.getLogger("hush").warning(message)`: shown on stderr unless the app configured
/// logging otherwise.
fn warn(message: &str) {
    Python::attach(|py| {
        let logged = py
            .import("logging")
            .and_then(|l| l.call_method1("getLogger", ("hush",)))
            .and_then(|logger| logger.call_method1("warning", (message,)));
        if let Err(err) = logged {
            err.write_unraisable(py, None);
        }
    });
}
