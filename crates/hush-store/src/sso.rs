//! Single sign-on links: which provider identity (issuer and subject) a member signs in with;
//! and the sign-ins under way, so a callback may land on any server. [`SsoStore`] is part of
//! every [`crate::Store`].

use serde::{Deserialize, Serialize};
use sqlx::{Any, FromRow};

use crate::store::{Fetch, Run, SqlStore};
use crate::{Millis, Result};

/// A member's linked provider identity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct SsoIdentity {
    pub user_id: i64,
    pub issuer: String,
    pub subject: String,
    /// The email the provider gave at the last sign-in.
    pub email: String,
    pub linked_at: i64,
}

/// A sign-in under way, as the store keeps it: what the server needs at the callback, sealed
/// by the server (the store never sees the PKCE verifier or nonce).
pub struct PendingSsoSignIn {
    /// A hash of the sign-in's `state`.
    pub state_hash: [u8; 32],
    pub sealed: Vec<u8>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[async_trait::async_trait]
pub trait SsoStore: Send + Sync {
    /// The identity the member is linked to, if any.
    async fn sso_identity_of(&self, user_id: i64) -> Result<Option<SsoIdentity>>;
    /// The link of a provider identity, if any.
    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> Result<Option<SsoIdentity>>;
    /// Links the member to the identity, or refreshes the email of an existing same link.
    /// `Conflict` when the identity belongs to another member or the member is linked to
    /// another identity.
    async fn link_sso_identity(&self, identity: SsoIdentity) -> Result<()>;

    /// Keeps a sign-in under way. Expired ones are forgotten, and beyond `at_most` the oldest.
    async fn put_sso_pending(&self, pending: PendingSsoSignIn, at_most: i64) -> Result<()>;
    /// Takes the sign-in under `state_hash` (sealed), once: a second take, on any server, finds
    /// nothing. `None` too when it expired before `now`.
    async fn take_sso_pending(&self, state_hash: [u8; 32], now: Millis) -> Result<Option<Vec<u8>>>;
    /// Forgets sign-ins under way and CLI codes that expired before `now`; how many.
    async fn forget_sso_pending(&self, now: Millis) -> Result<u64>;
    /// Keeps a one-time code for `hush login --sso` (by its hash), for `user_id`, until
    /// `expires_at`; expired ones are forgotten.
    async fn put_sso_cli_code(
        &self,
        code_hash: [u8; 32],
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> Result<()>;
    /// The member a CLI code stands for, once (on whichever server); `None` when unknown,
    /// used or expired before `now`.
    async fn take_sso_cli_code(&self, code_hash: [u8; 32], now: Millis) -> Result<Option<i64>>;
}

const SELECT: &str = "SELECT user_id, issuer, subject, email, linked_at FROM sso_identities";
const INSERT: &str = "INSERT INTO sso_identities (user_id, issuer, subject, email, linked_at) \
     VALUES ($1, $2, $3, $4, $5)";
const REFRESH: &str = "UPDATE sso_identities SET email = $4 \
     WHERE user_id = $1 AND issuer = $2 AND subject = $3";

const PUT_PENDING: &str = "INSERT INTO sso_pending (state_hash, sealed, created_at, expires_at) \
     VALUES ($1, $2, $3, $4)";
const FORGET_PENDING: &str = "DELETE FROM sso_pending WHERE expires_at <= $1";
const FORGET_CLI_CODES: &str = "DELETE FROM sso_cli_codes WHERE expires_at <= $1";
const PUT_CLI_CODE: &str =
    "INSERT INTO sso_cli_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)";
const TAKE_CLI_CODE: &str =
    "DELETE FROM sso_cli_codes WHERE code_hash = $1 RETURNING user_id, expires_at";
/// Keeps the newest `$1`: the row `$1` back from the newest marks where the old ones start.
const FORGET_OLDEST_PENDING: &str = "DELETE FROM sso_pending WHERE created_at <= \
     (SELECT created_at FROM sso_pending ORDER BY created_at DESC LIMIT 1 OFFSET $1)";
const TAKE_PENDING: &str =
    "DELETE FROM sso_pending WHERE state_hash = $1 RETURNING sealed, expires_at";

/// Deletes the row `statement` takes under `hash` and returns its first column, unless its
/// second (its end) is not after `now`. One statement: two servers taking the same row at once
/// cannot both get it.
async fn take_unexpired<T>(
    store: &SqlStore,
    statement: &'static str,
    hash: [u8; 32],
    now: Millis,
) -> Result<Option<T>>
where
    T: Send + Unpin + 'static + sqlx::Type<Any> + for<'r> sqlx::Decode<'r, Any>,
{
    let taken: Option<(T, i64)> = store
        .write(move |conn| {
            Box::pin(
                sqlx::query_as(statement)
                    .bind(hash.to_vec())
                    .maybe(conn, Ok),
            )
        })
        .await?;
    Ok(taken.and_then(|(value, expires_at)| (expires_at > now).then_some(value)))
}

#[async_trait::async_trait]
impl SsoStore for SqlStore {
    async fn sso_identity_of(&self, user_id: i64) -> Result<Option<SsoIdentity>> {
        sqlx::query_as(&format!("{SELECT} WHERE user_id = $1"))
            .bind(user_id)
            .maybe(&self.read, Ok)
            .await
    }

    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> Result<Option<SsoIdentity>> {
        sqlx::query_as(&format!("{SELECT} WHERE issuer = $1 AND subject = $2"))
            .bind(issuer)
            .bind(subject)
            .maybe(&self.read, Ok)
            .await
    }

    async fn link_sso_identity(&self, identity: SsoIdentity) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                let refreshed = sqlx::query(REFRESH)
                    .bind(identity.user_id)
                    .bind(&identity.issuer)
                    .bind(&identity.subject)
                    .bind(&identity.email)
                    .run(conn)
                    .await?;
                if refreshed > 0 {
                    return Ok(());
                }
                sqlx::query(INSERT)
                    .bind(identity.user_id)
                    .bind(&identity.issuer)
                    .bind(&identity.subject)
                    .bind(&identity.email)
                    .bind(identity.linked_at)
                    .insert(conn, || {
                        "this sign-in identity or this member is already linked to another".into()
                    })
                    .await
            })
        })
        .await
    }

    async fn put_sso_pending(&self, pending: PendingSsoSignIn, at_most: i64) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(FORGET_PENDING)
                    .bind(pending.created_at)
                    .run(conn)
                    .await?;
                sqlx::query(FORGET_OLDEST_PENDING)
                    .bind((at_most - 1).max(0))
                    .run(conn)
                    .await?;
                sqlx::query(PUT_PENDING)
                    .bind(pending.state_hash.to_vec())
                    .bind(pending.sealed)
                    .bind(pending.created_at)
                    .bind(pending.expires_at)
                    .insert(conn, || "this sign-in state is taken".into())
                    .await
            })
        })
        .await
    }

    async fn take_sso_pending(&self, state_hash: [u8; 32], now: Millis) -> Result<Option<Vec<u8>>> {
        take_unexpired(self, TAKE_PENDING, state_hash, now).await
    }

    async fn forget_sso_pending(&self, now: Millis) -> Result<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut forgotten = 0;
                for statement in [FORGET_PENDING, FORGET_CLI_CODES] {
                    forgotten += sqlx::query(statement).bind(now).run(conn).await?;
                }
                Ok(forgotten)
            })
        })
        .await
    }

    async fn put_sso_cli_code(
        &self,
        code_hash: [u8; 32],
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(FORGET_CLI_CODES).bind(now).run(conn).await?;
                sqlx::query(PUT_CLI_CODE)
                    .bind(code_hash.to_vec())
                    .bind(user_id)
                    .bind(expires_at)
                    .run(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn take_sso_cli_code(&self, code_hash: [u8; 32], now: Millis) -> Result<Option<i64>> {
        take_unexpired(self, TAKE_CLI_CODE, code_hash, now).await
    }
}
