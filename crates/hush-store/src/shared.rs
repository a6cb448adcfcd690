//! The one [`Store`] implementation both backends share: every method's SQL (from
//! [`crate::sql`]), its bound parameters and its row mapping (from [`crate::rows`]) are written
//! here once, generic over the sqlx database. A backend is a [`Backend`]: its pools plus the few
//! things only it does (NOTIFY after a new version, LISTEN, backups).

use std::path::Path;

use futures::stream::BoxStream;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type,
};

use crate::rows::{
    self, check_next_version, check_rewrap, db_err, rewrap_failed, stale_base, unique_as,
};
use crate::sql;
use crate::*;

/// What a backend brings: its pools and what only it does. Every type that is one is a
/// [`Store`] (see the impl below).
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Database;

    /// [`Store::backend`]: `"sqlite"` or `"postgres"`.
    const NAME: &'static str;

    /// The pool reads run on.
    fn reader(&self) -> &Pool<Self::Db>;

    /// The pool writes and transactions run on (the reader's pool where they are one).
    fn writer(&self) -> &Pool<Self::Db>;

    /// How many rows a statement changed (sqlx has no trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// Runs inside [`Store::create_version`]'s transaction after the new version is in,
    /// just before the commit (PostgreSQL queues its NOTIFY here, so it is sent only on commit).
    async fn version_created(
        &self,
        tx: &mut Transaction<'_, Self::Db>,
        event: &StoreEvent,
    ) -> Result<()>;

    /// [`Store::publish`].
    async fn publish_event(&self, event: StoreEvent) -> Result<()>;

    /// [`Store::subscribe`].
    async fn event_stream(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>>;

    /// [`Store::backup_to`].
    async fn write_backup(&self, path: &Path) -> Result<()>;
}

fn affected_one(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// The where clause is everything the method bodies ask of the database (both backends meet
/// it); it is written only here.
#[async_trait::async_trait]
impl<B, DB> Store for B
where
    B: Backend<Db = DB>,
    DB: Database,
    // Statements run on a pool or inside a transaction.
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    // Bound parameters and read columns: integers, text and bytes, maybe NULL (`&_` follows).
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    // Columns are read by name (the row structs of `rows`) and by position (scalars).
    for<'n> &'n str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    fn backend(&self) -> &'static str {
        B::NAME
    }

    // ---- users ----

    async fn user_count(&self) -> Result<i64> {
        sqlx::query_scalar(sql::USER_COUNT)
            .fetch_one(self.reader())
            .await
            .map_err(db_err)
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_USER)
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(&user.password_hash)
            .bind(user.created_at)
            .fetch_one(self.writer())
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
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_user()
    }

    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)> {
        sqlx::query_as::<_, rows::CredentialsRow>(sql::USER_CREDENTIALS)
            .bind(name)
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_pair()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query_as::<_, rows::UserRow>(sql::LIST_USERS)
            .fetch_all(self.reader())
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
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<()> {
        let done = sqlx::query(sql::SET_USER_PASSWORD)
            .bind(id)
            .bind(password_hash)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        let mut tx = self.writer().begin().await.map_err(db_err)?;
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
        affected_one(B::rows_affected(&done))?;
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
            .fetch_one(self.writer())
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
            .fetch_one(self.writer())
            .await
            .map_err(db_err)?
            .into_invite()
    }

    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        sqlx::query_as::<_, rows::InviteRow>(sql::FIND_INVITE)
            .bind(token_hash)
            .bind(now)
            .fetch_one(self.reader())
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
            .fetch_one(self.writer())
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
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_session())
    }

    async fn touch_session(&self, id: i64, at: Millis) -> Result<()> {
        let done = sqlx::query(sql::TOUCH_SESSION)
            .bind(id)
            .bind(at)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query(sql::DELETE_SESSION)
            .bind(token_hash)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<()> {
        sqlx::query(sql::DELETE_USER_SESSIONS)
            .bind(user_id)
            .execute(self.writer())
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
            .fetch_one(self.writer())
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
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_token()
    }

    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, rows::TokenRow>(sql::LIST_TOKENS)
            .bind(filter.user_id)
            .bind(filter.app_id)
            .bind(filter.kind.map(rows::token_kind_str))
            .fetch_all(self.reader())
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
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer().begin().await.map_err(db_err)?;
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
            .execute(self.writer())
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if rows::is_unique_violation(&e) => {
                let name_taken: i64 = sqlx::query_scalar(sql::APP_NAME_TAKEN)
                    .bind(&app.name)
                    .fetch_one(self.writer())
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
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn find_app(&self, name: &str) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::FIND_APP)
            .bind(name)
            .fetch_one(self.reader())
            .await
            .map_err(db_err)?
            .into_app()
    }

    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        sqlx::query_as::<_, rows::AppListRow>(sql::LIST_APPS)
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AppListRow::into_pair)
            .collect()
    }

    async fn delete_app(&self, id: i64) -> Result<()> {
        let done = sqlx::query(sql::DELETE_APP)
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    async fn set_app_launch(&self, id: i64, launch: Option<LaunchConfig>) -> Result<()> {
        let done = sqlx::query(sql::SET_APP_LAUNCH)
            .bind(id)
            .bind(rows::launch_json(launch.as_ref()))
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        affected_one(B::rows_affected(&done))
    }

    // ---- secrets versions ----

    /// `Conflict` when `base` is stale or `new.version` is not `base + 1`; `NotFound` when the
    /// app does not exist. Concurrent callers with the same base that all pass the statement's
    /// check collide on the primary key: the first to commit wins, the others get `Conflict`
    /// (on SQLite the single writer connection serializes them before that).
    /// The backend's `version_created` runs inside the transaction, just before the commit.
    async fn create_version(&self, app_id: i64, base: i64, new: NewVersion) -> Result<VersionMeta> {
        check_next_version(base, &new)?;
        let mut tx = self.writer().begin().await.map_err(db_err)?;
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
            Ok(done) if B::rows_affected(&done) == 1 => {}
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
        let event = StoreEvent::NewVersion {
            app_id,
            version: new.version,
        };
        self.version_created(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(meta)
    }

    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>> {
        sqlx::query_as::<_, rows::VersionRow>(sql::LATEST_VERSION)
            .bind(app_id)
            .fetch_optional(self.reader())
            .await
            .map_err(db_err)?
            .map(rows::VersionRow::into_record)
            .transpose()
    }

    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord> {
        sqlx::query_as::<_, rows::VersionRow>(sql::GET_VERSION)
            .bind(app_id)
            .bind(version)
            .fetch_one(self.reader())
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
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::VersionMetaRow::into_meta)
            .collect()
    }

    // ---- master-key rotation ----

    async fn app_keys(&self) -> Result<Vec<AppKey>> {
        Ok(sqlx::query_as::<_, rows::AppKeyRow>(sql::APP_KEYS)
            .fetch_all(self.reader())
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
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        if B::rows_affected(&done) == 1 {
            return Ok(());
        }
        let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
            .bind(app_id)
            .fetch_one(self.writer())
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
            .execute(self.writer())
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        Ok(sqlx::query_as::<_, rows::InstanceRow>(sql::LIST_INSTANCES)
            .bind(app_id)
            .bind(since)
            .fetch_all(self.reader())
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
        let mut tx = self.writer().begin().await.map_err(db_err)?;
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
            .fetch_all(self.reader())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::AuditRow::into_record)
            .collect()
    }

    // ---- cross-server events and operations: the backend's own ----

    async fn publish(&self, event: StoreEvent) -> Result<()> {
        self.publish_event(event).await
    }

    async fn subscribe(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        self.event_stream().await
    }

    async fn backup_to(&self, path: &Path) -> Result<()> {
        self.write_backup(path).await
    }
}
