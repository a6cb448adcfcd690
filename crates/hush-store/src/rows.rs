//! What both backends share: the rows they read, their conversion into the model records,
//! and the mapping of database errors onto [`StoreError`].
//!
//! Both backends use the same SQL text (see [`crate::sql`]): SQLite accepts PostgreSQL's `$N`
//! placeholders, so one statement serves both and the conformance suite checks one behaviour.

use sqlx::FromRow;

use crate::{
    ActorKind, App, AppKey, AuditEvent, AuditRecord, InstanceReport, InstanceStatus, Invite,
    InviteKind, LaunchConfig, NewVersion, Outcome, Result, Role, Session, StoreError, TokenKind,
    TokenRecord, User, VersionMeta, VersionRecord,
};

/// A database error as a [`StoreError`]: a missing row is `NotFound`, a reference to a missing
/// row (foreign key) is `NotFound`, a uniqueness violation is a `Conflict`; a database that
/// cannot be reached or written (disk full, I/O error, busy, shutting down) is `Unavailable`;
/// the rest `Other`. sqlx errors never carry bound parameters, so no secret data ends up in
/// the error.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("it already exists".into())
        }
        sqlx::Error::Database(d) if d.code().is_some_and(|c| cannot_write(&c)) => {
            StoreError::Unavailable(format!("the database cannot be written: {}", d.message()))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(format!("the database cannot be reached: {e}"))
        }
        _ => StoreError::Other(Box::new(e)),
    }
}

/// Error codes that say the database cannot take writes right now, rather than that the
/// statement is wrong: SQLite's primary result codes (the low byte of an extended code) for
/// busy, locked, read-only, I/O error, corrupt, full and cannot-open; PostgreSQL's SQLSTATE
/// classes for connection loss, transaction rollback (serialization, deadlock), insufficient
/// resources (disk full), operator intervention (shutdown) and system errors.
fn cannot_write(code: &str) -> bool {
    if let Ok(sqlite) = code.parse::<i32>() {
        return matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14);
    }
    ["08", "40", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// Whether the connection broke, or PostgreSQL said it is ending it (connection exception,
/// shutdown): a transaction committing or a statement running meanwhile may have committed,
/// or not.
pub(crate) fn outcome_unknown(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// Any failure of a write transaction as "nothing was written, because …".
pub(crate) fn unavailable(e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(_) | StoreError::CommitUnknown(_) => e,
        other => StoreError::Unavailable(format!("the database write failed: {other}")),
    }
}

/// Like [`db_err`], with a message saying what already exists.
pub(crate) fn unique_as(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        _ => db_err(e),
    }
}

pub(crate) fn corrupt(what: String) -> StoreError {
    StoreError::Other(format!("unreadable data in the database: {what}").into())
}

pub(crate) fn to_json(v: &serde_json::Value) -> String {
    v.to_string()
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{column} is not valid JSON: {e}")))
}

pub(crate) fn launch_json(launch: Option<&LaunchConfig>) -> Option<String> {
    launch.map(|l| serde_json::to_string(l).expect("LaunchConfig always serializes"))
}

/// A column holding one of an enum's names (`parse` is the enum's); another name is corrupt
/// data, said to be an unknown `what`.
fn known<T>(what: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| corrupt(format!("unknown {what} {text:?}")))
}

#[derive(FromRow)]
pub(crate) struct UserRow {
    id: i64,
    name: String,
    role: String,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User> {
        Ok(User {
            id: self.id,
            name: self.name,
            role: known("role", &self.role, Role::parse)?,
            created_at: self.created_at,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

impl CredentialsRow {
    pub(crate) fn into_pair(self) -> Result<(User, String)> {
        Ok((self.user.into_user()?, self.password_hash))
    }
}

#[derive(FromRow)]
pub(crate) struct InviteRow {
    id: i64,
    kind: String,
    role: String,
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl InviteRow {
    pub(crate) fn into_invite(self) -> Result<Invite> {
        Ok(Invite {
            id: self.id,
            kind: known("invite kind", &self.kind, InviteKind::parse)?,
            role: known("role", &self.role, Role::parse)?,
            created_by: self.created_by,
            created_by_name: self.created_by_name,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct SessionRow {
    id: i64,
    user_id: i64,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub(crate) fn into_session(self) -> Session {
        Session {
            id: self.id,
            user_id: self.user_id,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct TokenRow {
    id: i64,
    kind: String,
    name: String,
    prefix: String,
    user_id: Option<i64>,
    app_id: Option<i64>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    pub(crate) fn into_token(self) -> Result<TokenRecord> {
        Ok(TokenRecord {
            id: self.id,
            kind: known("token kind", &self.kind, TokenKind::parse)?,
            name: self.name,
            prefix: self.prefix,
            user_id: self.user_id,
            app_id: self.app_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AppRow {
    id: i64,
    name: String,
    created_at: i64,
    created_by: Option<i64>,
    wrapped_key: Vec<u8>,
    key_id: String,
    launch: Option<String>,
}

impl AppRow {
    pub(crate) fn into_app(self) -> Result<App> {
        let launch = match self.launch {
            Some(text) => Some(from_json("apps.launch", &text)?),
            None => None,
        };
        Ok(App {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
            created_by: self.created_by,
            wrapped_key: self.wrapped_key,
            key_id: self.key_id,
            launch,
            env_id: self.id,
            env: crate::PRODUCTION.into(),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AppKeyRow {
    pub(crate) id: i64,
    pub(crate) key_id: String,
    pub(crate) wrapped_key: Vec<u8>,
}

#[derive(FromRow)]
pub(crate) struct VersionMetaRow {
    app_id: i64,
    version: i64,
    author_id: Option<i64>,
    author_name: Option<String>,
    created_at: i64,
    message: Option<String>,
    summary: String,
    restored_from: Option<i64>,
}

impl VersionMetaRow {
    pub(crate) fn into_meta(self) -> Result<VersionMeta> {
        Ok(VersionMeta {
            app_id: self.app_id,
            version: self.version,
            author_id: self.author_id,
            author_name: self.author_name,
            created_at: self.created_at,
            message: self.message,
            summary: from_json("versions.summary", &self.summary)?,
            restored_from: self.restored_from,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct VersionRow {
    #[sqlx(flatten)]
    meta: VersionMetaRow,
    ciphertext: Vec<u8>,
}

impl VersionRow {
    pub(crate) fn into_record(self) -> Result<VersionRecord> {
        Ok(VersionRecord {
            meta: self.meta.into_meta()?,
            ciphertext: self.ciphertext,
        })
    }
}

/// An app with its newest version, if any (`list_apps`).
#[derive(FromRow)]
pub(crate) struct AppListRow {
    #[sqlx(flatten)]
    app: AppRow,
    v_version: Option<i64>,
    v_author_id: Option<i64>,
    v_author_name: Option<String>,
    v_created_at: Option<i64>,
    v_message: Option<String>,
    v_summary: Option<String>,
    v_restored_from: Option<i64>,
}

impl AppListRow {
    pub(crate) fn into_pair(self) -> Result<(App, Option<VersionMeta>)> {
        let app = self.app.into_app()?;
        let meta = match (self.v_version, self.v_created_at, self.v_summary) {
            (Some(version), Some(created_at), Some(summary)) => Some(VersionMeta {
                app_id: app.id,
                version,
                author_id: self.v_author_id,
                author_name: self.v_author_name,
                created_at,
                message: self.v_message,
                summary: from_json("versions.summary", &summary)?,
                restored_from: self.v_restored_from,
            }),
            _ => None,
        };
        Ok((app, meta))
    }
}

#[derive(FromRow)]
pub(crate) struct InstanceRow {
    app_id: i64,
    instance_id: String,
    hostname: String,
    pid: Option<i64>,
    applied_version: i64,
    applied: Option<String>,
    status: String,
    reported_at: i64,
}

impl InstanceRow {
    pub(crate) fn into_report(self) -> Result<InstanceReport> {
        Ok(InstanceReport {
            app_id: self.app_id,
            instance_id: self.instance_id,
            hostname: self.hostname,
            pid: self.pid,
            applied_version: self.applied_version,
            applied: self
                .applied
                .map(|text| from_json("instances.applied", &text))
                .transpose()?,
            status: known("instance status", &self.status, InstanceStatus::parse)?,
            reported_at: self.reported_at,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    actor_kind: String,
    actor_id: Option<i64>,
    actor_name: Option<String>,
    action: String,
    app_id: Option<i64>,
    app_name: Option<String>,
    ip: Option<String>,
    outcome: String,
    detail: String,
}

impl AuditRow {
    pub(crate) fn into_record(self) -> Result<AuditRecord> {
        Ok(AuditRecord {
            id: self.id,
            event: AuditEvent {
                at: self.at,
                actor_kind: known("audit actor kind", &self.actor_kind, ActorKind::parse)?,
                actor_id: self.actor_id,
                actor_name: self.actor_name,
                action: self.action,
                app_id: self.app_id,
                app_name: self.app_name,
                ip: self.ip,
                outcome: known("audit outcome", &self.outcome, Outcome::parse)?,
                detail: from_json("audit.detail", &self.detail)?,
            },
        })
    }
}

/// The audit filter as bind values: `(exact action, action prefix, limit)`.
/// An action ending in '.' is a prefix ("secrets." matches "secrets.read"); a limit of 0 or
/// less means [`DEFAULT_AUDIT_LIMIT`].
pub(crate) fn audit_action_and_limit(
    action: Option<&str>,
    limit: i64,
) -> (Option<&str>, Option<&str>, i64) {
    let (exact, prefix) = match action {
        Some(a) if a.ends_with('.') => (None, Some(a)),
        Some(a) => (Some(a), None),
        None => (None, None),
    };
    let limit = if limit <= 0 {
        DEFAULT_AUDIT_LIMIT
    } else {
        limit
    };
    (exact, prefix, limit)
}

pub(crate) const DEFAULT_AUDIT_LIMIT: i64 = 100;

pub(crate) fn check_next_version(base: i64, new: &NewVersion) -> Result<()> {
    if new.version != base + 1 {
        return Err(StoreError::Conflict(format!(
            "version {} does not follow base version {base} (it must be {})",
            new.version,
            base + 1
        )));
    }
    Ok(())
}

pub(crate) fn stale_base(base: i64, newest: Option<i64>) -> StoreError {
    StoreError::Conflict(match newest {
        Some(n) => format!("stale base version {base}: the newest version is now {n}"),
        None => format!("stale base version {base}: another change was saved first"),
    })
}

pub(crate) fn check_rewrap(app_id: i64, new: &AppKey) -> Result<()> {
    if new.app_id != app_id {
        return Err(StoreError::Other(
            format!(
                "rewrap_app_key: the new key is for app {} but app {app_id} was named",
                new.app_id
            )
            .into(),
        ));
    }
    Ok(())
}

pub(crate) fn rewrap_failed(exists: i64, app_id: i64, old_key_id: &str) -> StoreError {
    if exists == 0 {
        StoreError::NotFound
    } else {
        StoreError::Conflict(format!(
            "app {app_id}'s data key is no longer wrapped under master key {old_key_id}"
        ))
    }
}
