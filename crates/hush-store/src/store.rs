//! [`SqlStore`], the one [`Store`] implementation both backends share: every method's SQL
//! (from [`crate::sql`]), its bound parameters and its row mapping (from [`crate::rows`]) are
//! written once, over sqlx's `Any` driver. This module holds the versions, the operations and
//! the statements several writes share; the other concerns have a module each (see the crate
//! map). Reads go to the reader pool; every write goes through
//! the [`Writer`] (one transaction per group of concurrent writes). What differs between the
//! backends is a handful of `if self.kind == Backend::Postgres` lines: NOTIFY and row locks.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, AnyConnection, AnyPool, Executor, FromRow};

use crate::rows::{self, check_next_version, db_err, stale_base, unique_as};
use crate::writer::{Save, Writer, is_refusal};
use crate::*;

pub struct SqlStore {
    pub(crate) kind: Backend,
    /// Reads (on PostgreSQL the writer takes its connection from the same pool).
    pub(crate) read: AnyPool,
    pub(crate) writer: Writer,
    pub(crate) events: Option<Box<dyn EventBus>>,
}

/// Runs a statement that returns no rows, with the store's errors.
pub(crate) trait Run {
    /// How many rows it changed.
    async fn run(self, conn: &mut AnyConnection) -> Result<u64>;
    /// `NotFound` when it changed no row.
    async fn run_one(self, conn: &mut AnyConnection) -> Result<()>;
    /// Runs an insert; a uniqueness violation is `Conflict(taken())`.
    async fn insert(self, conn: &mut AnyConnection, taken: impl FnOnce() -> String) -> Result<()>;
}

impl<'q> Run for Query<'q, Any, AnyArguments<'q>> {
    async fn run(self, conn: &mut AnyConnection) -> Result<u64> {
        let done = self.execute(&mut *conn).await.map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn run_one(self, conn: &mut AnyConnection) -> Result<()> {
        match self.run(conn).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn insert(self, conn: &mut AnyConnection, taken: impl FnOnce() -> String) -> Result<()> {
        self.execute(&mut *conn).await.map_err(unique_as(taken))?;
        Ok(())
    }
}

/// Reads rows of type `R` and makes each a record with `into`, with the store's errors.
pub(crate) trait Fetch<'q, R> {
    /// The one row; `NotFound` when there is none.
    async fn one<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnOnce(R) -> Result<T>,
    ) -> Result<T>;
    /// The row if there is one.
    async fn maybe<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnOnce(R) -> Result<T>,
    ) -> Result<Option<T>>;
    /// Every row, in the statement's order.
    async fn all<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnMut(R) -> Result<T>,
    ) -> Result<Vec<T>>;
}

impl<'q, R> Fetch<'q, R> for QueryAs<'q, Any, R, AnyArguments<'q>>
where
    R: Send + Unpin + for<'r> FromRow<'r, AnyRow> + 'q,
{
    async fn one<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnOnce(R) -> Result<T>,
    ) -> Result<T> {
        into(self.fetch_one(from).await.map_err(db_err)?)
    }

    async fn maybe<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnOnce(R) -> Result<T>,
    ) -> Result<Option<T>> {
        self.fetch_optional(from)
            .await
            .map_err(db_err)?
            .map(into)
            .transpose()
    }

    async fn all<T>(
        self,
        from: impl Executor<'q, Database = Any>,
        into: impl FnMut(R) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.fetch_all(from).await.map_err(db_err)?;
        rows.into_iter().map(into).collect()
    }
}

/// Reads the first column of rows (a count, an id, one field), with the store's errors.
pub(crate) trait Scalar<'q, O> {
    /// The one value; `NotFound` when there is no row.
    async fn value(self, from: impl Executor<'q, Database = Any>) -> Result<O>;
    /// The value if there is a row.
    async fn maybe_value(self, from: impl Executor<'q, Database = Any>) -> Result<Option<O>>;
    /// Every row's value, in the statement's order.
    async fn values(self, from: impl Executor<'q, Database = Any>) -> Result<Vec<O>>;
    /// Runs an insert that returns a value (the new row's id); a uniqueness violation is
    /// `Conflict(taken())`.
    async fn insert_returning(
        self,
        from: impl Executor<'q, Database = Any>,
        taken: impl FnOnce() -> String,
    ) -> Result<O>;
}

impl<'q, O> Scalar<'q, O> for QueryScalar<'q, Any, O, AnyArguments<'q>>
where
    O: Send + Unpin + 'q,
    (O,): Send + Unpin + for<'r> FromRow<'r, AnyRow>,
{
    async fn value(self, from: impl Executor<'q, Database = Any>) -> Result<O> {
        self.fetch_one(from).await.map_err(db_err)
    }

    async fn maybe_value(self, from: impl Executor<'q, Database = Any>) -> Result<Option<O>> {
        self.fetch_optional(from).await.map_err(db_err)
    }

    async fn values(self, from: impl Executor<'q, Database = Any>) -> Result<Vec<O>> {
        self.fetch_all(from).await.map_err(db_err)
    }

    async fn insert_returning(
        self,
        from: impl Executor<'q, Database = Any>,
        taken: impl FnOnce() -> String,
    ) -> Result<O> {
        self.fetch_one(from).await.map_err(unique_as(taken))
    }
}

// ---- statements that several writes share; each runs on the writer's connection ----

pub(crate) async fn insert_audit(conn: &mut AnyConnection, ev: &AuditEvent) -> Result<()> {
    bind_audit(sqlx::query(&sql::INSERT_AUDIT), ev)
        .run(conn)
        .await?;
    Ok(())
}

/// Binds an audit row's ten columns, in [`sql::insert_audits`]'s order.
fn bind_audit<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    ev: &'q AuditEvent,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
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
            .run(conn)
            .await?;
    }
    Ok(())
}

/// Inserts `new` as the next version of environment `app_id` (see [`Store::create_version`]),
/// with its audit event and [`StoreEvent::NewVersion`], on the writer's connection; when it is
/// a shared document's, the environments that include it move on too.
pub(crate) async fn insert_version_on(
    conn: &mut AnyConnection,
    kind: Backend,
    save: &Save,
) -> Result<VersionMeta> {
    if kind == Backend::Postgres {
        let mut answers = save_many_pg(conn, std::slice::from_ref(save)).await?;
        return answers.pop().expect("one answer per save");
    }
    let Save {
        app_id,
        base,
        ref new,
        ref audit,
    } = *save;
    let inserted = bind_save(sqlx::query_as(&sql::INSERT_VERSION), save)
        .bind(0_i64)
        .fetch_optional(&mut *conn)
        .await;
    match inserted {
        Ok(Some(_)) => {}
        // Not inserted: a stale base (a version this base was to become may have come in
        // meanwhile, `ON CONFLICT DO NOTHING`) or a missing environment; it says which.
        Ok(None) => return Err(not_inserted(conn, app_id, base).await),
        Err(e) => return Err(db_err(e)),
    }
    let meta = sqlx::query_as::<_, rows::VersionMetaRow>(sql::GET_VERSION_META)
        .bind(app_id)
        .bind(new.version)
        .one(&mut *conn, rows::VersionMetaRow::into_meta)
        .await?;
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

/// [`SaveMany`] on SQLite: the group's versions in one statement, then their audit rows in
/// one and the `shared_rev` of the environments including them in one, instead of four
/// statements a save. Every statement is a trip to sqlx's SQLite thread and back, and those
/// hand-offs, not SQLite, were most of a save's cost. A save the group statement did not
/// insert (a stale base, an environment gone, or a base that only this group made current)
/// then goes the one-by-one way, which inserts it or gives the refusal.
pub(crate) fn save_many_sqlite<'c>(
    conn: &'c mut AnyConnection,
    saves: &'c [Save],
) -> BoxFuture<'c, Result<Vec<Result<VersionMeta>>>> {
    Box::pin(async move {
        let inserted = if saves.len() > 1 {
            insert_group_sqlite(conn, saves).await?
        } else {
            vec![false; saves.len()]
        };
        let mut results = Vec::with_capacity(saves.len());
        for (save, inserted) in saves.iter().zip(&inserted) {
            let result = if *inserted {
                Ok(meta_of(save))
            } else {
                insert_version_on(conn, Backend::Sqlite, save).await
            };
            match result {
                Err(e) if !is_refusal(&e) => return Err(e),
                result => results.push(result),
            }
        }
        author_names(conn, &mut results).await?;
        Ok(results)
    })
}

/// Inserts what it can of a group of saves on SQLite (see [`save_many_sqlite`]): for each
/// save, whether it is in.
async fn insert_group_sqlite(conn: &mut AnyConnection, saves: &[Save]) -> Result<Vec<bool>> {
    let statement = sql::insert_versions(saves.len());
    let mut query = sqlx::query_as(&statement);
    for (i, save) in saves.iter().enumerate() {
        query = bind_save(query, save).bind(i as i64);
    }
    let returned = query.fetch_all(&mut *conn).await.map_err(db_err)?;
    // Two saves of one version are the same save twice over: the first of them is the one in.
    let mut inserted = vec![false; saves.len()];
    for key in returned {
        if let Some(i) = saves.iter().position(|s| (s.app_id, s.new.version) == key) {
            inserted[i] = true;
        }
    }
    let audits: Vec<&AuditEvent> = saves
        .iter()
        .zip(&inserted)
        .filter(|(_, inserted)| **inserted)
        .map(|(save, _)| &save.audit)
        .collect();
    if audits.is_empty() {
        return Ok(inserted);
    }
    let statement = sql::insert_audits(audits.len());
    let mut query = sqlx::query(&statement);
    for ev in audits {
        query = bind_audit(query, ev);
    }
    query.run(conn).await?;
    // A shared document's new version moves every environment that includes it on, once per
    // version (as `bump_including` does for one).
    let docs: Vec<i64> = saves
        .iter()
        .zip(&inserted)
        .filter(|(_, inserted)| **inserted)
        .map(|(save, _)| save.app_id)
        .collect();
    let list = sql::numbered_list(docs.len());
    let statement = format!(
        "UPDATE environments SET shared_rev = shared_rev + (SELECT COUNT(*) FROM env_includes ei \
         WHERE ei.env_id = environments.id AND ei.doc_id IN ({list})) \
         WHERE id IN (SELECT env_id FROM env_includes WHERE doc_id IN ({list}))"
    );
    let mut query = sqlx::query(&statement);
    for doc in docs {
        query = query.bind(doc);
    }
    query.run(conn).await?;
    Ok(inserted)
}

/// A version insert that answers with the `(app_id, version)` it inserted.
type VersionInsert<'q> = QueryAs<'q, Any, (i64, i64), AnyArguments<'q>>;

/// Binds a save's first nine values, in [`sql::insert_versions`]'s order (the caller adds its
/// place in the group).
fn bind_save<'q>(query: VersionInsert<'q>, save: &'q Save) -> VersionInsert<'q> {
    let new = &save.new;
    query
        .bind(save.app_id)
        .bind(new.version)
        .bind(new.author_id)
        .bind(new.created_at)
        .bind(new.message.as_deref())
        .bind(&new.ciphertext)
        .bind(rows::to_json(&new.summary))
        .bind(new.restored_from)
        .bind(save.base)
}

/// What [`sql::GET_VERSION_META`] reads back for a save just inserted, but the author's name.
fn meta_of(save: &Save) -> VersionMeta {
    VersionMeta {
        app_id: save.app_id,
        version: save.new.version,
        author_id: save.new.author_id,
        author_name: None,
        created_at: save.new.created_at,
        message: save.new.message.clone(),
        summary: save.new.summary.clone(),
        restored_from: save.new.restored_from,
    }
}

/// Fills in the author names [`meta_of`] left out, with one query for the group.
async fn author_names(conn: &mut AnyConnection, results: &mut [Result<VersionMeta>]) -> Result<()> {
    let mut ids: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|meta| meta.author_name.is_none())
        .filter_map(|meta| meta.author_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let list = sql::numbered_list(ids.len());
    let statement = format!("SELECT id, name FROM users WHERE id IN ({list})");
    let mut query = sqlx::query_as::<_, (i64, String)>(&statement);
    for id in ids {
        query = query.bind(id);
    }
    let names: std::collections::HashMap<i64, String> = query
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .into_iter()
        .collect();
    for meta in results.iter_mut().filter_map(|r| r.as_mut().ok()) {
        if meta.author_name.is_none() {
            meta.author_name = meta.author_id.and_then(|id| names.get(&id).cloned());
        }
    }
    Ok(())
}

/// [`SaveMany`] on PostgreSQL: every save of the group in one statement
/// ([`postgres::SAVE_VERSIONS`]), so a group of 32 costs one round trip rather than 32.
pub(crate) fn save_many_pg<'c>(
    conn: &'c mut AnyConnection,
    saves: &'c [Save],
) -> BoxFuture<'c, Result<Vec<Result<VersionMeta>>>> {
    Box::pin(async move {
        let input: Vec<serde_json::Value> = saves
            .iter()
            .enumerate()
            .map(|(i, save)| postgres::save_input(i, save))
            .collect();
        let rows = sqlx::query(postgres::SAVE_VERSIONS)
            .bind(serde_json::Value::Array(input).to_string())
            .bind(postgres::CHANNEL)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let mut made: Vec<Option<VersionMeta>> = saves.iter().map(|_| None).collect();
        for row in rows {
            let i: i64 = sqlx::Row::try_get(&row, "i").map_err(db_err)?;
            let meta = rows::VersionMetaRow::from_row(&row)
                .map_err(db_err)?
                .into_meta()?;
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| made.get_mut(i))
                .ok_or_else(|| rows::corrupt(format!("a save numbered {i} that was not sent")))?;
            *slot = Some(meta);
        }
        let mut results = Vec::with_capacity(saves.len());
        for (save, made) in saves.iter().zip(made) {
            results.push(match made {
                Some(meta) => Ok(meta),
                None => match not_inserted(conn, save.app_id, save.base).await {
                    refusal if is_refusal(&refusal) => Err(refusal),
                    failure => return Err(failure),
                },
            });
        }
        Ok(results)
    })
}

/// Why a version was not inserted: its environment is gone, or its base is not the newest.
async fn not_inserted(conn: &mut AnyConnection, app_id: i64, base: i64) -> StoreError {
    let exists: i64 = match sqlx::query_scalar(sql::ENV_EXISTS)
        .bind(app_id)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(exists) => exists,
        Err(e) => return db_err(e),
    };
    if exists == 0 {
        return StoreError::NotFound;
    }
    match sqlx::query_scalar(sql::NEWEST_VERSION_NUMBER)
        .bind(app_id)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(newest) => stale_base(base, Some(newest)),
        Err(e) => db_err(e),
    }
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
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.kind
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
        self.writer
            .save(Save {
                app_id,
                base,
                new,
                audit,
            })
            .await
    }

    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>> {
        sqlx::query_as::<_, rows::VersionRow>(sql::LATEST_VERSION)
            .bind(app_id)
            .maybe(&self.read, rows::VersionRow::into_record)
            .await
    }

    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord> {
        sqlx::query_as::<_, rows::VersionRow>(sql::GET_VERSION)
            .bind(app_id)
            .bind(version)
            .one(&self.read, rows::VersionRow::into_record)
            .await
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
            .all(&self.read, rows::VersionMetaRow::into_meta)
            .await
    }

    // ---- operations ----

    async fn sweep(&self, policy: SweepPolicy) -> Result<SweepReport> {
        self.write(move |conn| {
            Box::pin(async move {
                let sessions = sqlx::query(sql::SWEEP_SESSIONS)
                    .bind(policy.now)
                    .bind(policy.sessions_idle_before)
                    .run(conn)
                    .await?;
                let invites = sqlx::query(sql::SWEEP_INVITES)
                    .bind(policy.now)
                    .run(conn)
                    .await?;
                let instances = sqlx::query(sql::SWEEP_INSTANCES)
                    .bind(policy.instances_before)
                    .run(conn)
                    .await?;
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
                    .run(conn)
                    .await?;
                sqlx::query(sql::PROBE_SHRINK).run(conn).await?;
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
