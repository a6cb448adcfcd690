//! The one [`Store`] implementation both backends share: every method's SQL (from
//! [`crate::sql`]), its bound parameters and its row mapping (from [`crate::rows`]) are written
//! here once, over sqlx's `Any` driver. Reads go to the reader pool; every write goes through
//! the [`Writer`] (one transaction per group of concurrent writes). What differs between the
//! backends is a handful of `if self.kind == Backend::Postgres` lines: NOTIFY and row locks.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::any::AnyQueryResult;
use sqlx::{AnyConnection, AnyPool};

use crate::rows::{
    self, check_next_version, check_rewrap, db_err, rewrap_failed, stale_base, unique_as,
};
use crate::writer::Writer;
use crate::*;

pub struct SqlStore {
    pub(crate) kind: Backend,
    /// Reads (on PostgreSQL the writer takes its connection from the same pool).
    pub(crate) read: AnyPool,
    pub(crate) writer: Writer,
    pub(crate) events: Option<Box<dyn EventBus>>,
}

fn affected_one(done: AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

// ---- statements that several writes share; each runs on the writer's connection ----

pub(crate) async fn insert_audit(conn: &mut AnyConnection, ev: &AuditEvent) -> Result<()> {
    sqlx::query(sql::INSERT_AUDIT)
        .bind(ev.at)
        .bind(ev.actor_kind.as_str())
        .bind(ev.actor_id)
        .bind(ev.actor_name.as_deref())
        .bind(ev.action.as_str())
        .bind(ev.app_id)
        .bind(ev.app_name.as_deref())
        .bind(ev.ip.as_deref())
        .bind(ev.outcome.as_str())
        .bind(rows::to_json(&ev.detail))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// [`insert_audit`], for the other modules of the store.
pub(crate) async fn record_audit(conn: &mut AnyConnection, ev: &AuditEvent) -> Result<()> {
    insert_audit(conn, ev).await
}

/// [`notify`], for the other modules of the store.
pub(crate) async fn notify_event(
    conn: &mut AnyConnection,
    kind: Backend,
    event: &StoreEvent,
) -> Result<()> {
    notify(conn, kind, event).await
}

/// Tells every other server on the database, when the transaction commits (PostgreSQL).
pub(crate) async fn notify(
    conn: &mut AnyConnection,
    kind: Backend,
    event: &StoreEvent,
) -> Result<()> {
    if kind == Backend::Postgres {
        sqlx::query(postgres::NOTIFY)
            .bind(postgres::CHANNEL)
            .bind(serde_json::to_string(event).expect("StoreEvent always serializes"))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// `Conflict` unless someone other than `leaving` stays owner. On PostgreSQL the owners' rows
/// are locked first, so two servers demoting two owners at once see each other's change; on
/// SQLite the single writer already runs one write at a time.
async fn ensure_another_owner(conn: &mut AnyConnection, kind: Backend, leaving: i64) -> Result<()> {
    if kind == Backend::Postgres {
        sqlx::query(postgres::LOCK_OWNERS)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    let others: i64 = sqlx::query_scalar(sql::OTHER_OWNERS)
        .bind(leaving)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if others == 0 {
        return Err(StoreError::Conflict(
            "the workspace needs at least one owner; make someone else owner first".into(),
        ));
    }
    Ok(())
}

/// The member changing roles must still be an owner when the change is written: a request
/// checked before another owner demoted its sender must not go through. (On PostgreSQL the
/// owners' rows are locked first, so a concurrent demotion is seen, not raced.)
pub(crate) async fn ensure_actor_is_owner(
    conn: &mut AnyConnection,
    kind: Backend,
    audit: &AuditEvent,
) -> Result<()> {
    let (ActorKind::User, Some(actor)) = (audit.actor_kind, audit.actor_id) else {
        return Ok(());
    };
    if kind == Backend::Postgres {
        sqlx::query(postgres::LOCK_OWNERS)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    let role = match get_user_on(conn, actor).await {
        Ok(user) => Some(user.role),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e),
    };
    if role != Some(Role::Owner) {
        return Err(StoreError::Conflict(
            "your own role changed while this request was on its way; you are no longer an owner, so nothing was changed".into(),
        ));
    }
    Ok(())
}

pub(crate) async fn get_user_on(conn: &mut AnyConnection, id: i64) -> Result<User> {
    sqlx::query_as::<_, rows::UserRow>(sql::GET_USER)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?
        .into_user()
}

async fn insert_user(conn: &mut AnyConnection, user: NewUser) -> Result<User> {
    let key = name_key(&user.name);
    let taken: i64 = sqlx::query_scalar(sql::NAME_KEY_TAKEN)
        .bind(&key)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    let taken_message = || {
        format!(
            "the name {:?} is taken (or too like a member's name)",
            user.name
        )
    };
    if taken > 0 {
        return Err(StoreError::Conflict(taken_message()));
    }
    let id: i64 = sqlx::query_scalar(sql::INSERT_USER)
        .bind(&user.name)
        .bind(&key)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(user.created_at)
        .fetch_one(&mut *conn)
        .await
        .map_err(unique_as(taken_message))?;
    Ok(User {
        id,
        name: user.name,
        role: user.role,
        created_at: user.created_at,
    })
}

async fn count(conn: &mut AnyConnection, statement: &str) -> Result<i64> {
    sqlx::query_scalar(statement)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)
}

async fn get_invite_on(conn: &mut AnyConnection, id: i64) -> Result<Invite> {
    sqlx::query_as::<_, rows::InviteRow>(sql::GET_INVITE)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?
        .into_invite()
}

async fn insert_invite(conn: &mut AnyConnection, invite: &NewInvite) -> Result<Invite> {
    let id: i64 = sqlx::query_scalar(sql::INSERT_INVITE)
        .bind(&invite.token_hash)
        .bind(rows::invite_kind_str(invite.kind))
        .bind(invite.role.as_str())
        .bind(invite.created_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .fetch_one(&mut *conn)
        .await
        .map_err(unique_as(|| {
            "an invite with this token already exists".into()
        }))?;
    get_invite_on(conn, id).await
}

async fn get_token_on(conn: &mut AnyConnection, id: i64) -> Result<TokenRecord> {
    sqlx::query_as::<_, rows::TokenRow>(sql::GET_TOKEN)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?
        .into_token()
}

/// Inserts `new` as the next version of environment `app_id` (see [`Store::create_version`]),
/// with its audit event and [`StoreEvent::NewVersion`], on the writer's connection; when it is
/// a shared document's, the environments that include it move on too.
pub(crate) async fn insert_version_on(
    conn: &mut AnyConnection,
    kind: Backend,
    app_id: i64,
    base: i64,
    new: &NewVersion,
    audit: &AuditEvent,
) -> Result<VersionMeta> {
    let inserted = sqlx::query(sql::INSERT_VERSION)
        .bind(app_id)
        .bind(new.version)
        .bind(new.author_id)
        .bind(new.created_at)
        .bind(new.message.as_deref())
        .bind(&new.ciphertext)
        .bind(rows::to_json(&new.summary))
        .bind(new.restored_from)
        .bind(base)
        .execute(&mut *conn)
        .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => {
            let exists: i64 = sqlx::query_scalar(sql::ENV_EXISTS)
                .bind(app_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
            if exists == 0 {
                return Err(StoreError::NotFound);
            }
            let newest: i64 = sqlx::query_scalar(sql::NEWEST_VERSION_NUMBER)
                .bind(app_id)
                .fetch_one(&mut *conn)
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
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?
        .into_meta()?;
    insert_audit(conn, audit).await?;
    let event = StoreEvent::NewVersion {
        app_id,
        version: new.version,
    };
    notify(conn, kind, &event).await?;
    // A shared document's new version changes every environment that includes it.
    crate::environments::bump_including(conn, kind, app_id).await?;
    Ok(meta)
}

impl SqlStore {
    /// Closes the pools (SQLite checkpoints its write-ahead log into the database file).
    pub async fn close(&self) {
        self.read.close().await;
        self.writer.close().await;
    }

    /// Runs `write` on the writer (see [`Writer::run`]).
    pub(crate) async fn write<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.writer.run(write).await
    }

    /// Gives users from before names had keys their key; a pair that collides (they could
    /// exist then) keeps both, the later one's key made unique by its id.
    pub(crate) async fn fill_name_keys(&self) -> Result<()> {
        self.write(|conn| {
            Box::pin(async move {
                let missing: Vec<(i64, String)> =
                    sqlx::query_as::<_, (i64, String)>(sql::USERS_WITHOUT_NAME_KEY)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(db_err)?;
                for (id, name) in missing {
                    let key = name_key(&name);
                    let taken: i64 = sqlx::query_scalar(sql::NAME_KEY_TAKEN)
                        .bind(&key)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    let key = if taken > 0 {
                        tracing::warn!(
                            user_id = id,
                            "two members' names look alike; both are kept"
                        );
                        format!("{key}#{id}")
                    } else {
                        key
                    };
                    sqlx::query(sql::SET_NAME_KEY)
                        .bind(id)
                        .bind(key)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.kind
    }

    // ---- users ----

    async fn user_count(&self) -> Result<i64> {
        sqlx::query_scalar(sql::USER_COUNT)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)
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
            .bind(name_key(name))
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

    async fn create_first_owner(&self, user: NewUser, audit: AuditEvent) -> Result<User> {
        self.write(move |conn| {
            Box::pin(async move {
                if count(conn, sql::USER_COUNT).await? > 0 {
                    return Err(StoreError::Conflict(
                        "this workspace already has members; an owner can invite more".into(),
                    ));
                }
                let user = insert_user(
                    conn,
                    NewUser {
                        role: Role::Owner,
                        ..user
                    },
                )
                .await?;
                sqlx::query(sql::DELETE_SETUP_LINKS)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                insert_audit(
                    conn,
                    &AuditEvent {
                        actor_id: Some(user.id),
                        ..audit
                    },
                )
                .await?;
                Ok(user)
            })
        })
        .await
    }

    async fn accept_invite(
        &self,
        token_hash: &[u8],
        now: Millis,
        user: NewUser,
        audit: AuditEvent,
    ) -> Result<(Invite, User)> {
        let token_hash = token_hash.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                let invite = sqlx::query_as::<_, rows::InviteRow>(sql::FIND_INVITE)
                    .bind(&token_hash)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_invite()?;
                if invite.kind == InviteKind::Setup && count(conn, sql::USER_COUNT).await? > 0 {
                    return Err(StoreError::NotFound);
                }
                let user = insert_user(
                    conn,
                    NewUser {
                        role: invite.role,
                        ..user
                    },
                )
                .await?;
                let used = sqlx::query(sql::USE_INVITE)
                    .bind(invite.id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                affected_one(used)?;
                if invite.kind == InviteKind::Setup {
                    sqlx::query(sql::DELETE_SETUP_LINKS)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                insert_audit(
                    conn,
                    &AuditEvent {
                        actor_id: Some(user.id),
                        ..audit
                    },
                )
                .await?;
                Ok((invite, user))
            })
        })
        .await
    }

    async fn set_user_role(&self, id: i64, role: Role, audit: AuditEvent) -> Result<User> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let before = get_user_on(conn, id).await?;
                if before.role == Role::Owner && role != Role::Owner {
                    ensure_another_owner(conn, kind, id).await?;
                }
                sqlx::query(sql::SET_USER_ROLE)
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await?;
                Ok(before)
            })
        })
        .await
    }

    async fn restore_owner(&self, name: &str, audit: AuditEvent) -> Result<User> {
        let key = name_key(name);
        self.write(move |conn| {
            Box::pin(async move {
                let user = sqlx::query_as::<_, rows::UserRow>(sql::RESTORE_OWNER)
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_user()?;
                insert_audit(
                    conn,
                    &AuditEvent {
                        detail: serde_json::json!({ "member": user.name, "to": "owner" }),
                        ..audit
                    },
                )
                .await?;
                Ok(user)
            })
        })
        .await
    }

    async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        audit: AuditEvent,
    ) -> Result<()> {
        let password_hash = password_hash.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::SET_USER_PASSWORD)
                    .bind(id)
                    .bind(&password_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await
            })
        })
        .await
    }

    async fn delete_user(&self, id: i64, audit: AuditEvent) -> Result<User> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let before = get_user_on(conn, id).await?;
                if before.role == Role::Owner {
                    ensure_another_owner(conn, kind, id).await?;
                }
                for statement in [sql::DELETE_USER_PERSONAL_TOKENS, sql::DELETE_USER_SESSIONS] {
                    sqlx::query(statement)
                        .bind(id)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                sqlx::query(sql::DELETE_USER)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::SessionsRevoked { user_id: id }).await?;
                Ok(before)
            })
        })
        .await
    }

    // ---- one-time links ----

    async fn replace_setup_link(&self, link: NewInvite) -> Result<Invite> {
        self.write(move |conn| {
            Box::pin(async move {
                if count(conn, sql::USER_COUNT).await? > 0 {
                    return Err(StoreError::Conflict(
                        "this workspace has an owner already; no setup link is needed".into(),
                    ));
                }
                sqlx::query(sql::DELETE_SETUP_LINKS)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                insert_invite(
                    conn,
                    &NewInvite {
                        kind: InviteKind::Setup,
                        role: Role::Owner,
                        ..link
                    },
                )
                .await
            })
        })
        .await
    }

    async fn create_invite(&self, invite: NewInvite, audit: AuditEvent) -> Result<Invite> {
        self.write(move |conn| {
            Box::pin(async move {
                let invite = insert_invite(conn, &invite).await?;
                let mut audit = audit;
                audit.detail["invite_id"] = serde_json::json!(invite.id);
                insert_audit(conn, &audit).await?;
                Ok(invite)
            })
        })
        .await
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

    async fn list_invites(&self, now: Millis) -> Result<Vec<Invite>> {
        sqlx::query_as::<_, rows::InviteRow>(sql::LIST_INVITES)
            .bind(now)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::InviteRow::into_invite)
            .collect()
    }

    async fn revoke_invite(&self, id: i64, audit: AuditEvent) -> Result<Invite> {
        self.write(move |conn| {
            Box::pin(async move {
                let invite = get_invite_on(conn, id).await?;
                sqlx::query(sql::DELETE_INVITE)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await?;
                Ok(invite)
            })
        })
        .await
    }

    // ---- web sessions ----

    async fn create_session(&self, session: NewSession) -> Result<Session> {
        self.write(move |conn| {
            Box::pin(async move {
                let id: i64 = sqlx::query_scalar(sql::INSERT_SESSION)
                    .bind(&session.token_hash)
                    .bind(session.user_id)
                    .bind(session.created_at)
                    .bind(session.expires_at)
                    .fetch_one(&mut *conn)
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
            })
        })
        .await
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
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::TOUCH_SESSION)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::DELETE_SESSION)
                    .bind(&token_hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn delete_user_sessions(&self, user_id: i64, audit: AuditEvent) -> Result<()> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::DELETE_USER_SESSIONS)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::SessionsRevoked { user_id }).await
            })
        })
        .await
    }

    // ---- tokens ----

    async fn create_token(&self, token: NewToken, audit: AuditEvent) -> Result<TokenRecord> {
        self.write(move |conn| {
            Box::pin(async move {
                let id: i64 = sqlx::query_scalar(sql::INSERT_TOKEN)
                    .bind(rows::token_kind_str(token.kind))
                    .bind(&token.name)
                    .bind(&token.token_hash)
                    .bind(&token.prefix)
                    .bind(token.user_id)
                    .bind(token.app_id)
                    .bind(token.created_at)
                    .bind(token.expires_at)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(unique_as(|| {
                        "a token with this value already exists".into()
                    }))?;
                let mut audit = audit;
                audit.detail["token_id"] = serde_json::json!(id);
                insert_audit(conn, &audit).await?;
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
            })
        })
        .await
    }

    async fn find_token(&self, token_hash: &[u8]) -> Result<TokenRecord> {
        sqlx::query_as::<_, rows::TokenRow>(sql::FIND_TOKEN)
            .bind(token_hash)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .into_token()
    }

    async fn get_token(&self, id: i64) -> Result<TokenRecord> {
        sqlx::query_as::<_, rows::TokenRow>(sql::GET_TOKEN)
            .bind(id)
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

    async fn revoke_token(&self, id: i64, at: Millis, audit: AuditEvent) -> Result<TokenRecord> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::REVOKE_TOKEN)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::TokenRevoked { token_id: id }).await?;
                get_token_on(conn, id).await
            })
        })
        .await
    }

    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let used = used.to_vec();
        self.write(move |conn| {
            Box::pin(async move {
                for (id, at) in used {
                    sqlx::query(sql::TOUCH_TOKEN)
                        .bind(id)
                        .bind(at)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                Ok(())
            })
        })
        .await
    }

    // ---- apps ----

    /// `Conflict` when the name, or the caller-chosen id, is taken.
    async fn create_app(&self, app: NewApp, audit: AuditEvent) -> Result<App> {
        self.write(move |conn| {
            Box::pin(async move {
                let name_taken: i64 = sqlx::query_scalar(sql::APP_NAME_TAKEN)
                    .bind(&app.name)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                if name_taken > 0 {
                    return Err(StoreError::Conflict(format!(
                        "an app named {:?} already exists",
                        app.name
                    )));
                }
                sqlx::query(sql::INSERT_APP)
                    .bind(app.id)
                    .bind(&app.name)
                    .bind(app.created_at)
                    .bind(app.created_by)
                    .bind(&app.wrapped_key)
                    .bind(&app.key_id)
                    .bind(rows::launch_json(app.launch.as_ref()))
                    .execute(&mut *conn)
                    .await
                    // The name was free a moment ago: the id is taken, or another server
                    // took the name meanwhile.
                    .map_err(unique_as(|| {
                        format!(
                            "an app named {:?} or with id {} already exists",
                            app.name, app.id
                        )
                    }))?;
                crate::environments::insert_production(conn, app.id, app.created_at).await?;
                insert_audit(
                    conn,
                    &AuditEvent {
                        app_id: Some(app.id),
                        app_name: Some(app.name.clone()),
                        ..audit
                    },
                )
                .await?;
                Ok(App {
                    id: app.id,
                    name: app.name,
                    created_at: app.created_at,
                    created_by: app.created_by,
                    wrapped_key: app.wrapped_key,
                    key_id: app.key_id,
                    launch: app.launch,
                    env_id: app.id,
                    env: PRODUCTION.into(),
                })
            })
        })
        .await
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

    async fn delete_app(&self, id: i64, audit: AuditEvent) -> Result<()> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                // Its other environments go too: their watchers and tokens end like its own.
                let others: Vec<i64> = sqlx::query_scalar(sql::OTHER_ENVIRONMENTS)
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db_err)?;
                sqlx::query(sql::DELETE_APP)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await?;
                for env in others {
                    notify(conn, kind, &StoreEvent::AppDeleted { app_id: env }).await?;
                }
                notify(conn, kind, &StoreEvent::AppDeleted { app_id: id }).await
            })
        })
        .await
    }

    async fn set_app_launch(
        &self,
        id: i64,
        launch: Option<LaunchConfig>,
        audit: AuditEvent,
    ) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::SET_APP_LAUNCH)
                    .bind(id)
                    .bind(rows::launch_json(launch.as_ref()))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)
                    .and_then(affected_one)?;
                insert_audit(conn, &audit).await
            })
        })
        .await
    }

    // ---- secrets versions ----

    /// `Conflict` when `base` is stale or `new.version` is not `base + 1`; `NotFound` when the
    /// app does not exist. Concurrent callers with the same base on several servers that all
    /// pass the statement's check collide on the primary key: the first to commit wins, the
    /// others get `Conflict`.
    async fn create_version(
        &self,
        app_id: i64,
        base: i64,
        new: NewVersion,
        audit: AuditEvent,
    ) -> Result<VersionMeta> {
        check_next_version(base, &new)?;
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move { insert_version_on(conn, kind, app_id, base, &new, &audit).await })
        })
        .await
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
        let old_key_id = old_key_id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(sql::REWRAP_APP_KEY)
                    .bind(app_id)
                    .bind(&old_key_id)
                    .bind(&new.wrapped_key)
                    .bind(&new.key_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
                    .bind(app_id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Err(rewrap_failed(exists, app_id, &old_key_id))
            })
        })
        .await
    }

    // ---- instances ----

    async fn report_instance(&self, report: InstanceReport) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::UPSERT_INSTANCE)
                    .bind(report.app_id)
                    .bind(&report.instance_id)
                    .bind(&report.hostname)
                    .bind(report.pid)
                    .bind(report.applied_version)
                    .bind(report.applied.as_ref().map(|a| {
                        serde_json::to_string(a).expect("AppliedVersions always serializes")
                    }))
                    .bind(report.status.as_str())
                    .bind(report.reported_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        sqlx::query_as::<_, rows::InstanceRow>(sql::LIST_INSTANCES)
            .bind(app_id)
            .bind(since)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(rows::InstanceRow::into_report)
            .collect()
    }

    // ---- audit ----

    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            Box::pin(async move {
                for event in &events {
                    insert_audit(conn, event).await?;
                }
                Ok(())
            })
        })
        .await
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

    // ---- operations ----

    async fn sweep(&self, policy: SweepPolicy) -> Result<SweepReport> {
        self.write(move |conn| {
            Box::pin(async move {
                let rows_gone = |done: std::result::Result<AnyQueryResult, sqlx::Error>| {
                    done.map(|d| d.rows_affected()).map_err(db_err)
                };
                let sessions = rows_gone(
                    sqlx::query(sql::SWEEP_SESSIONS)
                        .bind(policy.now)
                        .bind(policy.sessions_idle_before)
                        .execute(&mut *conn)
                        .await,
                )?;
                let invites = rows_gone(
                    sqlx::query(sql::SWEEP_INVITES)
                        .bind(policy.now)
                        .execute(&mut *conn)
                        .await,
                )?;
                let instances = rows_gone(
                    sqlx::query(sql::SWEEP_INSTANCES)
                        .bind(policy.instances_before)
                        .execute(&mut *conn)
                        .await,
                )?;
                Ok(SweepReport {
                    sessions,
                    invites,
                    instances,
                })
            })
        })
        .await
    }

    fn write_health(&self) -> WriteHealth {
        self.writer.health()
    }

    async fn probe_write(&self, now: Millis) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                // Room for 64 KiB, not just for a row: a nearly full disk fails this.
                sqlx::query(sql::PROBE_WRITE)
                    .bind(now)
                    .bind(vec![0x5a_u8; 64 * 1024])
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                sqlx::query(sql::PROBE_SHRINK)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn export(&self) -> Result<BoxStream<'static, Result<DumpRow>>> {
        dump::export(self.kind, self.read.clone()).await
    }

    async fn import(&self, rows: BoxStream<'static, Result<DumpRow>>) -> Result<u64> {
        let kind = self.kind;
        self.write(move |conn| Box::pin(dump::import(conn, kind, rows)))
            .await
    }

    fn events(&self) -> Option<&dyn EventBus> {
        self.events.as_deref()
    }
}
