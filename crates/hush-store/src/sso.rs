//! Single sign-on links: which provider identity (issuer and subject) a member signs in with.
//! [`SsoStore`] is part of every [`crate::Store`].

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::Result;
use crate::rows::{db_err, unique_as};
use crate::store::SqlStore;

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
}

const SELECT: &str = "SELECT user_id, issuer, subject, email, linked_at FROM sso_identities";
const INSERT: &str = "INSERT INTO sso_identities (user_id, issuer, subject, email, linked_at) \
     VALUES ($1, $2, $3, $4, $5)";
const REFRESH: &str = "UPDATE sso_identities SET email = $4 \
     WHERE user_id = $1 AND issuer = $2 AND subject = $3";

#[async_trait::async_trait]
impl SsoStore for SqlStore {
    async fn sso_identity_of(&self, user_id: i64) -> Result<Option<SsoIdentity>> {
        sqlx::query_as::<_, SsoIdentity>(&format!("{SELECT} WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> Result<Option<SsoIdentity>> {
        sqlx::query_as::<_, SsoIdentity>(&format!("{SELECT} WHERE issuer = $1 AND subject = $2"))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
    }

    async fn link_sso_identity(&self, identity: SsoIdentity) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                let refreshed = sqlx::query(REFRESH)
                    .bind(identity.user_id)
                    .bind(&identity.issuer)
                    .bind(&identity.subject)
                    .bind(&identity.email)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                if refreshed.rows_affected() > 0 {
                    return Ok(());
                }
                sqlx::query(INSERT)
                    .bind(identity.user_id)
                    .bind(&identity.issuer)
                    .bind(&identity.subject)
                    .bind(&identity.email)
                    .bind(identity.linked_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(unique_as(|| {
                        "this sign-in identity or this member is already linked to another".into()
                    }))?;
                Ok(())
            })
        })
        .await
    }
}
