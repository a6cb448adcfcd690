//! PostgreSQL backend: several hush servers may share one database; they tell each other
//! about changes with LISTEN/NOTIFY on the `hush_events` channel. This module connects and
//! does what only PostgreSQL does (NOTIFY, LISTEN); the [`Store`] methods themselves are
//! `shared.rs`'s.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::migrate::Migrator;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgQueryResult, Postgres,
};
use sqlx::{Connection, Transaction};

use crate::rows::db_err;
use crate::shared::Backend;
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

/// One pool for reads and writes; NOTIFY and LISTEN on [`CHANNEL`].
#[async_trait::async_trait]
impl Backend for PgStore {
    type Db = Postgres;

    const NAME: &'static str = "postgres";

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Notifies every listening server of the new version; PostgreSQL sends it when, and only
    /// if, the transaction commits.
    async fn version_created(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &StoreEvent,
    ) -> Result<()> {
        sqlx::query(NOTIFY)
            .bind(event_json(event))
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn publish_event(&self, event: StoreEvent) -> Result<()> {
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
    async fn event_stream(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db_err)?;
        listener.listen(CHANNEL).await.map_err(db_err)?;
        // `try_recv` rather than `into_stream`: it says when the connection was lost (and is
        // being re-established), which the caller must hear, since events sent meanwhile are gone.
        let events = futures::stream::unfold(listener, |mut listener| async move {
            loop {
                let item = match listener.try_recv().await {
                    Ok(Some(n)) => match serde_json::from_str::<StoreEvent>(n.payload()) {
                        Ok(event) => Ok(event),
                        Err(e) => {
                            tracing::warn!(
                                channel = CHANNEL,
                                error = %e,
                                "ignoring a malformed hush event notification"
                            );
                            continue;
                        }
                    },
                    Ok(None) => Err(StoreError::Other(
                        "the connection listening for events was lost; events sent meanwhile were missed".into(),
                    )),
                    Err(e) => {
                        // Do not spin while the database stays away.
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        Err(db_err(e))
                    }
                };
                return Some((item, listener));
            }
        });
        Ok(Some(Box::pin(events)))
    }

    async fn write_backup(&self, _path: &Path) -> Result<()> {
        Err(StoreError::Config(
            "backups of PostgreSQL are pg_dump's job".into(),
        ))
    }
}
