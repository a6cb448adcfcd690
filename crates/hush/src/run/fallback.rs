//! The local fallback copy `hush run` starts from when the server cannot be reached.
//!
//! After every successful fetch, `hush run` writes the version it got to
//! `$XDG_CACHE_HOME/hush/fallback/<server hash>-<app>-<token hash>.bin` (default `~/.cache/...`;
//! folder 0700, file 0600, replaced atomically). Each token has its own copy: two `hush run`s
//! of one app with different tokens never overwrite (or, with `--fallback-max-age 0`, delete)
//! each other's. The file never holds plain text:
//!
//! ```text
//! "HUSHFB01" | version (i64, big-endian) | fetched-at (Unix ms, i64 BE) | sealed TOML
//! ```
//!
//! The TOML is sealed with XChaCha20-Poly1305 ([`hush_crypto::DataKey`]) under a key derived from
//! the app token (`DataKey::derive("hush fallback v1", token)`). The associated data binds the
//! header and where the copy came from (server URL, app), so an edited version or timestamp, or
//! a copy moved to another app's name, does not open. Whoever holds the token can read the
//! copy, as they could ask the server; whoever only gets the cache folder (a backup, a shared
//! disk) cannot. A new token has no copy until its first successful fetch.
//!
//! The copy is used only at start-up, only when the server cannot be reached (connection
//! failure or a 5xx answer, never a refused token), and only while younger than
//! `--fallback-max-age` (default 24 h). `--fallback-max-age 0` neither writes nor reads one.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use hush_crypto::DataKey;
use hush_store::now_millis;

const MAGIC: &[u8; 8] = b"HUSHFB01";
const HEADER_LEN: usize = MAGIC.len() + 16;
const KEY_CONTEXT: &str = "hush fallback v1";

/// Where one app's copy lives and the key that seals it.
pub struct Fallback {
    path: PathBuf,
    key: DataKey,
    server: String,
    app: String,
    /// The newest version this process has written: a slower write of an older one is skipped.
    written: Mutex<i64>,
}

/// A copy that opened.
pub struct Copy {
    pub version: i64,
    pub toml: String,
    /// How long ago the server handed this version out.
    pub age: Duration,
}

/// Why no copy could be used.
pub enum Unusable {
    Missing(PathBuf),
    /// Damaged, or sealed under another token.
    Unreadable(PathBuf),
    TooOld {
        age: Duration,
        max_age: Duration,
    },
}

impl Fallback {
    pub fn new(server: &str, app: &str, token: &str) -> Fallback {
        let server = server.trim_end_matches('/').to_string();
        let server_hash = hush_crypto::token_hash(&server);
        // Domain-separated, so the name shows nothing of the hash the server looks tokens up by.
        let token_hash = hush_crypto::token_hash(&format!("{KEY_CONTEXT} file name\0{token}"));
        let name = format!(
            "{}-{}-{}.bin",
            hex16(&server_hash[..8]),
            app.chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
                    _ => '_',
                })
                .collect::<String>(),
            hex16(&token_hash[..8]),
        );
        Fallback {
            path: cache_dir().join("hush").join("fallback").join(name),
            key: DataKey::derive(KEY_CONTEXT, token.as_bytes()),
            server,
            app: app.to_string(),
            written: Mutex::new(i64::MIN),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn aad(&self, version: i64, fetched_at: i64) -> Vec<u8> {
        let mut aad = Vec::new();
        aad.extend_from_slice(KEY_CONTEXT.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.server.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.app.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&version.to_be_bytes());
        aad.extend_from_slice(&fetched_at.to_be_bytes());
        aad
    }

    /// Seals `toml` (version `version`, fetched now) and replaces the copy atomically, unless
    /// this process already wrote a newer version.
    pub fn write(&self, version: i64, toml: &str) -> anyhow::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if version < *written {
            return Ok(());
        }
        self.write_at(version, toml, now_millis())?;
        *written = version;
        Ok(())
    }

    fn write_at(&self, version: i64, toml: &str, fetched_at: i64) -> anyhow::Result<()> {
        let sealed = self
            .key
            .seal(toml.as_bytes(), &self.aad(version, fetched_at));
        let mut bytes = Vec::with_capacity(HEADER_LEN + sealed.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&fetched_at.to_be_bytes());
        bytes.extend_from_slice(&sealed);

        let dir = self.path.parent().expect("the fallback file has a folder");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;
        crate::private_file::write(&self.path, &bytes, crate::private_file::Existing::Replace)
    }

    /// The copy, if there is one that opens and is younger than `max_age`.
    pub fn read(&self, max_age: Duration) -> Result<Copy, Unusable> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unusable::Missing(self.path.clone()));
            }
            Err(_) => return Err(Unusable::Unreadable(self.path.clone())),
        };
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Unusable::Unreadable(self.path.clone()));
        }
        let number = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = number(MAGIC.len());
        let fetched_at = number(MAGIC.len() + 8);
        let opened = self
            .key
            .open(&bytes[HEADER_LEN..], &self.aad(version, fetched_at))
            .map_err(|_| Unusable::Unreadable(self.path.clone()))?;
        let toml = String::from_utf8(opened.to_vec())
            .map_err(|_| Unusable::Unreadable(self.path.clone()))?;
        // A timestamp from the future (clock changes) counts as fresh.
        let age = Duration::from_millis(now_millis().saturating_sub(fetched_at).max(0) as u64);
        if age > max_age {
            return Err(Unusable::TooOld { age, max_age });
        }
        Ok(Copy { version, toml, age })
    }

    /// Removes this token's copy (`--fallback-max-age 0`).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| std::env::temp_dir().join("hush-cache"))
}

fn hex16(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallback(dir: &std::path::Path, token: &str) -> Fallback {
        let mut f = Fallback::new("http://127.0.0.1:8200/", "demo", token);
        f.path = dir.join("demo.bin");
        f
    }

    #[test]
    fn round_trip_without_plain_text_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let f = fallback(dir.path(), "hush_app_one");
        f.write(7, "API_KEY = \"s3cret-value\"\n").unwrap();
        let raw = std::fs::read(f.path()).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"s3cret-value"));
        let mode = std::fs::metadata(f.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let copy = f.read(Duration::from_secs(60)).ok().unwrap();
        assert_eq!(copy.version, 7);
        assert_eq!(copy.toml, "API_KEY = \"s3cret-value\"\n");
    }

    #[test]
    fn each_token_has_its_own_copy() {
        let one = Fallback::new("http://127.0.0.1:8200/", "demo", "hush_app_one");
        let two = Fallback::new("http://127.0.0.1:8200", "demo", "hush_app_two");
        let again = Fallback::new("http://127.0.0.1:8200", "demo", "hush_app_one");
        assert_ne!(one.path(), two.path());
        assert_eq!(one.path(), again.path());
        let name = one
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(!name.contains("hush_app_one"), "{name}");
        let lookup_hash = hex16(&hush_crypto::token_hash("hush_app_one")[..8]);
        assert!(!name.contains(&lookup_hash), "{name}");
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let f = fallback(dir.path(), "hush_app_one");
        f.write(8, "A = 8\n").unwrap();
        f.write(7, "A = 7\n").unwrap();
        assert_eq!(f.read(Duration::from_secs(60)).ok().unwrap().version, 8);
    }

    #[test]
    fn another_token_an_edited_header_or_an_old_copy_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = fallback(dir.path(), "hush_app_one");
        f.write(7, "A = 1\n").unwrap();
        let other = fallback(dir.path(), "hush_app_two");
        assert!(matches!(
            other.read(Duration::from_secs(60)),
            Err(Unusable::Unreadable(_))
        ));
        let mut raw = std::fs::read(f.path()).unwrap();
        raw[MAGIC.len() + 7] = 9; // version 7 -> 9
        std::fs::write(f.path(), &raw).unwrap();
        assert!(matches!(
            f.read(Duration::from_secs(60)),
            Err(Unusable::Unreadable(_))
        ));
        let two_hours_ago = now_millis() - 2 * 3_600_000;
        f.write_at(7, "A = 1\n", two_hours_ago).unwrap();
        assert!(matches!(
            f.read(Duration::from_secs(3_600)),
            Err(Unusable::TooOld { .. })
        ));
        assert!(f.read(Duration::from_secs(3 * 3_600)).is_ok());
        f.remove();
        assert!(matches!(
            f.read(Duration::from_secs(60)),
            Err(Unusable::Missing(_))
        ));
    }
}
