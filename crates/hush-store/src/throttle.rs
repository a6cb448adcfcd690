//! Sign-in throttling counters, shared by every server on the database. A try is taken by one
//! statement before the password is checked, so concurrent attempts (to one server or to
//! several) get no more tries than sequential ones. Keys arrive hashed: the table never says
//! who tried, or from where. [`ThrottleStore`] is part of every [`crate::Store`].

use sqlx::AnyConnection;

use crate::store::{Fetch, Run, Scalar, SqlStore};
use crate::{Millis, Result};

/// The longest wait, and how long a try is remembered.
pub const SIGN_IN_MAX_WAIT: Millis = 15 * 60 * 1000;

/// How long a counter that has taken `tries` makes the next try wait after the last one: nothing
/// for the `free` tries, then 1 s, doubling each time, up to [`SIGN_IN_MAX_WAIT`].
/// `TAKE_TRY` says the same in SQL.
pub fn sign_in_wait(tries: i64, free: i64) -> Millis {
    match tries - free {
        over if over < 0 => 0,
        over if over >= 10 => SIGN_IN_MAX_WAIT,
        over => (1000_i64 << over).min(SIGN_IN_MAX_WAIT),
    }
}

/// One counter an attempt counts against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ThrottleKey {
    /// A keyed hash of what is counted (account, device or address).
    pub hash: [u8; 32],
    /// Tries before the waiting starts.
    pub free: i64,
}

/// What [`ThrottleStore::take_sign_in_try`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryTaken {
    /// A try was taken on every key.
    Taken,
    /// None was taken: `keys[key]` must wait until `until`.
    Refused { key: usize, until: Millis },
}

#[async_trait::async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Takes one try on every key, or on none (when one of them must wait). A counter whose
    /// last try is older than [`SIGN_IN_MAX_WAIT`] starts over.
    async fn take_sign_in_try(&self, keys: Vec<ThrottleKey>, now: Millis) -> Result<TryTaken>;
    /// Ends an attempt that was not a failure: `clear` start over, `give_back` get their try
    /// back (the attempt ended without an answer, or succeeded on another key).
    async fn end_sign_in_try(&self, clear: Vec<[u8; 32]>, give_back: Vec<[u8; 32]>) -> Result<()>;
    /// Forgets counters whose last try is before `before`; how many.
    async fn forget_sign_in_tries(&self, before: Millis) -> Result<u64>;
}

/// Takes a try unless the counter must wait; no row back when it must. `$1` key, `$2` now,
/// `$3` free tries, `$4` start over before, `$5` the longest wait. The wait is
/// [`sign_in_wait`]: `1000 << 10` is past the longest wait, so from 10 on it is the longest.
const TAKE_TRY: &str = "INSERT INTO sign_in_throttle (key_hash, tries, last_try) VALUES ($1, 1, $2) \
     ON CONFLICT (key_hash) DO UPDATE SET \
     tries = CASE WHEN sign_in_throttle.last_try < $4 THEN 1 ELSE sign_in_throttle.tries + 1 END, \
     last_try = $2 \
     WHERE sign_in_throttle.last_try < $4 \
     OR sign_in_throttle.last_try + CASE \
     WHEN sign_in_throttle.tries < $3 THEN 0 \
     WHEN sign_in_throttle.tries - $3 >= 10 THEN $5 \
     ELSE CAST(1000 AS BIGINT) << CAST(sign_in_throttle.tries - $3 AS INTEGER) END <= $2 \
     RETURNING tries";
const READ_COUNTER: &str = "SELECT tries, last_try FROM sign_in_throttle WHERE key_hash = $1";
const GIVE_BACK: &str =
    "UPDATE sign_in_throttle SET tries = tries - 1 WHERE key_hash = $1 AND tries > 0";
const CLEAR: &str = "DELETE FROM sign_in_throttle WHERE key_hash = $1";
const FORGET: &str = "DELETE FROM sign_in_throttle WHERE last_try < $1";
/// Undoes the tries taken on earlier keys when a later one must wait.
const SAVEPOINT: &str = "SAVEPOINT hush_sign_in_try";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT hush_sign_in_try";
const RELEASE: &str = "RELEASE SAVEPOINT hush_sign_in_try";

/// Until when the counter under `key` makes the next try wait (`now` when it need not: it
/// changed since the refusal).
async fn waits_until(conn: &mut AnyConnection, key: ThrottleKey, now: Millis) -> Result<Millis> {
    let row = sqlx::query_as::<_, (i64, i64)>(READ_COUNTER)
        .bind(key.hash.to_vec())
        .maybe(&mut *conn, Ok)
        .await?;
    Ok(row.map_or(now, |(tries, last_try)| {
        (last_try + sign_in_wait(tries, key.free)).max(now)
    }))
}

#[async_trait::async_trait]
impl ThrottleStore for SqlStore {
    async fn take_sign_in_try(&self, keys: Vec<ThrottleKey>, now: Millis) -> Result<TryTaken> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(SAVEPOINT).run(conn).await?;
                for (index, key) in keys.iter().enumerate() {
                    let taken: Option<i64> = sqlx::query_scalar(TAKE_TRY)
                        .bind(key.hash.to_vec())
                        .bind(now)
                        .bind(key.free)
                        .bind(now - SIGN_IN_MAX_WAIT)
                        .bind(SIGN_IN_MAX_WAIT)
                        .maybe_value(&mut *conn)
                        .await?;
                    if taken.is_none() {
                        sqlx::query(ROLLBACK_TO).run(conn).await?;
                        sqlx::query(RELEASE).run(conn).await?;
                        let until = waits_until(conn, *key, now).await?;
                        return Ok(TryTaken::Refused { key: index, until });
                    }
                }
                sqlx::query(RELEASE).run(conn).await?;
                Ok(TryTaken::Taken)
            })
        })
        .await
    }

    async fn end_sign_in_try(&self, clear: Vec<[u8; 32]>, give_back: Vec<[u8; 32]>) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                for key in &clear {
                    sqlx::query(CLEAR).bind(key.to_vec()).run(conn).await?;
                }
                for key in &give_back {
                    sqlx::query(GIVE_BACK).bind(key.to_vec()).run(conn).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn forget_sign_in_tries(&self, before: Millis) -> Result<u64> {
        self.write(move |conn| Box::pin(sqlx::query(FORGET).bind(before).run(conn)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_tries_up_to_the_longest() {
        let waits: Vec<Millis> = (1..=8).map(|tries| sign_in_wait(tries, 5)).collect();
        assert_eq!(waits, vec![0, 0, 0, 0, 1000, 2000, 4000, 8000]);
        assert_eq!(sign_in_wait(5 + 9, 5), 512_000);
        assert_eq!(sign_in_wait(5 + 10, 5), SIGN_IN_MAX_WAIT);
        assert_eq!(sign_in_wait(5 + 60, 5), SIGN_IN_MAX_WAIT);
    }
}
