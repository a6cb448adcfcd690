//! Where secrets come from (compat §1.1–§1.6) and how they are read: resolve the
//! list of paths, take a snapshot of their bytes, build the merged table
//! from the snapshot. Loading and watching share these steps.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use hush_core::{Document, Table, Value, merge_shallow};

use super::SecretsError;

/// Environment variable the hush runner sets to the server's copy of the
/// app's secrets; when set, that file is the only source.
pub const HUSH_SECRETS_FILE_ENV: &str = "HUSH_SECRETS_FILE";
/// Streamlit's override of the list of secrets files (split on whitespace).
pub const STREAMLIT_SECRETS_FILES_ENV: &str = "STREAMLIT_SECRETS_FILES";

/// One place secrets are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A TOML file; skipped while it does not exist.
    File(PathBuf),
    /// A Kubernetes-style secrets directory (compat §1.6).
    Directory(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::File(p) | Source::Directory(p) => p,
        }
    }
}

/// Which mechanism chose the sources; it shapes the missing-key hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `HUSH_SECRETS_FILE`: the app runs under `hush run`.
    Runner,
    /// Streamlit's files (defaults or overrides).
    Local,
    /// `Secrets::from_str`: no files.
    Text,
    /// `Secrets::from_server`: an app's newest version on a hush server.
    #[cfg(feature = "http")]
    Server,
}

/// Where one snapshot of secrets came from, shared by all its tables.
pub(crate) struct Context {
    pub origin: Origin,
    pub sources: Vec<Source>,
    /// The server, app and version of `Origin::Server` secrets.
    #[cfg(feature = "http")]
    pub remote: Option<super::remote::Remote>,
}

impl Context {
    pub fn new(origin: Origin, sources: Vec<Source>) -> Context {
        Context {
            origin,
            sources,
            #[cfg(feature = "http")]
            remote: None,
        }
    }

    /// The rule-15 hint: where hush looked. Built only when a key is missing.
    pub fn hint(&self) -> String {
        let list = || {
            self.sources
                .iter()
                .map(|s| s.path().display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.origin {
            Origin::Runner => format!(
                "Did you forget to add it to the app's secrets on the hush server? \
                 (hush run provides them in {})",
                list()
            ),
            Origin::Local => format!(
                "Did you forget to add it to secrets.toml or a secrets directory? hush looked in: {}",
                list()
            ),
            Origin::Text => "Did you forget to add it to the secrets document?".to_owned(),
            #[cfg(feature = "http")]
            Origin::Server => match &self.remote {
                Some(remote) => format!(
                    "Did you forget to add it to the app's secrets on the hush server? \
                     (hush read app {:?} from {})",
                    remote.app, remote.server
                ),
                None => {
                    "Did you forget to add it to the app's secrets on the hush server?".to_owned()
                }
            },
        }
    }
}

/// Inputs to resolution; the builder fills these, tests pass them explicitly.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolve {
    pub home: Option<PathBuf>,
    pub cwd: PathBuf,
    pub script_dir: Option<PathBuf>,
    pub files: Option<Vec<PathBuf>>,
    pub env: HashMap<String, String>,
}

/// `p` against the current directory when it is relative.
pub(crate) fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir()
        .unwrap_or_else(|_| PathBuf::from("."))
        .join(p)
}

impl Resolve {
    fn absolute(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() { p } else { self.cwd.join(p) }
    }

    /// The sources, in load order, and which mechanism chose them.
    pub fn sources(&self) -> Result<(Vec<Source>, Origin), SecretsError> {
        if let Some(file) = self
            .env
            .get(HUSH_SECRETS_FILE_ENV)
            .filter(|v| !v.trim().is_empty())
        {
            let path = self.absolute(PathBuf::from(file));
            return Ok((vec![Source::File(path)], Origin::Runner));
        }
        let paths = match &self.files {
            Some(files) => Some(files.clone()),
            None => match self
                .env
                .get(STREAMLIT_SECRETS_FILES_ENV)
                .map(|v| v.split_whitespace().map(PathBuf::from).collect::<Vec<_>>())
                .filter(|v| !v.is_empty())
            {
                Some(v) => Some(v),
                None => self.config_files()?,
            },
        };
        let paths = match paths {
            Some(p) => p,
            None => self.default_files(),
        };
        let sources = paths
            .into_iter()
            .map(|p| classify(self.absolute(p)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((sources, Origin::Local))
    }

    fn default_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(home) = &self.home {
            out.push(home.join(".streamlit").join("secrets.toml"));
        }
        let project = self.cwd.join(".streamlit").join("secrets.toml");
        out.push(project.clone());
        if let Some(dir) = &self.script_dir {
            let script = self
                .absolute(dir.clone())
                .join(".streamlit")
                .join("secrets.toml");
            if script != project {
                out.push(script);
            }
        }
        out
    }

    /// `[secrets] files` from `.streamlit/config.toml`: the project's file
    /// ($CWD) wins over the global one (~), as in Streamlit.
    fn config_files(&self) -> Result<Option<Vec<PathBuf>>, SecretsError> {
        let mut candidates = vec![self.cwd.join(".streamlit").join("config.toml")];
        if let Some(home) = &self.home {
            candidates.push(home.join(".streamlit").join("config.toml"));
        }
        for path in candidates {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(SecretsError::Io { path, source }),
            };
            let text = crate::text::from_utf8(&bytes).map_err(|error| SecretsError::Config {
                path: path.clone(),
                message: error.to_string(),
            })?;
            let doc = Document::parse(text).map_err(|error| SecretsError::Config {
                path: path.clone(),
                message: error.to_string(),
            })?;
            let Some(files) = doc
                .root()
                .get("secrets")
                .and_then(|s| s.as_table())
                .and_then(|s| s.get("files"))
            else {
                continue;
            };
            let list = match files {
                Value::String(s) => vec![PathBuf::from(s)],
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map(PathBuf::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| SecretsError::Config {
                        path: path.clone(),
                        message: "[secrets] files must be a list of paths (strings)".to_owned(),
                    })?,
                _ => {
                    return Err(SecretsError::Config {
                        path,
                        message: "[secrets] files must be a list of paths (strings)".to_owned(),
                    });
                }
            };
            return Ok(Some(list));
        }
        Ok(None)
    }
}

pub(crate) fn classify(path: PathBuf) -> Result<Source, SecretsError> {
    if path.to_string_lossy().ends_with(".toml") {
        Ok(Source::File(path))
    } else if path.is_dir() {
        Ok(Source::Directory(path))
    } else {
        Err(SecretsError::InvalidPath { path })
    }
}

/// The bytes behind every source at one moment. Two equal snapshots load to
/// the same secrets, so watching compares snapshots (content, not mtime).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Snap {
    Missing,
    File(Vec<u8>),
    /// Entries of a secrets directory, sorted by name.
    Dir(Vec<(String, DirEntry)>),
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DirEntry {
    /// A subfolder: its files (sorted by name); `None` marks a nested folder.
    Folder(Vec<(String, Option<Vec<u8>>)>),
    /// A plain file directly in the secrets directory: an error (compat §1.6).
    PlainFile,
}

impl fmt::Debug for Snap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Snap(<redacted>)")
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, SecretsError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

pub(crate) fn snapshot(sources: &[Source]) -> Result<Vec<Snap>, SecretsError> {
    sources
        .iter()
        .map(|source| match source {
            Source::File(path) => match std::fs::read(path) {
                Ok(bytes) => Ok(Snap::File(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Snap::Missing),
                Err(source) => Err(SecretsError::Io {
                    path: path.clone(),
                    source,
                }),
            },
            Source::Directory(dir) => {
                if !dir.is_dir() {
                    return Ok(Snap::Missing);
                }
                let mut entries = Vec::new();
                for (name, path) in sorted_entries(dir)? {
                    if !path.is_dir() {
                        entries.push((name, DirEntry::PlainFile));
                        continue;
                    }
                    let mut files = Vec::new();
                    for (fname, fpath) in sorted_entries(&path)? {
                        let content = if fpath.is_dir() {
                            None
                        } else {
                            Some(std::fs::read(&fpath).map_err(io_err(&fpath))?)
                        };
                        files.push((fname, content));
                    }
                    entries.push((name, DirEntry::Folder(files)));
                }
                Ok(Snap::Dir(entries))
            }
        })
        .collect()
}

/// Parse and merge a snapshot. `Ok(None)` when no source exists.
pub(crate) fn build(sources: &[Source], snaps: &[Snap]) -> Result<Option<Table>, SecretsError> {
    let mut tables = Vec::new();
    for (source, snap) in sources.iter().zip(snaps) {
        match snap {
            Snap::Missing => {}
            Snap::File(bytes) => {
                let path = source.path();
                let text = crate::text::from_utf8(bytes).map_err(|error| SecretsError::Parse {
                    path: path.to_owned(),
                    message: error.to_string(),
                })?;
                let doc = Document::parse(text).map_err(|error| SecretsError::Parse {
                    path: path.to_owned(),
                    message: error.to_string(),
                })?;
                tables.push(doc.into_root());
            }
            Snap::Dir(entries) => tables.push(build_dir(source.path(), entries)?),
        }
    }
    if tables.is_empty() {
        return Ok(None);
    }
    Ok(Some(merge_shallow(tables)))
}

fn build_dir(dir: &Path, entries: &[(String, DirEntry)]) -> Result<Table, SecretsError> {
    let mut table = Table::new();
    for (name, entry) in entries {
        let files = match entry {
            DirEntry::PlainFile => {
                return Err(SecretsError::SecretsDirectory {
                    path: dir.join(name),
                    message: "is a file directly in the secrets directory; put each secret \
                              in a subfolder (<dir>/<key>/<name>)"
                        .to_owned(),
                });
            }
            DirEntry::Folder(files) => files,
        };
        let mut values = Table::new();
        for (fname, content) in files {
            let path = dir.join(name).join(fname);
            let Some(bytes) = content else {
                return Err(SecretsError::SecretsDirectory {
                    path,
                    message: "is a folder; a secrets subfolder may hold only files".to_owned(),
                });
            };
            let text =
                crate::text::from_utf8(bytes).map_err(|error| SecretsError::SecretsDirectory {
                    path: path.clone(),
                    message: format!(
                        "is not valid UTF-8 (at line {}, column {})",
                        error.line, error.column
                    ),
                })?;
            values.insert(fname.clone(), Value::String(text.trim().to_owned()));
        }
        let value = if values.len() == 1 {
            values.into_iter().next().expect("len is 1").1
        } else {
            Value::Table(values)
        };
        table.insert(name.clone(), value);
    }
    Ok(table)
}
