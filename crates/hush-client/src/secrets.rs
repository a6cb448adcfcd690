//! `st.secrets` for Rust: load `.streamlit/secrets.toml` files (or the hush
//! runner's copy) exactly as Streamlit resolves and merges them, look values up
//! with Streamlit's error texts, and watch the files for changes.
//!
//! ```no_run
//! use hush_client::secrets::Secrets;
//!
//! let secrets = Secrets::load()?;
//! let user = secrets["db_username"].as_str().unwrap_or_default();
//! let port: u16 = secrets.get_path("db.port")?;
//! # Ok::<(), hush_client::secrets::SecretsError>(())
//! ```
//!
//! Where secrets come from, in order of precedence:
//! 1. `HUSH_SECRETS_FILE` (set by `hush run`): that file only; the server's secrets win.
//! 2. [`SecretsBuilder::files`] (like `streamlit run --secrets.files`).
//! 3. `STREAMLIT_SECRETS_FILES`, paths split on whitespace.
//! 4. `[secrets] files = [...]` in `$CWD/.streamlit/config.toml`, else in `~/.streamlit/config.toml`.
//! 5. The defaults: `~/.streamlit/secrets.toml`, `$CWD/.streamlit/secrets.toml`, and
//!    `<script dir>/.streamlit/secrets.toml` when [`SecretsBuilder::script_dir`] is given
//!    (a Rust program has no main script; the executable's directory is not used).
//!
//! Files are merged shallowly: a later file's top-level key replaces the earlier value whole.

#[cfg(feature = "http")]
mod remote;
mod sources;
mod value;
mod watch;

use std::collections::HashMap;
use std::fmt;
use std::ops::Index;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hush_core::{DeError, Document, EnvProjection, KeyPathError, Table};
use serde::de::DeserializeOwned;

pub use sources::{HUSH_SECRETS_FILE_ENV, STREAMLIT_SECRETS_FILES_ENV, Source};
pub use value::{Secret, SecretTable};
pub use watch::{DEFAULT_POLL_INTERVAL, SecretsWatcher, WatchEvent};

use sources::{Context, Origin, Resolve, Snap};

/// Everything that can go wrong loading or reading secrets. No variant ever
/// holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Rule 3: none of the sources exists.
    #[error(
        "No secrets found. Valid paths for a secrets.toml file or secret directories are: {}",
        display_paths(.looked_in)
    )]
    NoSecrets { looked_in: Vec<PathBuf> },
    /// Rule 4: a file is not valid TOML 1.0; nothing was loaded.
    #[error("Error parsing secrets file at {}: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    /// Rule 5: an override path that is neither a `.toml` file nor a directory.
    #[error("Invalid secrets path: {}: path is not a .toml file or a directory", .path.display())]
    InvalidPath { path: PathBuf },
    /// Rule 6: a secrets directory laid out wrongly.
    #[error("Invalid secrets directory entry {}: {message}", .path.display())]
    SecretsDirectory { path: PathBuf, message: String },
    #[error("Error reading secrets from {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `.streamlit/config.toml` could not be read as a config file.
    #[error("Error parsing config file at {}: {message}", .path.display())]
    Config { path: PathBuf, message: String },
    /// Rule 15, key form. `hint` says where hush looked.
    #[error("st.secrets has no key {key:?}. {hint}")]
    MissingKey { key: String, hint: String },
    /// A path lookup went through something that is not a table.
    #[error("st.secrets key {path} is a {found}, not a table, so it has no key {key:?}")]
    NotATable {
        path: String,
        key: String,
        found: &'static str,
    },
    /// The value does not fit the requested type (the message names types, not values).
    #[error("st.secrets key {key} does not fit the requested type: {error}")]
    Deserialize { key: String, error: DeError },
    #[error(transparent)]
    KeyPath(#[from] KeyPathError),
    /// A document given to `from_str` is not valid TOML 1.0.
    #[error("Error parsing secrets: {0}")]
    Text(#[from] hush_core::ParseError),
    /// [`Secrets::from_server`]: the server could not be reached or refused.
    #[cfg(feature = "http")]
    #[error("Error reading secrets from the hush server: {0}")]
    Server(Box<crate::api::ClientError>),
}

#[cfg(feature = "http")]
impl From<crate::api::ClientError> for SecretsError {
    fn from(err: crate::api::ClientError) -> Self {
        SecretsError::Server(Box::new(err))
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

struct Inner {
    root: SecretTable,
    /// The sources' bytes these secrets were built from (what a watcher compares).
    snaps: Vec<Snap>,
}

/// Loaded secrets: an immutable, cheaply clonable snapshot. Nothing returned
/// from it can change it (compat §3.8).
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

impl Default for Secrets {
    /// No secrets at all.
    fn default() -> Self {
        Secrets::from_parts(
            Table::new(),
            Arc::new(Context::new(Origin::Text, Vec::new())),
            Vec::new(),
        )
    }
}

impl Secrets {
    fn from_parts(table: Table, context: Arc<Context>, snaps: Vec<Snap>) -> Secrets {
        Secrets {
            inner: Arc::new(Inner {
                root: SecretTable::from_table(table, &context),
                snaps,
            }),
        }
    }

    fn context(&self) -> &Arc<Context> {
        self.inner.root.context()
    }

    /// Load as Streamlit does, from the process environment, `$HOME` and the
    /// current directory (see the module docs for the order).
    pub fn load() -> Result<Secrets, SecretsError> {
        Secrets::builder().load()
    }

    /// Choose where to look: explicit home, working and script directories,
    /// file list or environment (tests use this instead of the process's).
    pub fn builder() -> SecretsBuilder {
        SecretsBuilder::default()
    }

    /// Load one path: a `.toml` file or a secrets directory. No environment
    /// variable or config file is consulted.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Secrets, SecretsError> {
        Secrets::from_paths([path])
    }

    /// Load several paths, later ones winning (shallow merge). Missing `.toml`
    /// files are skipped; if none exists this fails (compat §1.3).
    pub fn from_paths<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Secrets, SecretsError> {
        let sources = paths
            .into_iter()
            .map(|p| sources::classify(sources::absolute(p.as_ref().to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        Secrets::load_sources(sources, Origin::Local)
    }

    /// Parse a secrets document held in memory.
    #[allow(clippy::should_implement_trait)] // `FromStr` is implemented too.
    pub fn from_str(text: &str) -> Result<Secrets, SecretsError> {
        let doc = Document::parse(text)?;
        Ok(Secrets::from_parts(
            doc.into_root(),
            Arc::new(Context::new(Origin::Text, Vec::new())),
            Vec::new(),
        ))
    }

    fn load_sources(sources: Vec<Source>, origin: Origin) -> Result<Secrets, SecretsError> {
        let snaps = sources::snapshot(&sources)?;
        match sources::build(&sources, &snaps)? {
            Some(table) => Ok(Secrets::from_parts(
                table,
                Arc::new(Context::new(origin, sources)),
                snaps,
            )),
            None => Err(SecretsError::NoSecrets {
                looked_in: sources.iter().map(|s| s.path().to_owned()).collect(),
            }),
        }
    }

    /// The top-level table.
    pub fn root(&self) -> &SecretTable {
        &self.inner.root
    }

    /// The places these secrets were read from, in load order (missing files included).
    pub fn sources(&self) -> &[Source] {
        &self.context().sources
    }

    /// A top-level value, or `None` (never fails, even with no secrets: compat §3.5).
    pub fn value(&self, key: &str) -> Option<&Secret> {
        self.inner.root.get(key)
    }

    /// A top-level value deserialized into `T` (`String`, `u16`, `Vec<String>`,
    /// a struct, ...). A missing key gives Streamlit's text (compat §3.3).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, SecretsError> {
        let value = self.inner.root.try_get(key)?;
        hush_core::from_value(&value.to_value()).map_err(|error| SecretsError::Deserialize {
            key: hush_core::format_key(key),
            error,
        })
    }

    /// A nested value by TOML dotted key: `db.host`, `"with.dot".x`,
    /// `'my key'.sub`. Segments are split as TOML splits dotted keys, so a key
    /// containing a dot must be quoted; a top-level key is also a path
    /// (`get_path("api_key")`). Missing segments give the rule-15 text.
    pub fn get_path<T: DeserializeOwned>(&self, path: &str) -> Result<T, SecretsError> {
        let value = self.lookup_path(path)?;
        hush_core::from_value(&value.to_value()).map_err(|error| SecretsError::Deserialize {
            key: path.to_owned(),
            error,
        })
    }

    /// The value at a dotted key path (see [`Secrets::get_path`]).
    pub fn lookup_path(&self, path: &str) -> Result<&Secret, SecretsError> {
        let segments = hush_core::parse_key_path(path)?;
        let mut table = &self.inner.root;
        let mut walked: Vec<&str> = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let value = table.try_get(seg)?;
            if i + 1 == segments.len() {
                return Ok(value);
            }
            walked.push(seg);
            table = match value {
                Secret::Table(t) => t,
                other => {
                    return Err(SecretsError::NotATable {
                        path: hush_core::format_key_path(&walked),
                        key: segments[i + 1].clone(),
                        found: other.type_name(),
                    });
                }
            };
        }
        unreachable!("parse_key_path never returns an empty path")
    }

    /// A table deserialized into `T`: the Rust answer to `**st.secrets.db_credentials`.
    ///
    /// ```no_run
    /// # use hush_client::secrets::Secrets;
    /// #[derive(serde::Deserialize)]
    /// struct DbCredentials { username: String, password: String }
    /// let creds: DbCredentials = Secrets::load()?.section("db_credentials")?;
    /// # Ok::<(), hush_client::secrets::SecretsError>(())
    /// ```
    pub fn section<T: DeserializeOwned>(&self, key: &str) -> Result<T, SecretsError> {
        match self.inner.root.try_get(key)? {
            Secret::Table(t) => {
                hush_core::from_table(&t.to_table()).map_err(|error| SecretsError::Deserialize {
                    key: hush_core::format_key(key),
                    error,
                })
            }
            other => Err(SecretsError::Deserialize {
                key: hush_core::format_key(key),
                error: <DeError as serde::de::Error>::custom(format_args!(
                    "expected a table (a [section]), found a {}",
                    other.type_name()
                )),
            }),
        }
    }

    /// Deserialize all secrets at once into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SecretsError> {
        hush_core::from_table(&self.to_table()).map_err(|error| SecretsError::Deserialize {
            key: "(root)".to_owned(),
            error,
        })
    }

    /// `false` when absent, even with no secrets at all (compat §3.5).
    pub fn contains_key(&self, key: &str) -> bool {
        self.inner.root.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.inner.root.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.root.is_empty()
    }

    /// `(key, value)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.inner.root.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.inner.root.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.inner.root.values()
    }

    /// A deep, independent copy (`st.secrets.to_dict()`; compat §3.8).
    pub fn to_table(&self) -> Table {
        self.inner.root.to_table()
    }

    /// The environment variables these secrets export (compat §2.1–§2.4).
    pub fn env(&self) -> EnvProjection {
        hush_core::env_projection_from(self.iter().map(|(k, v)| (k, v.env_text())))
    }

    /// Watch the sources for content changes, polling every
    /// [`DEFAULT_POLL_INTERVAL`] (compat §4.1 and §4.3). See [`SecretsWatcher`].
    pub fn watch(&self) -> SecretsWatcher {
        self.watch_every(DEFAULT_POLL_INTERVAL)
    }

    /// [`Secrets::watch`] with a chosen polling interval.
    pub fn watch_every(&self, interval: Duration) -> SecretsWatcher {
        watch::start(self.clone(), interval)
    }

    /// [`Secrets::watch`], handing each event to `on_event` on the watcher's own
    /// thread instead of the channel; `on_event` returns `false` to stop watching.
    /// Dropping the watcher stops it too, after a call in progress returns.
    pub fn watch_with(
        &self,
        on_event: impl FnMut(WatchEvent) -> bool + Send + 'static,
    ) -> SecretsWatcher {
        watch::start_with(self.clone(), DEFAULT_POLL_INTERVAL, Box::new(on_event))
    }
}

impl FromStr for Secrets {
    type Err = SecretsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Secrets::from_str(s)
    }
}

impl Index<&str> for Secrets {
    type Output = Secret;
    /// `secrets["key"]`; panics with Streamlit's text when missing:
    /// `st.secrets has no key "key". Did you forget to add it ...` (compat §3.3).
    fn index(&self, key: &str) -> &Secret {
        &self.inner.root[key]
    }
}

impl PartialEq for Secrets {
    fn eq(&self, other: &Self) -> bool {
        self.inner.root == other.inner.root
    }
}

/// Equality with a plain table (compat §3.2).
impl PartialEq<Table> for Secrets {
    fn eq(&self, other: &Table) -> bool {
        self.to_table() == *other
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("keys", &self.inner.root.keys().collect::<Vec<_>>())
            .field("sources", &self.context().sources)
            .finish()
    }
}

/// Where to look for secrets. Every input defaults to the process's own
/// (`$HOME`, the current directory, the environment); tests set them explicitly.
#[derive(Clone, Debug, Default)]
pub struct SecretsBuilder {
    home: Option<PathBuf>,
    cwd: Option<PathBuf>,
    script_dir: Option<PathBuf>,
    files: Option<Vec<PathBuf>>,
    env: Option<HashMap<String, String>>,
}

impl SecretsBuilder {
    /// The home directory (for `~/.streamlit/...`). Default: `$HOME`.
    pub fn home(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home = Some(dir.into());
        self
    }

    /// The working directory (for `$CWD/.streamlit/...` and relative paths).
    /// Default: the process's current directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The "main script" directory: adds `<dir>/.streamlit/secrets.toml` as the
    /// last default file (when it differs from the working directory's).
    pub fn script_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.script_dir = Some(dir.into());
        self
    }

    /// Replace the file list, like `streamlit run --secrets.files`: beats
    /// `STREAMLIT_SECRETS_FILES` and config files, loses to `HUSH_SECRETS_FILE`.
    pub fn files<P: Into<PathBuf>>(mut self, files: impl IntoIterator<Item = P>) -> Self {
        self.files = Some(files.into_iter().map(Into::into).collect());
        self
    }

    /// Use these variables instead of the process environment for
    /// `HUSH_SECRETS_FILE` and `STREAMLIT_SECRETS_FILES`.
    pub fn environment<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Ignore `HUSH_SECRETS_FILE` and `STREAMLIT_SECRETS_FILES`.
    pub fn ignore_environment(self) -> Self {
        self.environment(std::iter::empty::<(String, String)>())
    }

    fn resolve(&self) -> Resolve {
        let env = match &self.env {
            Some(env) => env.clone(),
            None => [HUSH_SECRETS_FILE_ENV, STREAMLIT_SECRETS_FILES_ENV]
                .into_iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v)))
                .collect(),
        };
        let home = self.home.clone().or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
        });
        let cwd = self
            .cwd
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        Resolve {
            home,
            cwd,
            script_dir: self.script_dir.clone(),
            files: self.files.clone(),
            env,
        }
    }

    /// The sources that would be read, in load order.
    pub fn sources(&self) -> Result<Vec<Source>, SecretsError> {
        Ok(self.resolve().sources()?.0)
    }

    /// Resolve the sources and load them.
    pub fn load(&self) -> Result<Secrets, SecretsError> {
        let (sources, origin) = self.resolve().sources()?;
        Secrets::load_sources(sources, origin)
    }
}
