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

use crate::rows::{self, db_err};
use crate::store::SqlStore;
use crate::writer::{Save, WriteMode, Writer};
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The LISTEN/NOTIFY channel every hush server on a database listens on.
pub const CHANNEL: &str = "hush_events";
pub(crate) const NOTIFY: &str = "SELECT pg_notify($1, $2)";
/// A group of saves in one statement, in the writer's transaction: `$1` is a JSON array of
/// [`save_input`]s, `$2` the NOTIFY channel. A save is inserted only while its base is still
/// the newest and its environment exists, and only the first of the group for a version
/// number (a version inserted meanwhile, here or by another server, makes no row, not an
/// error); with it go its audit event, the `shared_rev` of the environments including it and
/// the NOTIFYs. A row comes back, numbered `i`, for each save inserted. Versions go in by
/// `(app_id, version)`, so two servers' groups take their key locks in the same order and
/// cannot deadlock on each other.
pub(crate) const SAVE_VERSIONS: &str = "WITH input AS (SELECT * FROM json_to_recordset($1::json) AS t \
     (i BIGINT, app_id BIGINT, version BIGINT, author_id BIGINT, created_at BIGINT, message TEXT, \
     ciphertext TEXT, summary TEXT, restored_from BIGINT, base BIGINT, \
     at BIGINT, actor_kind TEXT, actor_id BIGINT, actor_name TEXT, action TEXT, \
     audit_app_id BIGINT, app_name TEXT, ip TEXT, outcome TEXT, detail TEXT, event TEXT)), \
     first AS (SELECT DISTINCT ON (app_id, version) * FROM input ORDER BY app_id, version, i), \
     ins AS (INSERT INTO versions \
     (app_id, version, author_id, created_at, message, ciphertext, summary, restored_from) \
     SELECT app_id, version, author_id, created_at, message, decode(ciphertext, 'hex'), summary, \
     restored_from FROM first f \
     WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = f.app_id) \
     AND COALESCE((SELECT MAX(v.version) FROM versions v WHERE v.app_id = f.app_id), 0) = f.base \
     ORDER BY app_id, version \
     ON CONFLICT (app_id, version) DO NOTHING \
     RETURNING app_id, version), \
     saved AS (SELECT f.* FROM first f JOIN ins USING (app_id, version)), \
     audited AS (INSERT INTO audit \
     (at, actor_kind, actor_id, actor_name, action, app_id, app_name, ip, outcome, detail) \
     SELECT at, actor_kind, actor_id, actor_name, action, audit_app_id, app_name, ip, outcome, \
     detail FROM saved ORDER BY i RETURNING id), \
     bumped AS (UPDATE environments e SET shared_rev = e.shared_rev + (SELECT COUNT(*) \
     FROM saved s JOIN env_includes ei ON ei.doc_id = s.app_id WHERE ei.env_id = e.id) \
     WHERE e.id IN (SELECT ei.env_id FROM env_includes ei JOIN saved s ON ei.doc_id = s.app_id) \
     RETURNING e.id, e.shared_rev), \
     notified AS MATERIALIZED (SELECT pg_notify($2, event) FROM (SELECT event FROM saved ORDER BY i) s), \
     announced AS MATERIALIZED (SELECT pg_notify($2, json_build_object('kind', 'shared_changed', \
     'env_id', id, 'shared_rev', shared_rev)::text) FROM bumped) \
     SELECT s.i, s.app_id, s.version, s.author_id, u.name AS author_name, s.created_at, \
     s.message, s.summary, s.restored_from, \
     (SELECT COUNT(*) FROM audited) AS audited, (SELECT COUNT(*) FROM bumped) AS bumped, \
     (SELECT COUNT(*) FROM notified) AS notified, (SELECT COUNT(*) FROM announced) AS announced \
     FROM saved s LEFT JOIN users u ON u.id = s.author_id";

/// Save number `i` of a group as one element of [`SAVE_VERSIONS`]'s input (the ciphertext in
/// hex; nothing in it is plain text).
pub(crate) fn save_input(i: usize, save: &Save) -> serde_json::Value {
    let (new, audit) = (&save.new, &save.audit);
    let event = StoreEvent::NewVersion {
        app_id: save.app_id,
        version: new.version,
    };
    serde_json::json!({
        "i": i, "app_id": save.app_id, "version": new.version, "author_id": new.author_id,
        "created_at": new.created_at, "message": new.message, "ciphertext": hex::encode(&new.ciphertext),
        "summary": rows::to_json(&new.summary), "restored_from": new.restored_from, "base": save.base,
        "at": audit.at, "actor_kind": audit.actor_kind.as_str(), "actor_id": audit.actor_id,
        "actor_name": audit.actor_name, "action": audit.action.as_str(), "audit_app_id": audit.app_id,
        "app_name": audit.app_name, "ip": audit.ip, "outcome": audit.outcome.as_str(),
        "detail": rows::to_json(&audit.detail),
        "event": serde_json::to_string(&event).expect("StoreEvent always serializes"),
    })
}

/// Taken before the last-owner check: a concurrent demotion on another server waits for this
/// transaction, then sees its result.
pub(crate) const LOCK_OWNERS: &str = "SELECT id FROM users WHERE role = 'owner' FOR UPDATE";

const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const WRITE_MODE: WriteMode = WriteMode {
    begin: "BEGIN",
    commit_can_be_unknown: true,
    save_many: crate::store::save_many_pg,
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
