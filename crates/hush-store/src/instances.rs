//! What running copies of an app report (host, pid, applied version, status). [`InstanceStore`]
//! is part of every [`Store`].

use crate::rows;
use crate::store::{Fetch, Run, SqlStore};
use crate::*;

/// How many running copies an environment keeps: a new one beyond this replaces the one that
/// reported longest ago.
pub const MAX_INSTANCES: i64 = 500;

#[async_trait::async_trait]
pub trait InstanceStore: Send + Sync {
    /// Records a running copy's report, keeping the environment's [`MAX_INSTANCES`] newest.
    async fn report_instance(&self, report: InstanceReport) -> Result<()>;
    /// Instances that reported at or after `since`, newest report first (at most
    /// [`MAX_INSTANCES`]).
    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>>;
}

#[async_trait::async_trait]
impl InstanceStore for SqlStore {
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
                    .run(&mut *conn)
                    .await?;
                sqlx::query(sql::TRIM_INSTANCES)
                    .bind(report.app_id)
                    .bind(MAX_INSTANCES)
                    .run(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        sqlx::query_as::<_, rows::InstanceRow>(sql::LIST_INSTANCES)
            .bind(app_id)
            .bind(since)
            .bind(MAX_INSTANCES)
            .all(&self.read, rows::InstanceRow::into_report)
            .await
    }
}
