//! Where secrets are sealed and opened on the server: the master keyring, each app's data key,
//! and a cache of every app's newest version (the hot read path never touches the database).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use hush_crypto::{CryptoError, DataKey, MasterKey, read_key_file, version_aad};
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
            keys: RwLock::new(keys.into_iter().map(Arc::new).collect()),
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
            Ok(keys) => {
                *self.keys.write().expect("keyring lock") = keys.into_iter().map(Arc::new).collect()
            }
            Err(err) => tracing::warn!(error = %err, "could not re-read the master key file"),
        }
        self.find(key_id)
    }
}

/// The newest version of one app environment, opened, with its API response body ready to send.
/// Cached by environment id; the sealing binds the environment id and version in (production's
/// id is the app's, so versions from before environments open as they always did).
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
            .seal(text.as_bytes(), &version_aad(app.env_id, version)))
    }

    pub fn open(&self, app: &App, record: &VersionRecord) -> ApiResult<Zeroizing<String>> {
        let plain = self.data_key(app)?.open(
            &record.ciphertext,
            &version_aad(app.env_id, record.meta.version),
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
        if let Some(latest) = self.cached(app.env_id) {
            return Ok(Some(latest));
        }
        let Some(record) = store.latest_version(app.env_id).await? else {
            return Ok(None);
        };
        let latest = Arc::new(self.make_latest(app, record)?);
        let mut cache = self.latest.write().expect("cache lock");
        // A newer version may have been cached meanwhile; never step back.
        let entry = cache.entry(app.env_id).or_insert_with(|| latest.clone());
        if entry.version < latest.version {
            *entry = latest;
        }
        Ok(Some(entry.clone()))
    }

    /// The newest version of environment `env_id` if it is cached.
    pub fn cached(&self, env_id: i64) -> Option<Arc<Latest>> {
        self.latest
            .read()
            .expect("cache lock")
            .get(&env_id)
            .cloned()
    }

    /// Remembers a version this server has just written (saves the read after a save).
    pub fn remember(&self, app: &App, record: VersionRecord) -> ApiResult<()> {
        let latest = Arc::new(self.make_latest(app, record)?);
        let mut cache = self.latest.write().expect("cache lock");
        match cache.get(&app.env_id) {
            Some(cached) if cached.version >= latest.version => {}
            _ => {
                cache.insert(app.env_id, latest);
            }
        }
        Ok(())
    }

    fn make_latest(&self, app: &App, record: VersionRecord) -> ApiResult<Latest> {
        let text = self.open(app, &record)?;
        let body = serde_json::to_vec(&serde_json::json!({
            "app": app.name,
            "env": app.env,
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
