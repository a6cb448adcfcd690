//! Sign-in throttling, as OWASP advises: failures are counted per account and per address, and
//! after a few free tries each further try waits twice as long as the one before (1 s, 2 s, 4 s
//! … up to 15 minutes). An attempt takes its place *before* the password is checked, in one
//! statement on the shared database, so many requests at once, to one server or to several,
//! get no more tries than one after another; and a restart forgets no count.
//!
//! Throttling an account must not lock its owner out, so a browser that signed in to an account
//! before carries a device cookie for it: its tries are counted for that device alone, and a
//! flood of wrong passwords from elsewhere does not stop it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use hush_store::{Millis, Store, ThrottleKey, TryTaken, now_millis};

use crate::error::{ApiError, ApiResult};

/// Failures allowed before the waiting starts.
const FREE_PER_ACCOUNT: i64 = 5;
const FREE_PER_DEVICE: i64 = 5;
const FREE_PER_ADDRESS: i64 = 30;
/// Waits remembered here at most; beyond it the ended ones are forgotten.
const MAX_KNOWN_WAITS: usize = 10_000;
/// A device cookie is honoured this long after the sign-in that set it.
pub const DEVICE_COOKIE_DAYS: i64 = 90;
pub const DEVICE_COOKIE: &str = "hush_device";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    Device,
    Address,
}

impl Kind {
    fn free(self) -> i64 {
        match self {
            Kind::Account => FREE_PER_ACCOUNT,
            Kind::Device => FREE_PER_DEVICE,
            Kind::Address => FREE_PER_ADDRESS,
        }
    }
}

/// The counters live in the database, so every server counts the same tries and a restart
/// forgets none. Each key is an HMAC under a key of the master key's: the table does not say
/// who tried or from where (and an address cannot be found by trying every one).
pub struct SignInLimiter {
    store: Arc<dyn Store>,
    /// Signs device cookies (derived from the master key, so every server accepts them).
    device_key: [u8; 32],
    /// Hashes the throttle's keys.
    key_hash_key: [u8; 32],
    /// Waits this server was told of, to refuse a flood without a write each while they last.
    /// It only ever refuses, so it adds no try; at worst it refuses a little longer than the
    /// shared count would, when a try given back (by an attempt under way as the wait began)
    /// shortened that wait.
    known_waits: Mutex<HashMap<[u8; 32], Millis>>,
}

/// A place taken by [`SignInLimiter::begin`]: already counted as a failure (so a server that
/// stops mid-check loses nobody a try); say how it went, or drop it to give the try back.
pub struct Attempt<'a> {
    limiter: &'a SignInLimiter,
    /// The account's (or device's) key, then the address's.
    keys: [[u8; 32]; 2],
    settled: bool,
}

impl SignInLimiter {
    pub fn new(
        store: Arc<dyn Store>,
        device_key: [u8; 32],
        key_hash_key: [u8; 32],
    ) -> SignInLimiter {
        SignInLimiter {
            store,
            device_key,
            key_hash_key,
            known_waits: Mutex::default(),
        }
    }

    fn key(&self, kind: Kind, what: &[u8]) -> ThrottleKey {
        let label: &[u8] = match kind {
            Kind::Account => b"account\0",
            Kind::Device => b"device\0",
            Kind::Address => b"address\0",
        };
        ThrottleKey {
            hash: hush_crypto::mac(&self.key_hash_key, &[label, what].concat()),
            free: kind.free(),
        }
    }

    /// Takes a place for one sign-in attempt on the account `name_key`, from `address`, on a
    /// device that `known_device` (if any) says signed in to the account before. `429` with the
    /// wait when the account (or device) or the address must wait.
    pub async fn begin(
        &self,
        name_key: &str,
        known_device: Option<[u8; 16]>,
        address: Option<&str>,
    ) -> ApiResult<Attempt<'_>> {
        self.begin_at(now_millis(), name_key, known_device, address)
            .await
    }

    async fn begin_at(
        &self,
        now: Millis,
        name_key: &str,
        known_device: Option<[u8; 16]>,
        address: Option<&str>,
    ) -> ApiResult<Attempt<'_>> {
        let first = match known_device {
            Some(device) => (Kind::Device, self.key(Kind::Device, &device)),
            None => (Kind::Account, self.key(Kind::Account, name_key.as_bytes())),
        };
        let address = (
            Kind::Address,
            self.key(Kind::Address, address.unwrap_or("-").as_bytes()),
        );
        let keys = [first, address];
        {
            let known = self.known_waits.lock().expect("limiter lock");
            for (kind, key) in &keys {
                if let Some(until) = known.get(&key.hash).filter(|until| **until > now) {
                    return Err(refusal(*kind, until - now));
                }
            }
        }
        match self
            .store
            .take_sign_in_try(keys.iter().map(|(_, k)| *k).collect(), now)
            .await?
        {
            TryTaken::Taken => Ok(Attempt {
                limiter: self,
                keys: [first.1.hash, address.1.hash],
                settled: false,
            }),
            TryTaken::Refused { key, until } => {
                let (kind, refused) = keys[key];
                let mut known = self.known_waits.lock().expect("limiter lock");
                if known.len() >= MAX_KNOWN_WAITS {
                    known.retain(|_, until| *until > now);
                }
                if known.len() < MAX_KNOWN_WAITS {
                    known.insert(refused.hash, until);
                }
                Err(refusal(kind, until - now))
            }
        }
    }

    /// A device cookie for `user_id`, signed now.
    pub fn device_cookie(&self, user_id: i64, secure: bool) -> String {
        let issued = now_millis();
        let body = format!("v1.{user_id}.{issued}");
        let mac = hex::encode(&hush_crypto::mac(&self.device_key, body.as_bytes())[..16]);
        format!(
            "{DEVICE_COOKIE}={body}.{mac}; Path=/api/v1/auth; HttpOnly; SameSite=Strict; Max-Age={}{}",
            DEVICE_COOKIE_DAYS * 86_400,
            if secure { "; Secure" } else { "" }
        )
    }

    /// The device a cookie value names, if it is genuine, unexpired and for `user_id`.
    pub fn known_device(&self, cookie: &str, user_id: i64) -> Option<[u8; 16]> {
        let (body, mac) = cookie.rsplit_once('.')?;
        let mut parts = body.split('.');
        let (Some("v1"), Some(user), Some(issued), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let expected = hush_crypto::mac(&self.device_key, body.as_bytes());
        let given = hex::decode(mac).ok()?;
        if !hush_crypto::ct_eq(&given, &expected[..16]) {
            return None;
        }
        let issued: Millis = issued.parse().ok()?;
        let fresh = now_millis() - issued < DEVICE_COOKIE_DAYS * 86_400_000;
        (user.parse::<i64>().ok()? == user_id && fresh).then(|| {
            let mut id = [0u8; 16];
            id.copy_from_slice(&expected[..16]);
            id
        })
    }
}

impl Attempt<'_> {
    /// The password was wrong: the try stays counted (the next waits once the free ones are used).
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// Signed in: the account's (or device's) count starts over; the address's does not (one
    /// valid account of an attacker's own must not clear the way for guessing others), it
    /// only gets this try back.
    pub async fn succeeded(mut self) -> ApiResult<()> {
        self.settled = true;
        let [first, address] = self.keys;
        self.limiter
            .known_waits
            .lock()
            .expect("limiter lock")
            .remove(&first);
        self.limiter
            .store
            .end_sign_in_try(vec![first], vec![address])
            .await?;
        Ok(())
    }
}

/// Neither failed nor succeeded (the request ended before the check did, or the check
/// failed): the try is given back. Whoever sent it learned nothing.
impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, keys) = (self.limiter.store.clone(), self.keys.to_vec());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.end_sign_in_try(Vec::new(), keys).await {
                    tracing::warn!(error = %e, "cannot give back a sign-in try");
                }
            });
        }
    }
}

fn refusal(kind: Kind, wait: Millis) -> ApiError {
    let seconds = (wait.max(1000) as u64).div_ceil(1000);
    let whom = match kind {
        Kind::Account => "this account; a browser that signed in to it before can still sign in",
        Kind::Device => "this account from this browser",
        Kind::Address => "sign-ins from your address",
    };
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many failed sign-ins for {whom}; try again in {seconds} seconds"),
    )
    .retry_after(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn new_limiter(device_key: [u8; 32]) -> (SignInLimiter, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hush.db").display());
        let store = hush_store::connect(&url).await.unwrap();
        (SignInLimiter::new(store, device_key, [5; 32]), dir)
    }

    #[tokio::test]
    async fn concurrent_attempts_take_places_before_the_check() {
        let (limiter, _dir) = new_limiter([7; 32]).await;
        let tries = (0..40).map(|_| limiter.begin("vera", None, Some("10.0.0.1")));
        let taken: Vec<_> = futures::future::join_all(tries)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(
            taken.len(),
            FREE_PER_ACCOUNT as usize,
            "only the free tries at once"
        );
        for attempt in taken {
            attempt.failed();
        }
        let err = limiter
            .begin("vera", None, Some("10.0.0.2"))
            .await
            .err()
            .unwrap();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(1));
    }

    #[tokio::test]
    async fn a_known_device_is_not_locked_out_by_others() {
        let (limiter, _dir) = new_limiter([9; 32]).await;
        let cookie = limiter.device_cookie(42, false);
        let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        let device = limiter.known_device(value, 42).expect("genuine");
        assert!(
            limiter.known_device(value, 43).is_none(),
            "for another account"
        );
        assert!(
            limiter
                .known_device(&value.replace("v1.42", "v1.43"), 43)
                .is_none(),
            "forged"
        );
        let (other_key, _other_dir) = new_limiter([1; 32]).await;
        assert!(other_key.known_device(value, 42).is_none(), "another key");
        for _ in 0..FREE_PER_ACCOUNT {
            limiter
                .begin("vera", None, Some("10.0.0.66"))
                .await
                .unwrap()
                .failed();
        }
        assert!(limiter.begin("vera", None, Some("10.0.0.7")).await.is_err());
        let attempt = limiter
            .begin("vera", Some(device), Some("10.0.0.7"))
            .await
            .unwrap();
        attempt.succeeded().await.unwrap();
    }

    #[tokio::test]
    async fn waits_double_after_the_free_tries() {
        let (limiter, _dir) = new_limiter([3; 32]).await;
        let device = Some([1; 16]);
        let mut now = now_millis();
        let mut waits = Vec::new();
        let mut attempt = limiter.begin_at(now, "x", device, None).await.unwrap();
        for _ in 0..FREE_PER_DEVICE + 3 {
            attempt.failed();
            attempt = match limiter.begin_at(now, "x", device, None).await {
                Ok(next) => {
                    waits.push(0);
                    next
                }
                Err(refused) => {
                    let wait = refused.retry_after.unwrap() as Millis * 1000;
                    waits.push(wait);
                    assert!(
                        limiter
                            .begin_at(now + wait - 1, "x", device, None)
                            .await
                            .is_err(),
                        "not before the wait is over"
                    );
                    now += wait;
                    limiter.begin_at(now, "x", device, None).await.unwrap()
                }
            };
        }
        assert_eq!(waits, vec![0, 0, 0, 0, 1000, 2000, 4000, 8000]);
    }

    #[tokio::test]
    async fn a_try_given_back_or_a_success_elsewhere_does_not_count() {
        let (limiter, _dir) = new_limiter([4; 32]).await;
        for _ in 0..FREE_PER_ACCOUNT * 3 {
            // Ended without an answer: given back (in a task; wait for it).
            drop(limiter.begin("vera", None, Some("10.0.0.9")).await.unwrap());
            limiter
                .store
                .end_sign_in_try(Vec::new(), Vec::new())
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
        // The account's own successes start it over; each success gives the address its try back.
        for _ in 0..FREE_PER_ADDRESS * 2 {
            let attempt = limiter.begin("olga", None, Some("10.0.0.9")).await.unwrap();
            attempt.succeeded().await.unwrap();
        }
        for _ in 0..FREE_PER_ACCOUNT {
            limiter
                .begin("vera", None, Some("10.0.0.9"))
                .await
                .unwrap()
                .failed();
        }
        assert!(limiter.begin("vera", None, Some("10.0.0.9")).await.is_err());
    }
}
