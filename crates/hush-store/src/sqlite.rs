//! SQLite backend: one file, one server process. WAL journal, a pool of readers and a single
//! writer connection (so writes never wait on each other's locks inside this process).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::rows::{
    self, check_next_version, check_rewrap, db_err, rewrap_failed, stale_base, unique_as,
};
use crate::sql;
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Readers for a small (2-core) server; SQLite in WAL mode lets them run beside the writer.
const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    read: SqlitePool,
    /// Exactly one connection: SQLite has one writer at a time anyway.
    write: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) the database `sqlite://PATH` names and runs its migrations.
    /// A new database file is created readable by its owner only (mode 0600), and an existing
    /// one is set to 0600, along with its `-wal` and `-shm` files (a warning when that fails).
    /// `sqlite::memory:` is refused: it would lose everything at exit.
    pub async fn connect(url: &str) -> Result<SqliteStore> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Config(
                "an in-memory SQLite database would lose every secret at exit: use sqlite://PATH"
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("cannot use the SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_owned();
        create_private_file(&path).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the database file {}: {e}",
                path.display()
            ))
        })?;

        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(&path, e))?;
        MIGRATOR
            .run(&write)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(|e| open_err(&path, e))?;

        // A file hush created is 0600 already; one that existed is made so if we may (it may
        // belong to another user who shares it deliberately: then only warn).
        for file in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
            if let Err(e) = make_private(&file) {
                tracing::warn!(
                    file = %file.display(),
                    error = %e,
                    "cannot make the database file readable by its owner only (mode 0600)"
                );
            }
        }
        Ok(SqliteStore { read, write, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, checkpointing the WAL into the database file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

fn open_err(path: &Path, e: sqlx::Error) -> StoreError {
    StoreError::Config(format!(
        "cannot open the SQLite database {}: {e}",
        path.display()
    ))
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` empty with mode 0600 unless it exists, so the database is never readable by
/// others, not even between its creation and a later chmod.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets mode 0600 on `path` if it exists.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

fn affected_one(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    // ---- users ----

    async fn user_count(&self) -> Result<i64> {
        sqlx::query_scalar(sql::USER_COUNT)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_USER)
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(user.created_at)
            .fetch_one(&self.write)
            .await
            .map_err(unique_as(|| {
                format!("a user named {:?} already exists", user.name)
            }))?;
        Ok(User {
            id,
            name: user.name,
            role: user.role,
            created_at: user.created_at,
        })
    }

    async fn get_user(&self, id: i64) -> Result<User> {
        sqlx::query_as::<_, rows::UserRow>(sql::GET_USER)
            .bind(id)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_user()
    }

    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)> {
        sqlx::query_as::<_, rows::CredentialsRow>(sql::USER_CREDENTIALS)
            .bind(name)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_pair()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query_as::<_, rows::UserRow>(sql::LIST_USERS)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::UserRow::into_user)
            .collect()
    }

    async fn set_user_role(&self, id: i64, role: Role) -> Result<()> {
        let done = sqlx::query(sql::SET_USER_ROLE)
            .bind(id)
            .bind(role.as_str())
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<()> {
        let done = sqlx::query(sql::SET_USER_PASSWORD)
            .bind(id)
            .bind(password_hash)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(db_err)?;
        for statement in [sql::DELETE_USER_PERSONAL_TOKENS, sql::DELETE_USER_SESSIONS] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let done = sqlx::query(sql::DELETE_USER)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db_err)
    }

    // ---- one-time links ----

    async fn create_invite(&self, invite: NewInvite) -> Result<Invite> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_INVITE)
            .bind(&invite.token_hash)
            .bind(rows::invite_kind_str(invite.kind))
            .bind(invite.role.as_str())
            .bind(invite.created_by)
            .bind(invite.created_at)
            .bind(invite.expires_at)
            .fetch_one(&self.write)
            .await
            .map_err(unique_as(|| {
                "an invite with this token already exists".into()
            }))?;
        Ok(Invite {
            id,
            kind: invite.kind,
            role: invite.role,
            created_by: invite.created_by,
            created_at: invite.created_at,
            expires_at: invite.expires_at,
        })
    }

    async fn consume_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        sqlx::query_as::<_, rows::InviteRow>(sql::CONSUME_INVITE)
            .bind(token_hash)
            .bind(now)
            .fetch_one(&self.write)
            .await
            .map_err(db_err)?
            .into_invite()
    }

    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        sqlx::query_as::<_, rows::InviteRow>(sql::FIND_INVITE)
            .bind(token_hash)
            .bind(now)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_invite()
    }

    // ---- web sessions ----

    async fn create_session(&self, session: NewSession) -> Result<Session> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_SESSION)
            .bind(&session.token_hash)
            .bind(session.user_id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .fetch_one(&self.write)
            .await
            .map_err(unique_as(|| {
                "a session with this token already exists".into()
            }))?;
        Ok(Session {
            id,
            user_id: session.user_id,
            created_at: session.created_at,
            last_seen_at: session.created_at,
            expires_at: session.expires_at,
        })
    }

    async fn find_session(&self, token_hash: &[u8]) -> Result<Session> {
        Ok(sqlx::query_as::<_, rows::SessionRow>(sql::FIND_SESSION)
            .bind(token_hash)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_session())
    }

    async fn touch_session(&self, id: i64, at: Millis) -> Result<()> {
        let done = sqlx::query(sql::TOUCH_SESSION)
            .bind(id)
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(token_hash)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<()> {
        sqlx::query(sql::DELETE_USER_SESSIONS)
            .bind(user_id)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // ---- tokens ----

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_TOKEN)
            .bind(rows::token_kind_str(token.kind))
            .bind(&token.name)
            .bind(&token.token_hash)
            .bind(&token.prefix)
            .bind(token.user_id)
            .bind(token.app_id)
            .bind(token.created_at)
            .bind(token.expires_at)
            .fetch_one(&self.write)
            .await
            .map_err(unique_as(|| {
                "a token with this value already exists".into()
            }))?;
        Ok(TokenRecord {
            id,
            kind: token.kind,
            name: token.name,
            prefix: token.prefix,
            user_id: token.user_id,
            app_id: token.app_id,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn find_token(&self, token_hash: &[u8]) -> Result<TokenRecord> {
        sqlx::query_as::<_, rows::TokenRow>(sql::FIND_TOKEN)
            .bind(token_hash)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_token()
    }

    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, rows::TokenRow>(sql::LIST_TOKENS)
            .bind(filter.user_id)
            .bind(filter.app_id)
            .bind(filter.kind.map(rows::token_kind_str))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::TokenRow::into_token)
            .collect()
    }

    async fn revoke_token(&self, id: i64, at: Millis) -> Result<()> {
        let done = sqlx::query(sql::REVOKE_TOKEN)
            .bind(id)
            .bind(at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await.map_err(db_err)?;
        for &(id, at) in used {
            sqlx::query(sql::TOUCH_TOKEN)
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    // ---- apps ----

    /// `Conflict` when the name, or the caller-chosen id, is taken.
    async fn create_app(&self, app: NewApp) -> Result<App> {
        let inserted = sqlx::query(sql::INSERT_APP)
            .bind(app.id)
            .bind(&app.name)
            .bind(app.created_at)
            .bind(app.created_by)
            .bind(&app.wrapped_key)
            .bind(&app.key_id)
            .bind(rows::launch_json(app.launch.as_ref()))
            .execute(&self.write)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if rows::is_unique_violation(&e) => {
                let name_taken: i64 = sqlx::query_scalar(sql::APP_NAME_TAKEN)
                    .bind(&app.name)
                    .fetch_one(&self.write)
                    .await
                    .map_err(db_err)?;
                return Err(rows::app_conflict(name_taken > 0, &app));
            }
            Err(e) => return Err(db_err(e)),
        }
        Ok(App {
            id: app.id,
            name: app.name,
            created_at: app.created_at,
            created_by: app.created_by,
            wrapped_key: app.wrapped_key,
            key_id: app.key_id,
            launch: app.launch,
        })
    }

    async fn get_app(&self, id: i64) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::GET_APP)
            .bind(id)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn find_app(&self, name: &str) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::FIND_APP)
            .bind(name)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        sqlx::query_as::<_, rows::AppListRow>(sql::LIST_APPS)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AppListRow::into_pair)
            .collect()
    }

    async fn delete_app(&self, id: i64) -> Result<()> {
        let done = sqlx::query(sql::DELETE_APP)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn set_app_launch(&self, id: i64, launch: Option<LaunchConfig>) -> Result<()> {
        let done = sqlx::query(sql::SET_APP_LAUNCH)
            .bind(id)
            .bind(rows::launch_json(launch.as_ref()))
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    // ---- secrets versions ----

    /// `Conflict` when `base` is stale or `new.version` is not `base + 1`; `NotFound` when the
    /// app does not exist. The single writer connection serializes concurrent callers; the
    /// statement's own check and the primary key would hold even without it.
    async fn create_version(&self, app_id: i64, base: i64, new: NewVersion) -> Result<VersionMeta> {
        check_next_version(base, &new)?;
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let inserted = sqlx::query(sql::INSERT_VERSION)
            .bind(app_id)
            .bind(new.version)
            .bind(new.author_id)
            .bind(new.created_at)
            .bind(&new.message)
            .bind(&new.ciphertext)
            .bind(rows::to_json(&new.summary))
            .bind(new.restored_from)
            .bind(base)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
                    .bind(app_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if exists == 0 {
                    return Err(StoreError::NotFound);
                }
                let newest: i64 = sqlx::query_scalar(sql::NEWEST_VERSION_NUMBER)
                    .bind(app_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                return Err(stale_base(base, Some(newest)));
            }
            Err(e) if rows::is_unique_violation(&e) => return Err(stale_base(base, None)),
            Err(e) => return Err(db_err(e)),
        }
        let meta = sqlx::query_as::<_, rows::VersionMetaRow>(sql::GET_VERSION_META)
            .bind(app_id)
            .bind(new.version)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?
            .into_meta()?;
        tx.commit().await.map_err(db_err)?;
        Ok(meta)
    }

    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>> {
        sqlx::query_as::<_, rows::VersionRow>(sql::LATEST_VERSION)
            .bind(app_id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(rows::VersionRow::into_record)
            .transpose()
    }

    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord> {
        sqlx::query_as::<_, rows::VersionRow>(sql::GET_VERSION)
            .bind(app_id)
            .bind(version)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_record()
    }

    async fn list_versions(
        &self,
        app_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VersionMeta>> {
        sqlx::query_as::<_, rows::VersionMetaRow>(sql::LIST_VERSIONS)
            .bind(app_id)
            .bind(before)
            .bind(limit.max(0))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::VersionMetaRow::into_meta)
            .collect()
    }

    // ---- master-key rotation ----

    async fn app_keys(&self) -> Result<Vec<AppKey>> {
        Ok(sqlx::query_as::<_, rows::AppKeyRow>(sql::APP_KEYS)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| AppKey {
                app_id: r.id,
                key_id: r.key_id,
                wrapped_key: r.wrapped_key,
            })
            .collect())
    }

    async fn rewrap_app_key(&self, app_id: i64, old_key_id: &str, new: AppKey) -> Result<()> {
        check_rewrap(app_id, &new)?;
        let done = sqlx::query(sql::REWRAP_APP_KEY)
            .bind(app_id)
            .bind(old_key_id)
            .bind(&new.wrapped_key)
            .bind(&new.key_id)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
            .bind(app_id)
            .fetch_one(&self.write)
            .await
            .map_err(db_err)?;
        Err(rewrap_failed(exists, app_id, old_key_id))
    }

    // ---- instances ----

    async fn report_instance(&self, report: InstanceReport) -> Result<()> {
        sqlx::query(sql::UPSERT_INSTANCE)
            .bind(report.app_id)
            .bind(&report.instance_id)
            .bind(&report.hostname)
            .bind(report.pid)
            .bind(report.applied_version)
            .bind(&report.status)
            .bind(report.reported_at)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        Ok(sqlx::query_as::<_, rows::InstanceRow>(sql::LIST_INSTANCES)
            .bind(app_id)
            .bind(since)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::InstanceRow::into_report)
            .collect())
    }

    // ---- audit ----

    async fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await.map_err(db_err)?;
        for ev in events {
            sqlx::query(sql::INSERT_AUDIT)
                .bind(ev.at)
                .bind(&ev.actor_kind)
                .bind(ev.actor_id)
                .bind(&ev.actor_name)
                .bind(&ev.action)
                .bind(ev.app_id)
                .bind(&ev.app_name)
                .bind(&ev.ip)
                .bind(&ev.outcome)
                .bind(rows::to_json(&ev.detail))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn query_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>> {
        let (exact, prefix, limit) =
            rows::audit_action_and_limit(filter.action.as_deref(), filter.limit);
        sqlx::query_as::<_, rows::AuditRow>(sql::QUERY_AUDIT)
            .bind(filter.actor_name.as_deref())
            .bind(exact)
            .bind(prefix)
            .bind(filter.app_id)
            .bind(filter.since)
            .bind(filter.until)
            .bind(filter.before_id)
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AuditRow::into_record)
            .collect()
    }

    // ---- cross-server events: one process is the only server ----

    async fn publish(&self, _event: StoreEvent) -> Result<()> {
        Ok(())
    }

    async fn subscribe(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        Ok(None)
    }

    // ---- operations ----

    /// `VACUUM INTO` a new file created with mode 0600; refuses to overwrite an existing file
    /// (`Conflict`).
    async fn backup_to(&self, path: &Path) -> Result<()> {
        let target = path.to_str().ok_or_else(|| {
            StoreError::Config(format!("backup path {} is not valid UTF-8", path.display()))
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Conflict(format!(
                    "{} already exists; a backup never overwrites a file",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Other(
                    format!("cannot create backup file {}: {e}", path.display()).into(),
                ));
            }
        }
        // VACUUM INTO accepts an existing empty file, and keeps the 0600 mode made above.
        if let Err(e) = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.read)
            .await
        {
            let _ = std::fs::remove_file(path);
            return Err(db_err(e));
        }
        Ok(())
    }
}
