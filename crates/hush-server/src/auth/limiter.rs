//! Sign-in throttling, as OWASP advises: failures are counted per account and per address, and
//! after a few free tries each further try waits twice as long as the one before (1 s, 2 s, 4 s
//! … up to 15 minutes). An attempt takes its place *before* the password is checked, so many
//! requests at once get no more tries than one after another.
//!
//! Throttling an account must not lock its owner out, so a browser that signed in to an account
//! before carries a device cookie for it: its tries are counted for that device alone, and a
//! flood of wrong passwords from elsewhere does not stop it.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use hush_store::{Millis, now_millis};

use crate::error::{ApiError, ApiResult};

/// Failures allowed before the waiting starts.
const FREE_PER_ACCOUNT: u32 = 5;
const FREE_PER_DEVICE: u32 = 5;
const FREE_PER_ADDRESS: u32 = 30;
/// The longest wait, and how long a failure is remembered.
const MAX_WAIT_MS: Millis = 15 * 60 * 1000;
/// Counters kept at most; beyond it the quietest are forgotten.
const MAX_COUNTERS: usize = 10_000;
/// A device cookie is honoured this long after the sign-in that set it.
pub const DEVICE_COOKIE_DAYS: i64 = 90;
pub const DEVICE_COOKIE: &str = "hush_device";

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Device([u8; 16]),
    Address(String),
}

impl Key {
    fn free(&self) -> u32 {
        match self {
            Key::Account(_) => FREE_PER_ACCOUNT,
            Key::Device(_) => FREE_PER_DEVICE,
            Key::Address(_) => FREE_PER_ADDRESS,
        }
    }
}

#[derive(Default)]
struct Counter {
    failures: u32,
    in_flight: u32,
    blocked_until: Millis,
    last_failure: Millis,
}

impl Counter {
    /// How many attempts may be under way at once now: the free tries left, or one.
    fn slots(&self, free: u32) -> u32 {
        free.saturating_sub(self.failures).max(1)
    }
}

pub struct SignInLimiter {
    counters: Mutex<HashMap<Key, Counter>>,
    /// Signs device cookies (derived from the master key, so every server accepts them).
    device_key: [u8; 32],
}

/// A place taken by [`SignInLimiter::begin`]; say how it went, or drop it (counted as neither).
pub struct Attempt<'a> {
    limiter: &'a SignInLimiter,
    keys: Vec<Key>,
}

impl SignInLimiter {
    pub fn new(device_key: [u8; 32]) -> SignInLimiter {
        SignInLimiter {
            counters: Mutex::default(),
            device_key,
        }
    }

    /// Takes a place for one sign-in attempt on the account `name_key`, from `address`, on a
    /// device that `device_cookie` (if any) says signed in to `user_id` before. `429` with the
    /// wait when the account (or device) or the address must wait.
    pub fn begin(
        &self,
        name_key: &str,
        known_device: Option<[u8; 16]>,
        address: Option<&str>,
    ) -> ApiResult<Attempt<'_>> {
        let now = now_millis();
        let first = match known_device {
            Some(device) => Key::Device(device),
            None => Key::Account(name_key.to_string()),
        };
        let keys = vec![first, Key::Address(address.unwrap_or("-").to_string())];
        let mut counters = self.counters.lock().expect("limiter lock");
        if counters.len() > MAX_COUNTERS {
            counters.retain(|_, c| c.in_flight > 0 || now - c.last_failure < MAX_WAIT_MS);
        }
        for key in &keys {
            let counter = counters.entry(key.clone()).or_default();
            if counter.in_flight == 0 && now - counter.last_failure >= MAX_WAIT_MS {
                *counter = Counter::default();
            }
            let wait = counter.blocked_until - now;
            if wait > 0 || counter.in_flight >= counter.slots(key.free()) {
                let seconds = (wait.max(1000) as u64).div_ceil(1000);
                return Err(refusal(key, seconds));
            }
        }
        for key in &keys {
            counters.get_mut(key).expect("entry made above").in_flight += 1;
        }
        Ok(Attempt {
            limiter: self,
            keys,
        })
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
    /// The password was wrong: count it, and make the next try wait once the free ones are used.
    pub fn failed(self) {
        let now = now_millis();
        let mut counters = self.limiter.counters.lock().expect("limiter lock");
        for key in &self.keys {
            if let Some(counter) = counters.get_mut(key) {
                counter.failures += 1;
                counter.last_failure = now;
                let free = key.free();
                if counter.failures >= free {
                    let doublings = (counter.failures - free).min(20);
                    counter.blocked_until = now + (1000_i64 << doublings).min(MAX_WAIT_MS);
                }
            }
        }
    }

    /// Signed in: the account's (or device's) count starts over; the address's does not (one
    /// valid account of an attacker's own must not clear the way for guessing others).
    pub fn succeeded(self) {
        let mut counters = self.limiter.counters.lock().expect("limiter lock");
        counters.remove(&self.keys[0]);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut counters = self.limiter.counters.lock().expect("limiter lock");
        for key in &self.keys {
            if let Some(counter) = counters.get_mut(key) {
                counter.in_flight = counter.in_flight.saturating_sub(1);
            }
        }
    }
}

fn refusal(key: &Key, seconds: u64) -> ApiError {
    let whom = match key {
        Key::Account(_) => "this account; a browser that signed in to it before can still sign in",
        Key::Device(_) => "this account from this browser",
        Key::Address(_) => "sign-ins from your address",
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

    #[test]
    fn concurrent_attempts_take_places_before_the_check() {
        let limiter = SignInLimiter::new([7; 32]);
        let taken: Vec<_> = (0..40)
            .filter_map(|_| limiter.begin("vera", None, Some("10.0.0.1")).ok())
            .collect();
        assert_eq!(
            taken.len(),
            FREE_PER_ACCOUNT as usize,
            "only the free tries at once"
        );
        for attempt in taken {
            attempt.failed();
        }
        let err = limiter.begin("vera", None, Some("10.0.0.2")).err().unwrap();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(1));
    }

    #[test]
    fn a_known_device_is_not_locked_out_by_others() {
        let limiter = SignInLimiter::new([9; 32]);
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
        assert!(
            SignInLimiter::new([1; 32])
                .known_device(value, 42)
                .is_none(),
            "another key"
        );
        for _ in 0..FREE_PER_ACCOUNT {
            limiter
                .begin("vera", None, Some("10.0.0.66"))
                .unwrap()
                .failed();
        }
        assert!(limiter.begin("vera", None, Some("10.0.0.7")).is_err());
        let attempt = limiter
            .begin("vera", Some(device), Some("10.0.0.7"))
            .unwrap();
        attempt.succeeded();
    }

    #[test]
    fn waits_double_after_the_free_tries() {
        let limiter = SignInLimiter::new([3; 32]);
        let mut waits = Vec::new();
        for _ in 0..FREE_PER_DEVICE + 3 {
            limiter.begin("x", Some([1; 16]), None).unwrap().failed();
            let mut counters = limiter.counters.lock().unwrap();
            let device = counters.get_mut(&Key::Device([1; 16])).unwrap();
            let wait = device.blocked_until - device.last_failure;
            waits.push(wait.max(0));
            device.blocked_until = 0; // pretend the wait is over
        }
        assert_eq!(waits, vec![0, 0, 0, 0, 1000, 2000, 4000, 8000]);
    }
}
