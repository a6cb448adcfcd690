//! Where secrets are sealed and opened on the server: the master keyring, each app's data key,
//! and a cache of every app's newest version (the hot read path never touches the database).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use hush_crypto::{CryptoError, DataKey, MasterKey, version_aad};
use hush_store::{App, AppKey, Store, VersionMeta, VersionRecord};
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};

/// The master keys this server knows. The first wraps new data keys; the others only unwrap
/// (they are kept while a rotation is under way). Read from a file (one base64 key per line,
/// newest first) or given directly.
pub struct Keyring {
    keys: RwLock<Vec<Arc<MasterKey>>>,
    file: Option<PathBuf>,
}

impl Keyring {
    pub fn from_keys(keys: Vec<MasterKey>) -> Keyring {
        assert!(!keys.is_empty(), "a keyring needs at least one master key");
        Keyring {
            keys: RwLock::new(keys.into_iter().map(Arc::new).collect()),
            file: None,
        }
    }

    pub fn from_file(path: &Path) -> Result<Keyring, CryptoError> {
        let keys = read_key_file(path)?;
        Ok(Keyring {
            keys: RwLock::new(keys),
            file: Some(path.to_path_buf()),
        })
    }

    pub fn primary(&self) -> Arc<MasterKey> {
        self.keys.read().expect("keyring lock")[0].clone()
    }

    fn find(&self, key_id: &str) -> Option<Arc<MasterKey>> {
        let keys = self.keys.read().expect("keyring lock");
        keys.iter().find(|k| k.key_id() == key_id).cloned()
    }

    /// Finds the key with `key_id`, re-reading the key file once if it is not known yet
    /// (another process may have rotated the master key while this one keeps serving).
    fn find_or_reload(&self, key_id: &str) -> Option<Arc<MasterKey>> {
        if let Some(key) = self.find(key_id) {
            return Some(key);
        }
        let path = self.file.as_ref()?;
        match read_key_file(path) {
            Ok(keys) => *self.keys.write().expect("keyring lock") = keys,
            Err(err) => tracing::warn!(error = %err, "could not re-read the master key file"),
        }
        self.find(key_id)
    }
}

/// Reads a key file: one base64 master key per line, the newest (primary) first; `#` comments allowed.
pub fn read_key_file(path: &Path) -> Result<Vec<Arc<MasterKey>>, CryptoError> {
    let text = std::fs::read_to_string(path).map_err(|source| CryptoError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let keys: Vec<Arc<MasterKey>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| MasterKey::from_encoded(l).map(Arc::new))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(CryptoError::BadKey(format!(
            "{} holds no master key",
            path.display()
        )));
    }
    Ok(keys)
}

/// The newest version of one app, opened, with its API response body ready to send.
pub struct Latest {
    pub version: i64,
    pub meta: VersionMeta,
    pub text: Zeroizing<String>,
    /// JSON body of `GET /api/v1/apps/{app}/secrets`, serialized once per version.
    pub body: Bytes,
}

pub struct Vault {
    pub keyring: Keyring,
    data_keys: Mutex<HashMap<i64, Arc<DataKey>>>,
    latest: RwLock<HashMap<i64, Arc<Latest>>>,
}

impl Vault {
    pub fn new(keyring: Keyring) -> Vault {
        Vault {
            keyring,
            data_keys: Mutex::default(),
            latest: RwLock::default(),
        }
    }

    /// A fresh data key for a new app, wrapped by the primary master key.
    pub fn new_app_key(&self, app_id: i64) -> (DataKey, AppKey) {
        let master = self.keyring.primary();
        let dk = DataKey::generate();
        let key = AppKey {
            app_id,
            key_id: master.key_id(),
            wrapped_key: master.wrap(&dk, app_id),
        };
        (dk, key)
    }

    fn data_key(&self, app: &App) -> ApiResult<Arc<DataKey>> {
        if let Some(dk) = self.data_keys.lock().expect("data key lock").get(&app.id) {
            return Ok(dk.clone());
        }
        let master = self.keyring.find_or_reload(&app.key_id).ok_or_else(|| {
            tracing::error!(app_id = app.id, key_id = %app.key_id, "no master key with this id is configured");
            ApiError::internal()
        })?;
        let dk = Arc::new(master.unwrap(&app.wrapped_key, app.id)?);
        self.data_keys
            .lock()
            .expect("data key lock")
            .insert(app.id, dk.clone());
        Ok(dk)
    }

    pub fn seal(&self, app: &App, version: i64, text: &str) -> ApiResult<Vec<u8>> {
        Ok(self
            .data_key(app)?
            .seal(text.as_bytes(), &version_aad(app.id, version)))
    }

    pub fn open(&self, app: &App, record: &VersionRecord) -> ApiResult<Zeroizing<String>> {
        let plain = self.data_key(app)?.open(
            &record.ciphertext,
            &version_aad(app.id, record.meta.version),
        )?;
        let text = std::str::from_utf8(&plain).map_err(|_| {
            tracing::error!(
                app_id = app.id,
                version = record.meta.version,
                "stored secrets are not UTF-8"
            );
            ApiError::internal()
        })?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// The app's newest version, from the cache or else the store. `None` when it has none yet.
    pub async fn latest(&self, store: &dyn Store, app: &App) -> ApiResult<Option<Arc<Latest>>> {
        if let Some(latest) = self.latest.read().expect("cache lock").get(&app.id) {
            return Ok(Some(latest.clone()));
        }
        let Some(record) = store.latest_version(app.id).await? else {
            return Ok(None);
        };
        let latest = Arc::new(self.make_latest(app, record)?);
        let mut cache = self.latest.write().expect("cache lock");
        // A newer version may have been cached meanwhile; never step back.
        let entry = cache.entry(app.id).or_insert_with(|| latest.clone());
        if entry.version < latest.version {
            *entry = latest;
        }
        Ok(Some(entry.clone()))
    }

    /// Remembers a version this server has just written (saves the read after a save).
    pub fn remember(&self, app: &App, record: VersionRecord) -> ApiResult<()> {
        let latest = Arc::new(self.make_latest(app, record)?);
        let mut cache = self.latest.write().expect("cache lock");
        match cache.get(&app.id) {
            Some(cached) if cached.version >= latest.version => {}
            _ => {
                cache.insert(app.id, latest);
            }
        }
        Ok(())
    }

    fn make_latest(&self, app: &App, record: VersionRecord) -> ApiResult<Latest> {
        let text = self.open(app, &record)?;
        let body = serde_json::to_vec(&serde_json::json!({
            "app": app.name,
            "version": record.meta.version,
            "created_at": record.meta.created_at,
            "toml": text.as_str(),
        }))
        .map_err(|_| ApiError::internal())?;
        Ok(Latest {
            version: record.meta.version,
            meta: record.meta,
            text,
            body: Bytes::from(body),
        })
    }

    /// Drops what is cached about an app whose newest version is now at least `version`.
    pub fn invalidate(&self, app_id: i64, version: i64) {
        let mut cache = self.latest.write().expect("cache lock");
        if cache.get(&app_id).is_some_and(|c| c.version < version) {
            cache.remove(&app_id);
        }
    }

    /// Drops every cached version (they are read again from the store when next asked for).
    pub fn forget_all(&self) {
        self.latest.write().expect("cache lock").clear();
    }

    pub fn forget_app(&self, app_id: i64) {
        self.latest.write().expect("cache lock").remove(&app_id);
        self.data_keys
            .lock()
            .expect("data key lock")
            .remove(&app_id);
    }
}

pub struct RotationReport {
    pub new_key_id: String,
    pub rewrapped: usize,
}

/// Puts a new master key first in the key file and re-wraps every app's data key under it,
/// while servers keep serving: they hold opened data keys, and re-read the file when they meet
/// a key id they do not know. Old keys stay in the file until [`drop_unused_keys`].
pub async fn rotate_key_file(store: &dyn Store, path: &Path) -> anyhow::Result<RotationReport> {
    let old = read_key_file(path)?;
    let new = MasterKey::generate();
    let new_key_id = new.key_id();
    let mut lines = vec![new.to_encoded()];
    lines.extend(old.iter().map(|k| k.to_encoded()));
    write_key_file(path, &lines)?;
    // A server that has not re-read the file may still create an app under an old key: go
    // round until none is left.
    let mut rewrapped = 0;
    loop {
        let pending: Vec<AppKey> = store
            .app_keys()
            .await?
            .into_iter()
            .filter(|k| k.key_id != new_key_id)
            .collect();
        if pending.is_empty() {
            break;
        }
        for key in pending {
            let master = old
                .iter()
                .find(|m| m.key_id() == key.key_id)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "app {} is wrapped by key {}, which is not in {}",
                        key.app_id,
                        key.key_id,
                        path.display()
                    )
                })?;
            let dk = master.unwrap(&key.wrapped_key, key.app_id)?;
            let next = AppKey {
                app_id: key.app_id,
                key_id: new_key_id.clone(),
                wrapped_key: new.wrap(&dk, key.app_id),
            };
            match store.rewrap_app_key(key.app_id, &key.key_id, next).await {
                Ok(()) => rewrapped += 1,
                // Deleted meanwhile, or re-wrapped by a concurrent rotation: nothing to do.
                Err(hush_store::StoreError::Conflict(_) | hush_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(RotationReport {
        new_key_id,
        rewrapped,
    })
}

/// Removes from the key file every key but the newest that no app's data key is wrapped by.
pub async fn drop_unused_keys(store: &dyn Store, path: &Path) -> anyhow::Result<usize> {
    let keys = read_key_file(path)?;
    let used: std::collections::HashSet<String> = store
        .app_keys()
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let keep: Vec<Zeroizing<String>> = keys
        .iter()
        .enumerate()
        .filter(|(i, k)| *i == 0 || used.contains(&k.key_id()))
        .map(|(_, k)| k.to_encoded())
        .collect();
    write_key_file(path, &keep)?;
    Ok(keys.len() - keep.len())
}

/// Replaces the key file atomically: a fresh 0600 file (never a symlink or a leftover with
/// looser permissions) renamed over the old one.
fn write_key_file(path: &Path, lines: &[Zeroizing<String>]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".master.key.")
        .tempfile_in(dir)?;
    let keys: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
    let text = Zeroizing::new(format!(
        "# hush master keys, newest first\n{}\n",
        keys.join("\n")
    ));
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map(|_| ()).map_err(|e| e.error)
}
