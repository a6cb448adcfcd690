//! Master-key rotation over a live database: the key file gains a new primary key, every app's
//! data key is re-wrapped under it, and old keys leave the file once nothing uses them.

use std::collections::HashSet;
use std::path::Path;

use hush_crypto::{MasterKey, read_key_file, write_key_file};
use hush_store::{AppKey, Store, StoreError};

use super::progress;

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
    let keys: Vec<&MasterKey> = std::iter::once(&new).chain(&old).collect();
    write_key_file(path, &keys)?;
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
        let bar = progress::bar(pending.len() as u64, "apps");
        bar.set_message("re-wrapping data keys");
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
                Err(StoreError::Conflict(_) | StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    Ok(RotationReport {
        new_key_id,
        rewrapped,
    })
}

/// Removes from the key file every key but the newest that no app's data key is wrapped by.
pub async fn drop_unused_keys(store: &dyn Store, path: &Path) -> anyhow::Result<usize> {
    let keys = read_key_file(path)?;
    let used: HashSet<String> = store
        .app_keys()
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let keep: Vec<&MasterKey> = keys
        .iter()
        .enumerate()
        .filter(|(i, k)| *i == 0 || used.contains(&k.key_id()))
        .map(|(_, k)| k)
        .collect();
    write_key_file(path, &keep)?;
    Ok(keys.len() - keep.len())
}
