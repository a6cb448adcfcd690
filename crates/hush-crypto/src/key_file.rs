//! Master key files: one base64 key per line, the newest (the one that wraps new data keys)
//! first, `#` comments allowed. Only their owner may read them: they are created 0600, replaced
//! through a fresh 0600 file, and [`check_key_file_private`] refuses one others can read.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::{CryptoError, MasterKey};

impl MasterKey {
    /// Creates a new random key in a new file readable only by its owner (mode 0600).
    /// Refuses to overwrite an existing file.
    pub fn create_file(path: &Path) -> Result<MasterKey, CryptoError> {
        let key = MasterKey::generate();
        let io_err = |error| CryptoError::Io {
            action: "create master key file",
            path: path.to_owned(),
            error,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_err)?;
        let mut line = key.to_encoded();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        // A new file is an entry in its folder too: without this, a power cut right after the
        // first start could leave a database sealed with a key that no file holds any more.
        sync_folder_of(path).map_err(io_err)?;
        Ok(key)
    }
}

/// Reads a key file: every key in it, newest first. Errors name the file and the line, never
/// what is written there.
pub fn read_key_file(path: &Path) -> Result<Vec<MasterKey>, CryptoError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|error| CryptoError::Io {
            action: "read master key file",
            path: path.to_path_buf(),
            error,
        })?,
    );
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = MasterKey::from_encoded(line).map_err(|e| match e {
            CryptoError::BadKey(what) => {
                CryptoError::BadKey(format!("{} line {}: {what}", path.display(), number + 1))
            }
            other => other,
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(CryptoError::BadKey(format!(
            "{} holds no master key",
            path.display()
        )));
    }
    Ok(keys)
}

/// Replaces the key file with `keys` (newest first) atomically: a fresh 0600 file in the same
/// directory (never a symlink or a leftover with looser permissions), synced, renamed over the
/// old one, and the directory synced so the rename survives a power cut.
pub fn write_key_file(path: &Path, keys: &[&MasterKey]) -> Result<(), CryptoError> {
    let io_err = |error| CryptoError::Io {
        action: "write master key file",
        path: path.to_path_buf(),
        error,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile creates its files 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".master.key.")
        .tempfile_in(dir)
        .map_err(io_err)?;
    let mut text = Zeroizing::new(String::from("# hush master keys, newest first\n"));
    for key in keys {
        text.push_str(&key.to_encoded());
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.as_file().sync_all().map_err(io_err)?;
    file.persist(path).map_err(|e| io_err(e.error))?;
    sync_folder_of(path).map_err(io_err)
}

/// Makes a file's creation or renaming in its folder durable (fsync of the folder). Unix only:
/// elsewhere a folder cannot be opened to be synced.
fn sync_folder_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses a key file that anyone but its owner may read or write, as ssh refuses such a
/// private key; the error says how to fix it.
pub fn check_key_file_private(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|error| CryptoError::Io {
                action: "read master key file",
                path: path.to_path_buf(),
                error,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let mk = MasterKey::create_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600, "mode is {:o}", mode(&path));
        let read = read_key_file(&path).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].key_id(), mk.key_id());
        check_key_file_private(&path).unwrap();

        let before = std::fs::read(&path).unwrap();
        let err = MasterKey::create_file(&path).unwrap_err();
        assert!(
            matches!(&err, CryptoError::Io { error, .. } if error.kind() == std::io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        assert!(err.to_string().contains("master.key"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_keep_the_order_and_are_private_even_over_a_looser_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "# left by someone\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (new, old) = (MasterKey::generate(), MasterKey::generate());
        write_key_file(&path, &[&new, &old]).unwrap();
        assert_eq!(mode(&path), 0o600);
        let ids: Vec<String> = read_key_file(&path)
            .unwrap()
            .iter()
            .map(MasterKey::key_id)
            .collect();
        assert_eq!(ids, [new.key_id(), old.key_id()]);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_key_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "not yours\n").unwrap();
        let path = dir.path().join("master.key");
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        write_key_file(&path, &[&MasterKey::generate()]).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not yours\n");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::create_file(&path).unwrap();
        for loose in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
            let err = check_key_file_private(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
            assert!(err.contains(&format!("{loose:o}")), "{err}");
        }
        for tight in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(tight)).unwrap();
            check_key_file_private(&path).unwrap();
        }
    }

    #[test]
    fn read_errors_name_the_file_and_line_never_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.key");
        let err = read_key_file(&missing).unwrap_err();
        assert!(matches!(err, CryptoError::Io { .. }));
        assert!(err.to_string().contains("nope.key"), "{err}");

        let good = MasterKey::generate();
        let bad = dir.path().join("bad.key");
        std::fs::write(
            &bad,
            format!(
                "# keys\n{}\n\nnot a key at all\n",
                good.to_encoded().as_str()
            ),
        )
        .unwrap();
        let err = read_key_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.key line 4"), "{err}");
        assert!(!err.contains("not a key at all"), "{err}");
        assert!(!err.contains(good.to_encoded().as_str()), "{err}");

        let empty = dir.path().join("empty.key");
        std::fs::write(&empty, "# nothing here\n\n").unwrap();
        let err = read_key_file(&empty).unwrap_err().to_string();
        assert!(err.contains("holds no master key"), "{err}");
    }
}
