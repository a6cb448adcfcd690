//! Where password hashes are computed and checked: on Tokio's blocking threads, at most
//! `AT_ONCE` at a time (each Argon2 computation holds 7 MiB), with at most `WAITING` sign-ins
//! waiting for a turn — beyond that a sign-in is turned away, so a burst can neither starve the
//! server's CPU nor grow its memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

const AT_ONCE: usize = 2;
const WAITING: usize = 64;

pub struct Passwords {
    /// Checked when the user does not exist, so both answers take the same time.
    dummy_hash: Arc<str>,
    turns: Semaphore,
    waiting: AtomicUsize,
}

impl Passwords {
    /// Blocks for one hash (the dummy one): call it off the async threads.
    pub fn new() -> Passwords {
        let dummy = hush_crypto::new_token("dummy_");
        Passwords {
            dummy_hash: hush_crypto::password::hash(&dummy).into(),
            turns: Semaphore::new(AT_ONCE),
            waiting: AtomicUsize::new(0),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; try again in a moment",
            )
            .retry_after(1));
        }
        let turn = self.turns.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _turn = turn.map_err(|_| ApiError::internal())?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ApiError::internal())
    }

    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move || hush_crypto::password::hash(&password))
            .await
    }

    /// `true` only when `stored` is Some and matches; does the same work when it is None.
    pub async fn verify(&self, password: String, stored: Option<String>) -> ApiResult<bool> {
        let real = stored.is_some();
        let dummy = self.dummy_hash.clone();
        let ok = self
            .run(move || {
                let hash = stored.as_deref().unwrap_or(&dummy);
                hush_crypto::password::verify(&password, hash)
            })
            .await?;
        Ok(ok && real)
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}
