//! The private secrets directory (0700) and its `secrets.toml` (0600), replaced atomically.
//! Dropping [`SecretsDir`] removes both.
//!
//! A runner killed with SIGKILL cannot remove its directory itself, so two things do:
//! - the watchdog (`watchdog.rs`), which removes them the moment the process dies;
//! - the next runner: each directory is locked (`flock` on the directory itself) for as long as
//!   its runner lives, and every runner, before it creates its own, removes the unlocked
//!   `hush-run-*` directories it finds (left when even the watchdog could not run).
//!
//! The default parent is `$XDG_RUNTIME_DIR` (memory only, the user's alone, emptied at
//! logout), else the system temp dir.

use std::fs::{File, Permissions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{RunError, SECRETS_FILE_NAME, watchdog};

/// A live runner's directory: locked, holding the secrets file.
const PREFIX: &str = "hush-run-";
/// A directory being set up (not locked yet, no secrets in it yet).
const NEW_PREFIX: &str = ".hush-run-new-";
/// A directory being set up that is older than this was left by a runner killed meanwhile.
const ABANDONED_SETUP: Duration = Duration::from_secs(60);

pub(crate) struct SecretsDir {
    dir: PathBuf,
    file: PathBuf,
    /// The open directory, locked while this runner lives.
    _lock: File,
}

impl SecretsDir {
    /// Removes what dead runners left under `parent` (default: [`default_parent`]), then
    /// creates a fresh locked directory there and writes `text`.
    pub(crate) fn create(parent: Option<&Path>, text: &str) -> Result<SecretsDir, RunError> {
        let parent = match parent {
            Some(p) => p.to_path_buf(),
            None => default_parent(),
        };
        if has_whitespace(&parent) {
            return Err(RunError::WhitespaceInPath { path: parent });
        }
        remove_abandoned(&parent);
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RunError::SecretsFile { path, source }
        };
        // Set up under a name the sweep of other runners leaves alone until it is locked.
        let new = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(failed(&parent))?
            .keep();
        let setup = || -> std::io::Result<(File, PathBuf)> {
            // The mode given at creation is filtered by the umask; make it exact.
            std::fs::set_permissions(&new, Permissions::from_mode(0o700))?;
            let lock = File::open(&new)?;
            lock.try_lock().map_err(std::io::Error::from)?;
            let suffix = new
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(NEW_PREFIX))
                .unwrap_or_default();
            let dir = parent.join(format!("{PREFIX}{suffix}"));
            std::fs::rename(&new, &dir)?;
            Ok((lock, dir))
        };
        let (lock, dir) = setup().map_err(|e| {
            let _ = std::fs::remove_dir_all(&new);
            failed(&new)(e)
        })?;
        watchdog::watch_dir(&dir);
        let file = dir.join(SECRETS_FILE_NAME);
        let this = SecretsDir {
            dir,
            file,
            _lock: lock,
        };
        this.replace(text).map_err(failed(&this.file))?;
        Ok(this)
    }

    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// Replaces the file atomically: a 0600 temporary file in the same directory, fsync, rename.
    /// A reader sees either the old text or the new one, never a mix.
    pub(crate) fn replace(&self, text: &str) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".secrets-")
            .suffix(".tmp")
            .permissions(Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)?;
        tmp.as_file()
            .set_permissions(Permissions::from_mode(0o600))?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Drop for SecretsDir {
    fn drop(&mut self) {
        // Also on error paths and when the run future is dropped. The lock goes after.
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => watchdog::forget_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => watchdog::forget_dir(&self.dir),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the secrets directory")
            }
        }
    }
}

/// `$XDG_RUNTIME_DIR` when it is usable for secrets: an absolute path to a directory that is
/// ours and private (a variable inherited through `su`, or naming a folder that does not exist,
/// is not).
pub fn private_runtime_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| {
            dir.is_absolute()
                && std::fs::metadata(dir).is_ok_and(|m| {
                    m.is_dir() && m.uid() == nix::unistd::getuid().as_raw() && m.mode() & 0o077 == 0
                })
        })
}

/// [`private_runtime_dir`], else the system temp dir, else `/tmp` (when those paths contain
/// whitespace, which `STREAMLIT_SECRETS_FILES` cannot carry).
pub(crate) fn default_parent() -> PathBuf {
    if let Some(dir) = private_runtime_dir().filter(|dir| !has_whitespace(dir)) {
        return dir;
    }
    let tmp = std::env::temp_dir();
    if has_whitespace(&tmp) {
        PathBuf::from("/tmp")
    } else {
        tmp
    }
}

/// Removes the directories of dead runners under `parent`: ours (same user), named like ours,
/// and not locked. A directory still being set up is left alone for a minute.
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let uid = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let setting_up = name.starts_with(NEW_PREFIX);
        if !setting_up && !name.starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        // `symlink_metadata`: a link planted under our name is not followed.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        if setting_up
            && meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < ABANDONED_SETUP)
        {
            continue;
        }
        let Ok(dir) = File::open(&path) else {
            continue;
        };
        match dir.try_lock() {
            Ok(()) => {
                // Its runner is dead; the lock we hold keeps a second sweeper out meanwhile.
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => tracing::info!(
                        dir = %path.display(),
                        "removed the secrets directory of a hush runner that was killed"
                    ),
                    Err(e) => tracing::warn!(
                        dir = %path.display(),
                        error = %e,
                        "cannot remove the secrets directory of a hush runner that was killed"
                    ),
                }
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(_)) => {}
        }
    }
}

fn has_whitespace(path: &Path) -> bool {
    path.to_string_lossy().chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dir_and_file_and_removes_them() {
        let parent = tempfile::tempdir().unwrap();
        let dir = SecretsDir::create(Some(parent.path()), "a = \"1\"\n").unwrap();
        let file = dir.file().to_path_buf();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a = \"1\"\n");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        let d = file.parent().unwrap().to_path_buf();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        dir.replace("a = \"2\"\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a = \"2\"\n");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        // Only the secrets file is left behind after a replace.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        drop(dir);
        assert!(!d.exists());
    }

    #[test]
    fn a_dead_runners_directory_is_removed_and_a_live_ones_is_kept() {
        let parent = tempfile::tempdir().unwrap();
        let live = SecretsDir::create(Some(parent.path()), "a = \"live\"\n").unwrap();
        // What a runner killed with SIGKILL leaves: a directory nobody holds a lock on.
        let dead = parent.path().join(format!("{PREFIX}dead01"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(SECRETS_FILE_NAME), "a = \"plain\"\n").unwrap();
        // Not ours to judge: another name, a fresh setup.
        let other = parent.path().join("hush-abc123");
        std::fs::create_dir(&other).unwrap();
        let setup = parent.path().join(format!("{NEW_PREFIX}fresh1"));
        std::fs::create_dir(&setup).unwrap();

        let next = SecretsDir::create(Some(parent.path()), "a = \"next\"\n").unwrap();
        assert!(!dead.exists(), "the dead runner's plaintext is gone");
        assert!(live.file().exists(), "a live runner's directory is kept");
        assert!(other.exists() && setup.exists());
        drop((live, next));
    }

    #[test]
    fn refuses_a_parent_with_whitespace() {
        let parent = tempfile::tempdir().unwrap();
        let spaced = parent.path().join("with space");
        std::fs::create_dir(&spaced).unwrap();
        assert!(matches!(
            SecretsDir::create(Some(&spaced), ""),
            Err(RunError::WhitespaceInPath { .. })
        ));
    }
}
