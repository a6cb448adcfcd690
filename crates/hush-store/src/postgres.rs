//! PostgreSQL backend: several hush servers may share one database; they tell each other
//! about changes with LISTEN/NOTIFY on the `hush_events` channel (the NOTIFY is sent in the
//! change's own transaction, see `store.rs`). This module connects and listens; the [`Store`]
//! methods themselves are `store.rs`'s.

use std::str::FromStr;
use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::Connection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::rows::db_err;
use crate::store::SqlStore;
use crate::writer::{WriteMode, Writer};
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The LISTEN/NOTIFY channel every hush server on a database listens on.
pub const CHANNEL: &str = "hush_events";
pub(crate) const NOTIFY: &str = "SELECT pg_notify($1, $2)";
/// A save in one statement: the version (only while `$9`, the base, is still the newest and
/// the environment exists; a version another server inserted meanwhile makes no row, not an
/// error that would abort the writer's shared transaction), its audit event (`$10`–`$19`),
/// the `shared_rev` of the environments including it, and the NOTIFY (`$20`, `$21`). When the
/// version is not inserted, nothing is, and no row comes back.
pub(crate) const SAVE_VERSION: &str = "WITH ins AS (INSERT INTO versions \
     (app_id, version, author_id, created_at, message, ciphertext, summary, restored_from) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
     WHERE EXISTS (SELECT 1 FROM environments WHERE id = $1) \
     AND COALESCE((SELECT MAX(version) FROM versions WHERE app_id = $1), 0) = $9 \
     ON CONFLICT (app_id, version) DO NOTHING \
     RETURNING app_id, version, author_id, created_at, message, summary, restored_from), \
     audited AS (INSERT INTO audit \
     (at, actor_kind, actor_id, actor_name, action, app_id, app_name, ip, outcome, detail) \
     SELECT $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM ins RETURNING id), \
     bumped AS (UPDATE environments SET shared_rev = shared_rev + 1 \
     WHERE id IN (SELECT env_id FROM env_includes WHERE doc_id = $1) \
     AND EXISTS (SELECT 1 FROM ins) RETURNING id), \
     notified AS MATERIALIZED (SELECT pg_notify($20, $21) FROM ins) \
     SELECT ins.app_id, ins.version, ins.author_id, u.name AS author_name, ins.created_at, \
     ins.message, ins.summary, ins.restored_from, \
     (SELECT COUNT(*) FROM audited) AS audited, (SELECT COUNT(*) FROM bumped) AS bumped, \
     (SELECT COUNT(*) FROM notified) AS notified \
     FROM ins LEFT JOIN users u ON u.id = ins.author_id";
/// Taken before the last-owner check: a concurrent demotion on another server waits for this
/// transaction, then sees its result.
pub(crate) const LOCK_OWNERS: &str = "SELECT id FROM users WHERE role = 'owner' FOR UPDATE";

const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const WRITE_MODE: WriteMode = WriteMode {
    begin: "BEGIN",
    commit_can_be_unknown: true,
};

/// Connects to the database `postgres://…` names and runs its migrations (sqlx holds an
/// advisory lock meanwhile, so servers starting together do not race). With
/// [`Open::Existing`], a database without hush's schema is refused.
pub async fn open(url: &str, mode: Open) -> Result<SqlStore> {
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
    sqlx::any::install_default_drivers();
    let any = AnyConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("cannot use the PostgreSQL URL: {e}")))?;
    let pool = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(any)
        .await
        .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
    if mode == Open::Existing {
        let has_schema: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&pool)
                .await
                .map_err(db_err)?;
        if !has_schema {
            return Err(StoreError::Config(
                "this PostgreSQL database holds no hush data yet (check --database-url)".into(),
            ));
        }
    }
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?;
    let store = SqlStore {
        kind: Backend::Postgres,
        read: pool.clone(),
        writer: Writer::start(pool, WRITE_MODE),
        // The listener's connection comes from a pool of its own (what PgListener takes).
        events: Some(Box::new(PgEvents {
            pool: PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options),
        })),
    };
    store.fill_name_keys().await?;
    Ok(store)
}

/// LISTEN on [`CHANNEL`], on a connection of its own.
struct PgEvents {
    pool: PgPool,
}

#[async_trait::async_trait]
impl EventBus for PgEvents {
    /// When the connection drops, events sent while it was down are lost: the stream listens
    /// again on a new connection, then yields an error, and the subscriber re-reads what it caches.
    async fn subscribe(&self) -> Result<BoxStream<'static, Result<StoreEvent>>> {
        let listener = listen(&self.pool).await?;
        let pool = self.pool.clone();
        let events = futures::stream::unfold((pool, listener), |(pool, mut listener)| async move {
            loop {
                let received = listener.try_recv().await;
                match received {
                    Ok(Some(n)) => match serde_json::from_str::<StoreEvent>(n.payload()) {
                        Ok(event) => return Some((Ok(event), (pool, listener))),
                        Err(e) => tracing::warn!(
                            channel = CHANNEL,
                            error = %e,
                            "ignoring a malformed hush event notification"
                        ),
                    },
                    // The connection was lost, and with it whatever was sent meanwhile. Listen
                    // again FIRST, then say so: the subscriber's catch-up then sees everything
                    // committed up to a moment when this server was already listening.
                    Ok(None) | Err(_) => {
                        drop(listener);
                        let listener = listen_until_it_works(&pool).await;
                        let lost = StoreError::Unavailable(
                            "the connection listening for events was lost; events sent meanwhile were missed".into(),
                        );
                        return Some((Err(lost), (pool, listener)));
                    }
                }
            }
        });
        Ok(Box::pin(events))
    }
}

/// A new connection listening on [`CHANNEL`].
async fn listen(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.map_err(db_err)?;
    listener.listen(CHANNEL).await.map_err(db_err)?;
    Ok(listener)
}

/// [`listen`], retried (200 ms doubling to 5 s) until the database answers again.
async fn listen_until_it_works(pool: &PgPool) -> PgListener {
    let mut wait = Duration::from_millis(200);
    loop {
        match listen(pool).await {
            Ok(listener) => return listener,
            Err(err) => {
                tracing::debug!(error = %err, "cannot listen for events yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}
