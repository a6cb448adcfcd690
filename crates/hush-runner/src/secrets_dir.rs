//! The private secrets directory (0700) and its `secrets.toml` (0600), replaced atomically.
//! Dropping [`SecretsDir`] removes both.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{RunError, SECRETS_FILE_NAME};

pub(crate) struct SecretsDir {
    file: PathBuf,
    /// Its `Drop` removes the directory and everything in it, also on error paths.
    dir: tempfile::TempDir,
}

impl SecretsDir {
    /// Creates a fresh directory under `parent` (default: the system temp dir) and writes `text`.
    pub(crate) fn create(parent: Option<&Path>, text: &str) -> Result<SecretsDir, RunError> {
        let parent = match parent {
            Some(p) => p.to_path_buf(),
            None => {
                let tmp = std::env::temp_dir();
                if has_whitespace(&tmp) {
                    PathBuf::from("/tmp")
                } else {
                    tmp
                }
            }
        };
        if has_whitespace(&parent) {
            return Err(RunError::WhitespaceInPath { path: parent });
        }
        let dir = tempfile::Builder::new()
            .prefix("hush-")
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(|source| RunError::SecretsFile {
                path: parent.clone(),
                source,
            })?;
        // The mode given at creation is filtered by the umask; make it exact.
        std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700)).map_err(|source| {
            RunError::SecretsFile {
                path: dir.path().to_path_buf(),
                source,
            }
        })?;
        let file = dir.path().join(SECRETS_FILE_NAME);
        let this = SecretsDir { file, dir };
        this.replace(text).map_err(|source| RunError::SecretsFile {
            path: this.file.clone(),
            source,
        })?;
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
            .tempfile_in(self.dir.path())?;
        tmp.as_file()
            .set_permissions(Permissions::from_mode(0o600))?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.file).map_err(|e| e.error)?;
        Ok(())
    }
}

fn has_whitespace(path: &Path) -> bool {
    path.to_string_lossy().chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

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
