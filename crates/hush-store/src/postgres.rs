//! PostgreSQL backend: several hush servers may share one database; they tell each other
//! about changes with LISTEN/NOTIFY on the `hush_events` channel.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::rows::{
    self, check_next_version, check_rewrap, db_err, rewrap_failed, stale_base, unique_as,
};
use crate::sql;
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The LISTEN/NOTIFY channel every hush server on a database listens on.
pub const CHANNEL: &str = "hush_events";
const NOTIFY: &str = "SELECT pg_notify('hush_events', $1)";

const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database `postgres://…` names and runs its migrations (sqlx holds an
    /// advisory lock meanwhile, so servers starting together do not race).
    pub async fn connect(url: &str) -> Result<PgStore> {
        // The URL may hold a password: errors never repeat it.
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("cannot use the PostgreSQL URL: {e}")))?;
        // One plain connection first: an unreachable server or a refused login is reported at
        // once, rather than after the pool's acquire timeout of retries.
        PgConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?
            .close()
            .await
            .ok();
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        Ok(PgStore { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn event_json(event: &StoreEvent) -> String {
    serde_json::to_string(event).expect("StoreEvent always serializes")
}

fn affected_one(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    // ---- users ----

    async fn user_count(&self) -> Result<i64> {
        sqlx::query_scalar(sql::USER_COUNT)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_USER)
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(user.created_at)
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_user()
    }

    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)> {
        sqlx::query_as::<_, rows::CredentialsRow>(sql::USER_CREDENTIALS)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_pair()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query_as::<_, rows::UserRow>(sql::LIST_USERS)
            .fetch_all(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<()> {
        let done = sqlx::query(sql::SET_USER_PASSWORD)
            .bind(id)
            .bind(password_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_invite()
    }

    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        sqlx::query_as::<_, rows::InviteRow>(sql::FIND_INVITE)
            .bind(token_hash)
            .bind(now)
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_session())
    }

    async fn touch_session(&self, id: i64, at: Millis) -> Result<()> {
        let done = sqlx::query(sql::TOUCH_SESSION)
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<()> {
        sqlx::query(sql::DELETE_USER_SESSIONS)
            .bind(user_id)
            .execute(&self.pool)
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
            .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_token()
    }

    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, rows::TokenRow>(sql::LIST_TOKENS)
            .bind(filter.user_id)
            .bind(filter.app_id)
            .bind(filter.kind.map(rows::token_kind_str))
            .fetch_all(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if rows::is_unique_violation(&e) => {
                let name_taken: i64 = sqlx::query_scalar(sql::APP_NAME_TAKEN)
                    .bind(&app.name)
                    .fetch_one(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn find_app(&self, name: &str) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::FIND_APP)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        sqlx::query_as::<_, rows::AppListRow>(sql::LIST_APPS)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AppListRow::into_pair)
            .collect()
    }

    async fn delete_app(&self, id: i64) -> Result<()> {
        let done = sqlx::query(sql::DELETE_APP)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    async fn set_app_launch(&self, id: i64, launch: Option<LaunchConfig>) -> Result<()> {
        let done = sqlx::query(sql::SET_APP_LAUNCH)
            .bind(id)
            .bind(rows::launch_json(launch.as_ref()))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        affected_one(done.rows_affected())
    }

    // ---- secrets versions ----

    /// `Conflict` when `base` is stale or `new.version` is not `base + 1`; `NotFound` when the
    /// app does not exist. Concurrent callers with the same base all pass the statement's check,
    /// then collide on the primary key: the first to commit wins, the others get `Conflict`.
    /// The commit notifies every listening server ([`StoreEvent::NewVersion`]).
    async fn create_version(&self, app_id: i64, base: i64, new: NewVersion) -> Result<VersionMeta> {
        check_next_version(base, &new)?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
        // Sent when, and only if, the transaction commits.
        sqlx::query(NOTIFY)
            .bind(event_json(&StoreEvent::NewVersion {
                app_id,
                version: new.version,
            }))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(meta)
    }

    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>> {
        sqlx::query_as::<_, rows::VersionRow>(sql::LATEST_VERSION)
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(rows::VersionRow::into_record)
            .transpose()
    }

    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord> {
        sqlx::query_as::<_, rows::VersionRow>(sql::GET_VERSION)
            .bind(app_id)
            .bind(version)
            .fetch_one(&self.pool)
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
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::VersionMetaRow::into_meta)
            .collect()
    }

    // ---- master-key rotation ----

    async fn app_keys(&self) -> Result<Vec<AppKey>> {
        Ok(sqlx::query_as::<_, rows::AppKeyRow>(sql::APP_KEYS)
            .fetch_all(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
            .bind(app_id)
            .fetch_one(&self.pool)
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
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        Ok(sqlx::query_as::<_, rows::InstanceRow>(sql::LIST_INSTANCES)
            .bind(app_id)
            .bind(since)
            .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
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
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AuditRow::into_record)
            .collect()
    }

    // ---- cross-server events: LISTEN/NOTIFY ----

    async fn publish(&self, event: StoreEvent) -> Result<()> {
        sqlx::query(NOTIFY)
            .bind(event_json(&event))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// A dedicated connection listening on [`CHANNEL`]. It reconnects by itself when the
    /// connection drops; events sent while it was down are lost, so a subscriber that sees an
    /// error should re-read what it caches.
    async fn subscribe(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_err)?;
        listener.listen(CHANNEL).await.map_err(db_err)?;
        let events = listener.into_stream().filter_map(|item| {
            futures::future::ready(match item {
                Ok(n) => match serde_json::from_str::<StoreEvent>(n.payload()) {
                    Ok(event) => Some(Ok(event)),
                    Err(e) => {
                        tracing::warn!(
                            channel = CHANNEL,
                            error = %e,
                            "ignoring a malformed hush event notification"
                        );
                        None
                    }
                },
                Err(e) => Some(Err(db_err(e))),
            })
        });
        Ok(Some(Box::pin(events)))
    }

    // ---- operations ----

    async fn backup_to(&self, _path: &Path) -> Result<()> {
        Err(StoreError::Config(
            "backups of PostgreSQL are pg_dump's job".into(),
        ))
    }
}
