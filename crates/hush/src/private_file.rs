//! Files only the user may read (login file, local secrets, exports, the fallback copy),
//! written next to their place, synced, and renamed over it, the folder synced after: never
//! half written, never briefly readable by others, never lost to a power cut once written.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};

/// Whether an existing file at the path may be replaced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Replace,
    Keep,
}

/// Writes `bytes` to `path` with mode 0600, creating its folder if needed; durable (file and
/// folder synced) when it returns.
pub fn write(path: &Path, bytes: &[u8], existing: Existing) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).with_context(|| format!("cannot find {}", dir.display()))?;
    // Folders made here are entries in their parents, to be synced as well.
    let first_existing = dir.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".hush-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let persisted = match existing {
        Existing::Replace => tmp.persist(path),
        Existing::Keep => tmp.persist_noclobber(path),
    };
    if let Err(err) = persisted {
        if existing == Existing::Keep && err.error.kind() == std::io::ErrorKind::AlreadyExists {
            bail!("{} exists; give --force to replace it", path.display());
        }
        return Err(err.error).with_context(|| format!("cannot write {}", path.display()));
    }
    // The rename is an entry in the folder, and each folder made above an entry in its parent:
    // unsynced, a power cut can undo them (a first login.json gone after `hush login`).
    for folder in dir.ancestors() {
        std::fs::File::open(folder)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        if Some(folder) == first_existing.as_deref() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_replaced_atomically_and_kept_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.toml");
        write(&path, b"one", Existing::Keep).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = write(&path, b"two", Existing::Keep).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        write(&path, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
