//! The watch hub: one `tokio::sync::watch` channel per app holding its newest version number.
//! A watcher costs one receiver; a burst of saves reaches a slow watcher as its newest version only.

use std::collections::HashMap;
use std::sync::RwLock;

use tokio::sync::watch;

/// Whose watch streams must end now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    Token(i64),
    /// A member removed, or signed out everywhere.
    User(i64),
    /// A member lost access to one app.
    AppAccess {
        user_id: i64,
        app_id: i64,
    },
}

pub struct Hub {
    apps: RwLock<HashMap<i64, watch::Sender<i64>>>,
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

    /// A receiver for `app_id`, starting from `current` if the hub has not heard of the app yet.
    pub fn subscribe(&self, app_id: i64, current: i64) -> watch::Receiver<i64> {
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

    /// Announces `version` to every watcher of the app; older or repeated versions are ignored
    /// (the same save can arrive both locally and through PostgreSQL).
    pub fn publish(&self, app_id: i64, version: i64) {
        if let Some(tx) = self.apps.read().expect("hub lock").get(&app_id) {
            tx.send_if_modified(|v| bump(v, version));
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

fn bump(current: &mut i64, version: i64) -> bool {
    if version > *current {
        *current = version;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watchers_see_only_newer_versions() {
        let hub = Hub::default();
        let mut rx = hub.subscribe(1, 3);
        assert_eq!(*rx.borrow_and_update(), 3);
        hub.publish(1, 2);
        assert!(!rx.has_changed().unwrap());
        hub.publish(1, 5);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 5);
        hub.publish(2, 9); // another app: nobody listens, nothing breaks
        assert_eq!(hub.watchers(), 1);
        hub.close(1);
        assert!(
            rx.changed().await.is_err(),
            "closing the app ends the stream"
        );
    }
}
