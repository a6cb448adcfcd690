//! Members and how they get in: users (roles, passwords, the rule that an owner stays), one-time
//! links (first-run setup and invitations) and web sessions. [`UserStore`] is part of every
//! [`Store`].

use sqlx::{Any, AnyConnection, Executor};

use crate::rows;
use crate::store::{Fetch, Run, Scalar, SqlStore, insert_audit, notify};
use crate::*;

#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    // ---- users ----
    async fn user_count(&self) -> Result<i64>;
    async fn get_user(&self, id: i64) -> Result<User>;
    /// The user whose name is the same as `name` (by [`name_key`]) and their password hash
    /// (PHC string), or `NotFound`.
    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// The first owner, made without a link (`hush admin create-owner`): `Conflict` once anyone
    /// is a member. Every setup link stops working.
    async fn create_first_owner(&self, user: NewUser, audit: AuditEvent) -> Result<User>;
    /// Uses a one-time link and creates its member, in one transaction. `NotFound` when the
    /// link is unknown, used or expired (or a setup link while someone is a member already);
    /// `Conflict` when the name is taken (the link stays usable). The member gets the link's
    /// role, whatever `user.role` says. A setup link takes every other setup link with it.
    /// The audit event is written with the new member's id as its actor.
    async fn accept_invite(
        &self,
        token_hash: &[u8],
        now: Millis,
        user: NewUser,
        audit: AuditEvent,
    ) -> Result<(Invite, User)>;
    /// Changes a member's role; `Conflict` when that would leave the workspace without an
    /// owner (checked in the same transaction, so two owners demoting each other cannot both
    /// succeed). A member who stops being an owner loses their unused invitations. Returns the
    /// member as they were.
    async fn set_user_role(&self, id: i64, role: Role, audit: AuditEvent) -> Result<User>;
    /// Makes the member named `name` an owner whatever the others are (`hush admin`'s way back
    /// when no owner is left).
    async fn restore_owner(&self, name: &str, audit: AuditEvent) -> Result<User>;
    async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        audit: AuditEvent,
    ) -> Result<()>;
    /// Also deletes the user's sessions, personal tokens and unused invitations; `Conflict` for
    /// the last owner.
    /// Returns the member as they were.
    async fn delete_user(&self, id: i64, audit: AuditEvent) -> Result<User>;

    // ---- one-time links: first-run setup and invitations ----
    /// The one valid setup link from now on: every earlier one is deleted. `Conflict` once
    /// anyone is a member.
    async fn replace_setup_link(&self, link: NewInvite) -> Result<Invite>;
    async fn create_invite(&self, invite: NewInvite, audit: AuditEvent) -> Result<Invite>;
    /// Looks a usable link up without using it (the join page shows the role and who invited).
    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite>;
    /// Invitations that can still be used at `now` (not setup links), newest first.
    async fn list_invites(&self, now: Millis) -> Result<Vec<Invite>>;
    /// Deletes an unused invitation; `NotFound` when there is none with that id.
    async fn revoke_invite(&self, id: i64, audit: AuditEvent) -> Result<Invite>;

    // ---- web sessions ----
    async fn create_session(&self, session: NewSession) -> Result<Session>;
    async fn find_session(&self, token_hash: &[u8]) -> Result<Session>;
    async fn touch_session(&self, id: i64, at: Millis) -> Result<()>;
    /// Ends one session ([`StoreEvent::SessionEnded`]); its id, or `None` when there was none.
    async fn delete_session(&self, token_hash: &[u8]) -> Result<Option<i64>>;
    /// Signs the user out everywhere ([`StoreEvent::SessionsRevoked`]).
    async fn delete_user_sessions(&self, user_id: i64, audit: AuditEvent) -> Result<()>;
}

/// `Conflict` unless someone other than `leaving` stays owner. On PostgreSQL the owners' rows
/// are locked first, so two servers demoting two owners at once see each other's change; on
/// SQLite the single writer already runs one write at a time.
async fn ensure_another_owner(conn: &mut AnyConnection, kind: Backend, leaving: i64) -> Result<()> {
    if kind == Backend::Postgres {
        sqlx::query(postgres::LOCK_OWNERS).run(conn).await?;
    }
    let others: i64 = sqlx::query_scalar(sql::OTHER_OWNERS)
        .bind(leaving)
        .value(&mut *conn)
        .await?;
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
        sqlx::query(postgres::LOCK_OWNERS).run(conn).await?;
    }
    let role = match get_user_on(&mut *conn, actor).await {
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

/// The member `id`, read from the pool or the writer's connection.
pub(crate) async fn get_user_on<'c>(
    from: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<User> {
    sqlx::query_as::<_, rows::UserRow>(sql::GET_USER)
        .bind(id)
        .one(from, rows::UserRow::into_user)
        .await
}

async fn insert_user(conn: &mut AnyConnection, user: NewUser) -> Result<User> {
    let key = name_key(&user.name);
    let taken: i64 = sqlx::query_scalar(sql::NAME_KEY_TAKEN)
        .bind(&key)
        .value(&mut *conn)
        .await?;
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
        .insert_returning(&mut *conn, taken_message)
        .await?;
    Ok(User {
        id,
        name: user.name,
        role: user.role,
        created_at: user.created_at,
    })
}

/// A new member, with `audit` written as their own act (they are its actor).
async fn insert_member(conn: &mut AnyConnection, user: NewUser, audit: AuditEvent) -> Result<User> {
    let user = insert_user(conn, user).await?;
    let audit = AuditEvent {
        actor_id: Some(user.id),
        ..audit
    };
    insert_audit(conn, &audit).await?;
    Ok(user)
}

/// How many members there are, read from the pool or the writer's connection.
async fn user_count_on<'c>(from: impl Executor<'c, Database = Any>) -> Result<i64> {
    sqlx::query_scalar(sql::USER_COUNT).value(from).await
}

async fn get_invite_on(conn: &mut AnyConnection, id: i64) -> Result<Invite> {
    sqlx::query_as::<_, rows::InviteRow>(sql::GET_INVITE)
        .bind(id)
        .one(&mut *conn, rows::InviteRow::into_invite)
        .await
}

async fn insert_invite(conn: &mut AnyConnection, invite: &NewInvite) -> Result<Invite> {
    let id: i64 = sqlx::query_scalar(sql::INSERT_INVITE)
        .bind(&invite.token_hash)
        .bind(invite.kind.as_str())
        .bind(invite.role.as_str())
        .bind(invite.created_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .insert_returning(&mut *conn, || {
            "an invite with this token already exists".into()
        })
        .await?;
    get_invite_on(conn, id).await
}

impl SqlStore {
    /// Gives users from before names had keys their key; a pair that collides (they could
    /// exist then) keeps both, the later one's key made unique by its id.
    pub(crate) async fn fill_name_keys(&self) -> Result<()> {
        self.write(|conn| {
            Box::pin(async move {
                let missing = sqlx::query_as::<_, (i64, String)>(sql::USERS_WITHOUT_NAME_KEY)
                    .all(&mut *conn, Ok)
                    .await?;
                for (id, name) in missing {
                    let key = name_key(&name);
                    let taken: i64 = sqlx::query_scalar(sql::NAME_KEY_TAKEN)
                        .bind(&key)
                        .value(&mut *conn)
                        .await?;
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
                        .run(conn)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[async_trait::async_trait]
impl UserStore for SqlStore {
    // ---- users ----

    async fn user_count(&self) -> Result<i64> {
        user_count_on(&self.read).await
    }

    async fn get_user(&self, id: i64) -> Result<User> {
        get_user_on(&self.read, id).await
    }

    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)> {
        sqlx::query_as::<_, rows::CredentialsRow>(sql::USER_CREDENTIALS)
            .bind(name_key(name))
            .one(&self.read, rows::CredentialsRow::into_pair)
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query_as::<_, rows::UserRow>(sql::LIST_USERS)
            .all(&self.read, rows::UserRow::into_user)
            .await
    }

    async fn create_first_owner(&self, user: NewUser, audit: AuditEvent) -> Result<User> {
        self.write(move |conn| {
            Box::pin(async move {
                if user_count_on(&mut *conn).await? > 0 {
                    return Err(StoreError::Conflict(
                        "this workspace already has members; an owner can invite more".into(),
                    ));
                }
                let owner = NewUser {
                    role: Role::Owner,
                    ..user
                };
                let user = insert_member(conn, owner, audit).await?;
                sqlx::query(sql::DELETE_SETUP_LINKS).run(conn).await?;
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
                    .one(&mut *conn, rows::InviteRow::into_invite)
                    .await?;
                if invite.kind == InviteKind::Setup && user_count_on(&mut *conn).await? > 0 {
                    return Err(StoreError::NotFound);
                }
                let member = NewUser {
                    role: invite.role,
                    ..user
                };
                let user = insert_member(conn, member, audit).await?;
                sqlx::query(sql::USE_INVITE)
                    .bind(invite.id)
                    .bind(now)
                    .run_one(conn)
                    .await?;
                if invite.kind == InviteKind::Setup {
                    sqlx::query(sql::DELETE_SETUP_LINKS).run(conn).await?;
                }
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
                let before = get_user_on(&mut *conn, id).await?;
                if before.role == Role::Owner && role != Role::Owner {
                    ensure_another_owner(conn, kind, id).await?;
                    sqlx::query(sql::DELETE_UNUSED_INVITES_BY)
                        .bind(id)
                        .run(conn)
                        .await?;
                }
                sqlx::query(sql::SET_USER_ROLE)
                    .bind(id)
                    .bind(role.as_str())
                    .run_one(conn)
                    .await?;
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
                    .one(&mut *conn, rows::UserRow::into_user)
                    .await?;
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
                    .run_one(conn)
                    .await?;
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
                let before = get_user_on(&mut *conn, id).await?;
                if before.role == Role::Owner {
                    ensure_another_owner(conn, kind, id).await?;
                }
                for statement in [
                    sql::DELETE_USER_PERSONAL_TOKENS,
                    sql::DELETE_USER_SESSIONS,
                    sql::DELETE_UNUSED_INVITES_BY,
                ] {
                    sqlx::query(statement).bind(id).run(conn).await?;
                }
                sqlx::query(sql::DELETE_USER).bind(id).run_one(conn).await?;
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
                if user_count_on(&mut *conn).await? > 0 {
                    return Err(StoreError::Conflict(
                        "this workspace has an owner already; no setup link is needed".into(),
                    ));
                }
                sqlx::query(sql::DELETE_SETUP_LINKS).run(conn).await?;
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
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
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
            .one(&self.read, rows::InviteRow::into_invite)
            .await
    }

    async fn list_invites(&self, now: Millis) -> Result<Vec<Invite>> {
        sqlx::query_as::<_, rows::InviteRow>(sql::LIST_INVITES)
            .bind(now)
            .all(&self.read, rows::InviteRow::into_invite)
            .await
    }

    async fn revoke_invite(&self, id: i64, audit: AuditEvent) -> Result<Invite> {
        self.write(move |conn| {
            Box::pin(async move {
                let invite = get_invite_on(conn, id).await?;
                sqlx::query(sql::DELETE_INVITE)
                    .bind(id)
                    .run_one(conn)
                    .await?;
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
                    .insert_returning(&mut *conn, || {
                        "a session with this token already exists".into()
                    })
                    .await?;
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
        sqlx::query_as::<_, rows::SessionRow>(sql::FIND_SESSION)
            .bind(token_hash)
            .one(&self.read, |row| Ok(row.into_session()))
            .await
    }

    async fn touch_session(&self, id: i64, at: Millis) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::TOUCH_SESSION)
                    .bind(id)
                    .bind(at)
                    .run_one(conn)
                    .await
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<Option<i64>> {
        let token_hash = token_hash.to_vec();
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                let ended: Option<i64> = sqlx::query_scalar(sql::DELETE_SESSION)
                    .bind(&token_hash)
                    .maybe_value(&mut *conn)
                    .await?;
                if let Some(session_id) = ended {
                    notify(conn, kind, &StoreEvent::SessionEnded { session_id }).await?;
                }
                Ok(ended)
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
                    .run(conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::SessionsRevoked { user_id }).await
            })
        })
        .await
    }
}
