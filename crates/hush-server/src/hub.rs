//! The watch hub: one `tokio::sync::watch` channel per app environment holding its newest
//! [`Rev`]: its own newest version and how often its included shared documents changed. A
//! watcher costs one receiver; a burst of saves reaches a slow watcher as its newest state only.

use std::collections::HashMap;
use std::sync::RwLock;

use tokio::sync::watch;

/// Whose watch streams must end now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    Token(i64),
    /// A member removed, or signed out everywhere.
    User(i64),
    /// One panel session ended.
    Session(i64),
    /// A member lost access to one app.
    AppAccess {
        user_id: i64,
        app_id: i64,
    },
}

/// Where an environment is: both parts only grow, so their sum (the effective revision, what
/// watch streams announce) does too. Without includes `shared` stays 0 and the revision is the
/// version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rev {
    pub version: i64,
    pub shared: i64,
}

impl Rev {
    pub fn total(self) -> i64 {
        self.version + self.shared
    }
}

pub struct Hub {
    apps: RwLock<HashMap<i64, watch::Sender<Rev>>>,
    revoked: tokio::sync::broadcast::Sender<Revoked>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            apps: RwLock::default(),
            revoked: tokio::sync::broadcast::Sender::new(64),
        }
    }
}

impl Hub {
    /// Ends the watch streams opened with a revoked token or by a removed member.
    pub fn revoke(&self, who: Revoked) {
        let _ = self.revoked.send(who);
    }

    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Revoked> {
        self.revoked.subscribe()
    }

    /// A receiver for environment `app_id`, starting from `current` if the hub has not heard
    /// of it yet.
    pub fn subscribe(&self, app_id: i64, current: Rev) -> watch::Receiver<Rev> {
        if let Some(tx) = self.apps.read().expect("hub lock").get(&app_id) {
            tx.send_if_modified(|v| bump(v, current));
            return tx.subscribe();
        }
        let mut apps = self.apps.write().expect("hub lock");
        let tx = apps
            .entry(app_id)
            .or_insert_with(|| watch::channel(current).0);
        tx.send_if_modified(|v| bump(v, current));
        tx.subscribe()
    }

    /// Announces `version` to every watcher of the environment; older or repeated versions are
    /// ignored (the same save can arrive both locally and through PostgreSQL).
    pub fn publish(&self, app_id: i64, version: i64) {
        if let Some(tx) = self.apps.read().expect("hub lock").get(&app_id) {
            tx.send_if_modified(|v| bump(v, Rev { version, shared: 0 }));
        }
    }

    /// Announces that a shared document the environment includes (or its includes) changed.
    pub fn publish_shared(&self, env_id: i64, shared: i64) {
        if let Some(tx) = self.apps.read().expect("hub lock").get(&env_id) {
            tx.send_if_modified(|v| bump(v, Rev { version: 0, shared }));
        }
    }

    /// Ends every watch stream of a deleted app.
    pub fn close(&self, app_id: i64) {
        self.apps.write().expect("hub lock").remove(&app_id);
    }

    pub fn watchers(&self) -> usize {
        self.apps
            .read()
            .expect("hub lock")
            .values()
            .map(|tx| tx.receiver_count())
            .sum()
    }
}

/// Raises each part of `current` to `seen`'s where that is newer; true when anything changed.
fn bump(current: &mut Rev, seen: Rev) -> bool {
    let before = *current;
    current.version = current.version.max(seen.version);
    current.shared = current.shared.max(seen.shared);
    *current != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_see_only_newer_versions() {
        let hub = Hub::default();
        let mut rx = hub.subscribe(
            1,
            Rev {
                version: 3,
                shared: 0,
            },
        );
        assert_eq!(rx.borrow_and_update().total(), 3);
        hub.publish(1, 2);
        assert!(!rx.has_changed().unwrap());
        hub.publish(1, 5);
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().total(), 5);
        hub.publish_shared(1, 2);
        hub.publish_shared(1, 1);
        rx.changed().await.unwrap();
        assert_eq!(
            *rx.borrow_and_update(),
            Rev {
                version: 5,
                shared: 2
            },
            "each part only grows"
        );
        hub.publish(2, 9); // another app: nobody listens, nothing breaks
        assert_eq!(hub.watchers(), 1);
        hub.close(1);
        assert!(
            rx.changed().await.is_err(),
            "closing the app ends the stream"
        );
    }
}
