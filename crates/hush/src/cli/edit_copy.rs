//! The private plaintext copy `hush secrets edit` works on, and the removal of copies that
//! sessions killed before they could clean up (SIGKILL, a crash, a power cut) left behind.
//!
//! Beside each copy `hush-<app>-<random>.toml` is a lock file `<copy>.lock`, locked (`flock`)
//! while its session runs. The lock file is locked before it gets that name and removed only
//! after the copy, so a lock file that can be locked belongs to a session that has ended:
//! the next edit removes its copy, whatever editors left beside it, and then the lock file.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

const LOCK_SUFFIX: &str = ".lock";

pub(super) struct EditCopy {
    copy: tempfile::NamedTempFile,
    lock_path: PathBuf,
    /// Held until the copy is gone; the kernel lets go of it when the process dies.
    _lock: File,
}

impl EditCopy {
    /// Removes what ended sessions left, then writes `text` to a new copy for `app`.
    pub(super) fn create(app: &str, text: &str) -> anyhow::Result<EditCopy> {
        let dir = private_edit_dir()?;
        remove_abandoned(&dir);
        let cannot = || {
            format!(
                "cannot create the private copy to edit in {}",
                dir.display()
            )
        };
        // Empty until it is locked: a copy no lock file names is never removed by others.
        let copy = tempfile::Builder::new()
            .prefix(&format!("hush-{app}-"))
            .suffix(".toml")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&dir)
            .with_context(cannot)?;
        let lock_path = lock_path_of(copy.path());
        // Under a name the sweep skips until locked, so it never finds a live session's lock free.
        let staged = tempfile::Builder::new()
            .prefix(".lock-")
            .tempfile_in(&dir)
            .with_context(cannot)?;
        staged.as_file().lock().with_context(cannot)?;
        let lock = staged
            .persist_noclobber(&lock_path)
            .map_err(|e| e.error)
            .with_context(cannot)?;
        let mut edit = EditCopy {
            copy,
            lock_path,
            _lock: lock,
        };
        edit.copy
            .write_all(text.as_bytes())
            .and_then(|()| edit.copy.as_file().sync_all())
            .with_context(|| format!("cannot write {}", edit.path().display()))?;
        Ok(edit)
    }

    pub(super) fn path(&self) -> &Path {
        self.copy.path()
    }
}

impl Drop for EditCopy {
    /// Removes the copy and what editors leave beside it, then (and only then) the lock file.
    fn drop(&mut self) {
        remove_copy_and_lock(self.copy.path(), &self.lock_path);
    }
}

/// Where edits in progress live: not the shared temporary directory, but a folder only the
/// user can open (0700): `$XDG_RUNTIME_DIR/hush/edits` when it is ours and private (in memory,
/// emptied at logout, so not even a power cut leaves a copy on disk), else
/// `~/.cache/hush/edits`.
fn private_edit_dir() -> anyhow::Result<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|d| !d.is_empty());
    let base = hush_runner::private_runtime_dir()
        .or_else(|| non_empty("XDG_CACHE_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("set HOME or XDG_CACHE_HOME: edits are made in a private folder there")?;
    let dir = base.join("hush").join("edits");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(dir)
}

fn lock_path_of(copy: &Path) -> PathBuf {
    let mut name = copy.as_os_str().to_owned();
    name.push(LOCK_SUFFIX);
    PathBuf::from(name)
}

/// Removes the copies of every session that has ended without removing its own. Best effort:
/// what cannot be removed now is tried again by the next edit.
fn remove_abandoned(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(copy_name) = name.strip_suffix(LOCK_SUFFIX) else {
            continue;
        };
        if !copy_name.starts_with("hush-") {
            continue;
        }
        let Ok(lock) = File::open(entry.path()) else {
            continue;
        };
        match lock.try_lock() {
            Ok(()) => remove_copy_and_lock(&dir.join(copy_name), &entry.path()),
            // A session that is still running.
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(_)) => {}
        }
    }
}

/// Removes every name in the copy's folder that holds the copy's own (random) name — the copy,
/// `copy~`, `.copy.swp`, `#copy#` — and the lock file last.
fn remove_copy_and_lock(copy: &Path, lock: &Path) {
    if let (Some(dir), Some(name)) = (copy.parent(), copy.file_name()) {
        let name = name.to_string_lossy();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path != lock && entry.file_name().to_string_lossy().contains(name.as_ref()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let _ = std::fs::remove_file(lock);
}
