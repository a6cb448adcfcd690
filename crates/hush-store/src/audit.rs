//! The audit log, append-only: events that are not part of a change (reads, sign-ins,
//! refusals), and queries over it. [`AuditStore`] is part of every [`Store`]. Changes write
//! their own event in their transaction (`store::insert_audit`).

use crate::rows;
use crate::store::{Fetch, SqlStore, insert_audit};
use crate::*;

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Events that are not part of a change (reads, sign-ins, refusals), in one transaction.
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<()>;
    async fn query_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>>;
}

#[async_trait::async_trait]
impl AuditStore for SqlStore {
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
            .all(&self.read, rows::AuditRow::into_record)
            .await
    }
}
