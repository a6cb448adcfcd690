//! Personal access tokens and app tokens; only their hashes are stored. [`TokenStore`] is part
//! of every [`Store`].

use sqlx::{Any, Executor};

use crate::rows;
use crate::store::{Fetch, Run, Scalar, SqlStore, insert_audit, notify};
use crate::*;

#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_token(&self, token: NewToken, audit: AuditEvent) -> Result<TokenRecord>;
    /// `NotFound` when no token has that hash (revoked and expired ones are still returned: the caller decides).
    async fn find_token(&self, token_hash: &[u8]) -> Result<TokenRecord>;
    async fn get_token(&self, id: i64) -> Result<TokenRecord>;
    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>>;
    /// Revokes at `at` (a second revocation keeps the first time) and returns the token as it
    /// now is ([`StoreEvent::TokenRevoked`]).
    async fn revoke_token(&self, id: i64, at: Millis, audit: AuditEvent) -> Result<TokenRecord>;
    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()>;
}

/// The token `id`, read from the pool or the writer's connection.
async fn get_token_from<'c>(
    from: impl Executor<'c, Database = Any>,
    id: i64,
) -> Result<TokenRecord> {
    sqlx::query_as::<_, rows::TokenRow>(sql::GET_TOKEN)
        .bind(id)
        .one(from, rows::TokenRow::into_token)
        .await
}

#[async_trait::async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, token: NewToken, audit: AuditEvent) -> Result<TokenRecord> {
        self.write(move |conn| {
            Box::pin(async move {
                let id: i64 = sqlx::query_scalar(sql::INSERT_TOKEN)
                    .bind(token.kind.as_str())
                    .bind(&token.name)
                    .bind(&token.token_hash)
                    .bind(&token.prefix)
                    .bind(token.user_id)
                    .bind(token.app_id)
                    .bind(token.created_at)
                    .bind(token.expires_at)
                    .insert_returning(&mut *conn, || {
                        "a token with this value already exists".into()
                    })
                    .await?;
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
            .one(&self.read, rows::TokenRow::into_token)
            .await
    }

    async fn get_token(&self, id: i64) -> Result<TokenRecord> {
        get_token_from(&self.read, id).await
    }

    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, rows::TokenRow>(sql::LIST_TOKENS)
            .bind(filter.user_id)
            .bind(filter.app_id)
            .bind(filter.kind.map(TokenKind::as_str))
            .all(&self.read, rows::TokenRow::into_token)
            .await
    }

    async fn revoke_token(&self, id: i64, at: Millis, audit: AuditEvent) -> Result<TokenRecord> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(sql::REVOKE_TOKEN)
                    .bind(id)
                    .bind(at)
                    .run_one(conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::TokenRevoked { token_id: id }).await?;
                get_token_from(&mut *conn, id).await
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
                        .run(conn)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}
