//! hush's storage: one [`Store`] trait, and its SQLite and PostgreSQL implementations.
//! The store only ever sees ciphertext for secret values; encryption happens before it (hush-crypto).
//!
//! Crate map: `sql` holds the statements, `rows` turns rows into the `model` records, and
//! `shared` implements [`Store`] once over both; [`sqlite`] and [`postgres`] open their
//! database and add only what their backend alone does.

use std::sync::Arc;

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

mod model;
pub mod postgres;
mod rows;
mod shared;
mod sql;
pub mod sqlite;

pub use model::*;

/// Milliseconds since the Unix epoch; every timestamp in the store is one of these, given by the caller.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or an expected state did not hold: a name already taken, a stale base version.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The URL given to [`connect`] cannot be used.
    #[error("{0}")]
    Config(String),
    #[error("storage error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Something other servers on the same database must learn about (PostgreSQL LISTEN/NOTIFY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreEvent {
    NewVersion { app_id: i64, version: i64 },
    AppDeleted { app_id: i64 },
    TokenRevoked { token_id: i64 },
    SessionsRevoked { user_id: i64 },
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    // ---- users ----
    async fn user_count(&self) -> Result<i64>;
    /// `Conflict` when the name is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    async fn get_user(&self, id: i64) -> Result<User>;
    /// The user and their password hash (PHC string), or `NotFound`.
    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)>;
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn set_user_role(&self, id: i64, role: Role) -> Result<()>;
    async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<()>;
    /// Also deletes the user's sessions and personal tokens.
    async fn delete_user(&self, id: i64) -> Result<()>;

    // ---- one-time links: first-run setup and invitations ----
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite>;
    /// Atomically marks the invite used and returns it; `NotFound` when unknown, used or expired at `now`.
    async fn consume_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite>;
    /// Looks an invite up without using it (the setup page shows the role before the form is sent).
    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite>;

    // ---- web sessions ----
    async fn create_session(&self, session: NewSession) -> Result<Session>;
    async fn find_session(&self, token_hash: &[u8]) -> Result<Session>;
    async fn touch_session(&self, id: i64, at: Millis) -> Result<()>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()>;
    async fn delete_user_sessions(&self, user_id: i64) -> Result<()>;

    // ---- tokens (personal access tokens and app tokens); only hashes are stored ----
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord>;
    /// `NotFound` when no token has that hash (revoked and expired ones are still returned: the caller decides).
    async fn find_token(&self, token_hash: &[u8]) -> Result<TokenRecord>;
    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: i64, at: Millis) -> Result<()>;
    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()>;

    // ---- apps ----
    /// `Conflict` when the name is taken.
    async fn create_app(&self, app: NewApp) -> Result<App>;
    async fn get_app(&self, id: i64) -> Result<App>;
    async fn find_app(&self, name: &str) -> Result<App>;
    /// Every app with its newest version's metadata, ordered by name.
    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>>;
    /// Deletes the app, its versions, its tokens and its instance reports.
    async fn delete_app(&self, id: i64) -> Result<()>;
    async fn set_app_launch(&self, id: i64, launch: Option<LaunchConfig>) -> Result<()>;

    // ---- secrets versions (immutable) ----
    /// Inserts `new` as version `base + 1` if and only if `base` is still the app's newest version
    /// (0 when it has none); otherwise `Conflict`. Concurrent callers with the same base: exactly one wins.
    /// On PostgreSQL the commit also notifies every listening server ([`StoreEvent::NewVersion`]).
    async fn create_version(&self, app_id: i64, base: i64, new: NewVersion) -> Result<VersionMeta>;
    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>>;
    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord>;
    /// Newest first; `before` (exclusive) pages back.
    async fn list_versions(
        &self,
        app_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VersionMeta>>;

    // ---- master-key rotation ----
    async fn app_keys(&self) -> Result<Vec<AppKey>>;
    /// Replaces the wrapped key only if it is still wrapped under `old_key_id`; else `Conflict`.
    async fn rewrap_app_key(&self, app_id: i64, old_key_id: &str, new: AppKey) -> Result<()>;

    // ---- running copies of an app ----
    async fn report_instance(&self, report: InstanceReport) -> Result<()>;
    /// Instances that reported at or after `since`, newest report first.
    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>>;

    // ---- audit log (append-only) ----
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<()>;
    async fn query_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>>;

    // ---- cross-server events ----
    /// Sends `event` to every server on the same database (PostgreSQL); a no-op on SQLite,
    /// where one process is the only server.
    async fn publish(&self, event: StoreEvent) -> Result<()>;
    /// Events published by any server (including this one), or `None` when the backend has no
    /// other servers to hear from (SQLite).
    async fn subscribe(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>>;

    // ---- operations ----
    /// Writes a consistent copy of the whole database to `path` (SQLite `VACUUM INTO`);
    /// `Config` error on PostgreSQL, whose backups are pg_dump's job.
    async fn backup_to(&self, path: &std::path::Path) -> Result<()>;
}

/// Opens the store a URL names, running its migrations: `sqlite://PATH` (created when missing)
/// or `postgres://…` / `postgresql://…`. Any other scheme is an error that lists the accepted ones.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
        Err(StoreError::Config(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}
