//! hush's storage: one [`Store`] trait, and its SQLite and PostgreSQL implementations.
//! The store only ever sees ciphertext for secret values; encryption happens before it (hush-crypto).
//!
//! Crate map: `sql` holds the statements, `rows` turns rows into the `model` records, and
//! [`SqlStore`] implements [`Store`] once over both backends, one module per concern (`users`,
//! `tokens`, `apps`, `instances`, `audit`, `identity`, `environments`, `sso`; versions and
//! operations in `store`). `writer` runs every write (grouping concurrent ones into one
//! transaction), `dump` copies a whole database; [`sqlite`] and [`postgres`] open their
//! database and add only what their backend alone does.
//!
//! Every change that the audit log records takes its [`AuditEvent`] and writes it in the same
//! transaction: a change is either there with its audit row, or absent with neither.

use std::sync::Arc;

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

mod apps;
mod audit;
mod dump;
mod environments;
mod identity;
mod instances;
mod model;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
mod sso;
mod store;
mod throttle;
mod tokens;
mod users;
mod writer;

pub use apps::AppStore;
pub use audit::AuditStore;
pub use dump::DumpRow;
pub use environments::*;
pub use identity::*;
pub use instances::{InstanceStore, MAX_INSTANCES};
pub use model::*;
pub use sso::{PendingSsoSignIn, SsoIdentity, SsoStore};
pub use store::SqlStore;
pub use throttle::*;
pub use tokens::TokenStore;
pub use users::UserStore;

/// Milliseconds since the Unix epoch; every timestamp in the store is one of these, given by the caller.
pub type Millis = i64;

/// Now, as [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or an expected state did not hold: a name already taken, a stale base version.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The URL given to [`connect`] cannot be used, or names no hush database.
    #[error("{0}")]
    Config(String),
    /// The database cannot be written or reached right now (disk full, I/O error, server
    /// away). A write that fails this way was rolled back: nothing of it was saved.
    #[error("{0}")]
    Unavailable(String),
    /// The connection broke while the database was committing: the change may or may not be
    /// there. Only PostgreSQL can answer this way.
    #[error("{0}")]
    CommitUnknown(String),
    #[error("storage error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Something other servers on the same database must learn about. Sent by the store in the
/// transaction of the change itself (PostgreSQL NOTIFY), so it is sent if and only if the
/// change is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreEvent {
    NewVersion {
        app_id: i64,
        version: i64,
    },
    AppDeleted {
        app_id: i64,
    },
    TokenRevoked {
        token_id: i64,
    },
    SessionsRevoked {
        user_id: i64,
    },
    /// An app's launch settings changed: servers that cached the app read it again.
    LaunchChanged {
        app_id: i64,
    },
    /// One session ended (signed out, or found expired).
    SessionEnded {
        session_id: i64,
    },
    /// A member lost access to one app (their role on it became `none`).
    AppAccessRevoked {
        user_id: i64,
        app_id: i64,
    },
    /// A shared document an environment includes, or its includes, changed: its `shared_rev`
    /// is now at least this.
    SharedChanged {
        env_id: i64,
        shared_rev: i64,
    },
}

#[async_trait::async_trait]
pub trait Store:
    UserStore
    + TokenStore
    + AppStore
    + InstanceStore
    + AuditStore
    + IdentityStore
    + EnvironmentStore
    + SsoStore
    + ThrottleStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    // ---- secrets versions (immutable) ----
    /// Inserts `new` as version `base + 1` if and only if `base` is still the app's newest version
    /// (0 when it has none); otherwise `Conflict`. Concurrent callers with the same base: exactly
    /// one wins. The version, its audit event and [`StoreEvent::NewVersion`] are one transaction;
    /// concurrent saves share one commit.
    async fn create_version(
        &self,
        app_id: i64,
        base: i64,
        new: NewVersion,
        audit: AuditEvent,
    ) -> Result<VersionMeta>;
    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>>;
    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord>;
    /// Newest first; `before` (exclusive) pages back.
    async fn list_versions(
        &self,
        app_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VersionMeta>>;

    // ---- operations ----
    /// Deletes expired sessions, used or expired links, and reports of long-gone copies.
    async fn sweep(&self, policy: SweepPolicy) -> Result<SweepReport>;
    /// Whether the last write succeeded (and why not).
    fn write_health(&self) -> WriteHealth;
    /// A small real write, to learn whether writes work again after a failure.
    async fn probe_write(&self, now: Millis) -> Result<()>;
    /// Every row of every table, read from one consistent snapshot, in an order [`Store::import`]
    /// accepts. Ciphertext and hashes are copied as they are.
    async fn export(&self) -> Result<BoxStream<'static, Result<DumpRow>>>;
    /// Writes an [`Store::export`] into this store, which must hold no data yet (`Conflict`
    /// otherwise), in one transaction; returns how many rows were written.
    async fn import(&self, rows: BoxStream<'static, Result<DumpRow>>) -> Result<u64>;

    /// Events from every server on the same database, where there can be several (PostgreSQL).
    fn events(&self) -> Option<&dyn EventBus>;
}

/// Hearing what other servers on the same database changed.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync {
    /// Events committed by any server (this one included). An `Err` item means events may have
    /// been missed (the listening connection was lost and is being re-established): re-read
    /// what is cached.
    async fn subscribe(&self) -> Result<BoxStream<'static, Result<StoreEvent>>>;
}

/// Whether opening a database may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Create the database (SQLite file, or the schema in an empty PostgreSQL database).
    CreateIfMissing,
    /// Refuse a database that does not exist or holds no hush schema yet.
    Existing,
}

/// Opens the store a URL names, creating it when missing, and runs its migrations:
/// `sqlite://PATH` or `postgres://…` / `postgresql://…`. Any other scheme is an error that
/// lists the accepted ones.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    open(url, Open::CreateIfMissing).await
}

/// [`connect`], saying whether a missing database may be created.
pub async fn open(url: &str, mode: Open) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::open(url, mode).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::open(url, mode).await?))
    } else {
        let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
        Err(StoreError::Config(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}
