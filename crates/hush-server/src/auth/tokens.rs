//! Tokens seen recently, by hash (the hot read path and every save with a personal token never
//! ask the database who a token is), and when tokens were last used (written in batches).

use std::collections::HashMap;
use std::sync::Mutex;

use hush_store::{Millis, TokenRecord};

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Cached>,
    last_used: Mutex<HashMap<i64, Millis>>,
}

#[derive(Default)]
struct Cached {
    by_hash: HashMap<[u8; 32], TokenRecord>,
    /// Bumped by every revocation, under the same lock as the map: a record read from the
    /// database before a revocation can never be cached after it.
    generation: u64,
}

impl TokenCache {
    pub fn get(&self, hash: &[u8; 32]) -> Option<TokenRecord> {
        self.inner
            .lock()
            .expect("token cache lock")
            .by_hash
            .get(hash)
            .cloned()
    }

    /// What [`TokenCache::insert_if_current`] compares with; read it before the database lookup.
    pub fn generation(&self) -> u64 {
        self.inner.lock().expect("token cache lock").generation
    }

    /// Caches `record`, read from the database after [`TokenCache::generation`] said
    /// `generation`, unless a revocation happened since (then it may be stale).
    pub fn insert_if_current(&self, hash: [u8; 32], record: TokenRecord, generation: u64) -> bool {
        let mut inner = self.inner.lock().expect("token cache lock");
        if inner.generation != generation {
            return false;
        }
        inner.by_hash.insert(hash, record);
        true
    }

    fn drop_where(&self, gone: impl Fn(&TokenRecord) -> bool) {
        let mut inner = self.inner.lock().expect("token cache lock");
        inner.generation += 1;
        inner.by_hash.retain(|_, t| !gone(t));
    }

    pub fn forget(&self, token_id: i64) {
        self.drop_where(|t| t.id == token_id);
    }

    pub fn forget_all(&self) {
        self.drop_where(|_| true);
    }

    pub fn forget_app(&self, app_id: i64) {
        self.drop_where(|t| t.app_id == Some(app_id));
    }

    /// A member signed out everywhere or removed: their personal tokens are revoked or deleted
    /// without an event per token, so their cached records go here.
    pub fn forget_user(&self, user_id: i64) {
        self.drop_where(|t| t.user_id == Some(user_id));
    }

    pub fn used(&self, token_id: i64, at: Millis) {
        self.last_used
            .lock()
            .expect("token cache lock")
            .insert(token_id, at);
    }

    pub fn take_last_used(&self) -> Vec<(i64, Millis)> {
        self.last_used
            .lock()
            .expect("token cache lock")
            .drain()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_store::TokenKind;

    fn record(id: i64) -> TokenRecord {
        TokenRecord {
            id,
            kind: TokenKind::App,
            name: "prod".into(),
            prefix: "hush_app_x".into(),
            user_id: None,
            app_id: Some(1),
            created_at: 0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        }
    }

    /// The interleaving that used to re-cache a revoked token: read from the database, the
    /// token is revoked, then the stale record is cached.
    #[test]
    fn a_record_read_before_a_revocation_is_not_cached_after_it() {
        let cache = TokenCache::default();
        let generation = cache.generation();
        let stale = record(7); // read from the database: not revoked yet
        cache.forget(7); // the revocation lands meanwhile
        assert!(!cache.insert_if_current([1; 32], stale, generation));
        assert!(cache.get(&[1; 32]).is_none());

        let generation = cache.generation();
        assert!(cache.insert_if_current([1; 32], record(7), generation));
        cache.forget(7);
        assert!(
            cache.get(&[1; 32]).is_none(),
            "revocation drops a cached token"
        );
    }

    #[test]
    fn signing_a_member_out_everywhere_drops_their_personal_tokens() {
        let cache = TokenCache::default();
        let personal = TokenRecord {
            kind: TokenKind::Personal,
            user_id: Some(3),
            app_id: None,
            ..record(8)
        };
        let generation = cache.generation();
        assert!(cache.insert_if_current([2; 32], personal, generation));
        cache.forget_user(4);
        assert!(
            cache.get(&[2; 32]).is_some(),
            "another member's tokens stay"
        );
        cache.forget_user(3);
        assert!(
            cache.get(&[2; 32]).is_none(),
            "signing a member out everywhere drops their tokens"
        );
    }
}
