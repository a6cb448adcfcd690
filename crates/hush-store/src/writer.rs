//! Every write runs here. One task owns the write connection and runs the writes that arrive
//! while it is busy as one transaction (group commit): each write in a savepoint of its own, so
//! a write refused for its own reasons (a stale base, a taken name) changes nothing and the
//! others still commit; one commit, one fsync, for all of them. Nobody hears "done" before the
//! commit has succeeded. Saves ([`Writer::save`]) go first and without savepoints: a refused
//! save changes nothing and raises no error, and the backend inserts the group's saves
//! together ([`WriteMode::save_many`]: on PostgreSQL one statement, one round trip, for all;
//! on SQLite three statements for all instead of four a save).
//!
//! A write that fails for the database's reasons (disk full, I/O error, a lost connection)
//! rolls back the whole transaction, and the connection is thrown away: a connection that saw
//! a failed commit is never trusted again (SQLite may keep it inside a transaction nobody can
//! finish — the saves after it would be answered but never committed).

use std::any::Any as AnyOutput;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor};
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use crate::rows::{db_err, outcome_unknown, unavailable};
use crate::{AuditEvent, NewVersion, Result, StoreError, VersionMeta, WriteHealth, now_millis};

/// The most writes one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

type Output = Box<dyn AnyOutput + Send>;
type JobFn = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Output>> + Send>;

struct Job {
    work: Work,
    done: oneshot::Sender<Result<Output>>,
}

/// A write of its own, or a save, which the backend runs together with the other saves of
/// its group ([`WriteMode::save_many`]).
enum Work {
    Run(JobFn),
    Save(Box<Save>),
}

/// A new version of environment `app_id` on top of `base`, with its audit event.
pub(crate) struct Save {
    pub(crate) app_id: i64,
    pub(crate) base: i64,
    pub(crate) new: NewVersion,
    pub(crate) audit: AuditEvent,
}

/// Inserts a group's saves in the open transaction: one answer per save, in order (a refused
/// save has changed nothing); `Err` when the transaction failed as a whole.
pub(crate) type SaveMany = for<'c> fn(
    &'c mut AnyConnection,
    &'c [Save],
) -> BoxFuture<'c, Result<Vec<Result<VersionMeta>>>>;

/// How the backend starts a write transaction, whether a broken connection during COMMIT
/// leaves the outcome unknown (a network database) or not (a local file), and how it inserts
/// a group's saves.
#[derive(Clone, Copy)]
pub(crate) struct WriteMode {
    pub(crate) begin: &'static str,
    pub(crate) commit_can_be_unknown: bool,
    pub(crate) save_many: SaveMany,
}

pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    health: Arc<Mutex<WriteHealth>>,
    pool: AnyPool,
    /// Tells the task to give its connection back, so the pool can close.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Writer {
    /// Starts the writer task on connections from `pool` (it holds one at a time).
    pub(crate) fn start(pool: AnyPool, mode: WriteMode) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let health = Arc::new(Mutex::new(WriteHealth::Ok));
        let closing = tokio::sync::watch::Sender::new(false);
        tokio::spawn(write_loop(
            pool.clone(),
            mode,
            queue,
            health.clone(),
            closing.subscribe(),
        ));
        Writer {
            jobs,
            health,
            pool,
            closing,
        }
    }

    /// Runs `write` inside the writer's transaction and returns its result once committed.
    /// `write` must not begin or end transactions itself.
    pub(crate) async fn run<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let run: JobFn = Box::new(move |conn| {
            Box::pin(async move { write(conn).await.map(|out| Box::new(out) as Output) })
        });
        self.submit(Work::Run(run)).await
    }

    /// Inserts a new version in the writer's transaction, in one statement with the other
    /// saves of its group where the backend can (see [`WriteMode::save_many`]).
    pub(crate) async fn save(&self, save: Save) -> Result<VersionMeta> {
        self.submit(Work::Save(Box::new(save))).await
    }

    async fn submit<T: 'static>(&self, work: Work) -> Result<T> {
        let (done, result) = oneshot::channel();
        let closed = || StoreError::Unavailable("the store is closed".into());
        self.jobs
            .send(Job { work, done })
            .await
            .map_err(|_| closed())?;
        let output = result.await.map_err(|_| closed())??;
        Ok(*output
            .downcast::<T>()
            .expect("a write's output has the write's type"))
    }

    /// Closes the write connection; writes after this fail.
    pub(crate) async fn close(&self) {
        self.closing.send_replace(true);
        self.pool.close().await;
    }

    pub(crate) fn health(&self) -> WriteHealth {
        self.health.lock().expect("write health lock").clone()
    }
}

async fn write_loop(
    pool: AnyPool,
    mode: WriteMode,
    mut queue: mpsc::Receiver<Job>,
    health: Arc<Mutex<WriteHealth>>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let mut connection: Option<PoolConnection<Any>> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let received = tokio::select! {
            n = queue.recv_many(&mut batch, MAX_BATCH) => n,
            _ = closing.wait_for(|c| *c) => 0,
        };
        if received == 0 {
            break;
        }
        let jobs: Vec<Job> = std::mem::take(&mut batch);
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(err) => {
                    let err = unavailable(db_err(err));
                    set_failing(&health, &err);
                    fail_all(jobs.into_iter().map(|j| j.done), &err);
                    continue;
                }
            },
        };
        match run_batch(&mut conn, mode, jobs).await {
            Ok(()) => {
                *health.lock().expect("write health lock") = WriteHealth::Ok;
                connection = Some(conn);
            }
            Err(err) => {
                set_failing(&health, &err);
                tracing::error!(error = %err, "a database write failed; it was rolled back and the connection is replaced");
                conn.close_on_drop();
            }
        }
    }
}

/// Runs `jobs` in one transaction and answers each. `Err` when the transaction failed as a
/// whole (every job was answered with it) and the connection must not be used again.
async fn run_batch(
    conn: &mut PoolConnection<Any>,
    mode: WriteMode,
    jobs: Vec<Job>,
) -> Result<(), StoreError> {
    let alone = jobs.len() == 1;
    let mut answers: Vec<(oneshot::Sender<Result<Output>>, Result<Output>)> =
        Vec::with_capacity(jobs.len());
    let (saves, runs): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|job| matches!(job.work, Work::Save(_)));
    let mut pending = runs.into_iter();
    let mut failed = exec(conn, mode.begin).await.err();
    let mut rolled_back = false;
    if failed.is_none() && !saves.is_empty() {
        let (saves, dones): (Vec<Save>, Vec<_>) = saves
            .into_iter()
            .map(|job| match job.work {
                Work::Save(save) => (*save, job.done),
                Work::Run(_) => unreachable!("partitioned by kind"),
            })
            .unzip();
        match (mode.save_many)(conn, &saves).await {
            Ok(results) => {
                let refused_alone = alone && results.iter().all(Result::is_err);
                answers.extend(
                    dones.into_iter().zip(
                        results
                            .into_iter()
                            .map(|r| r.map(|m| Box::new(m) as Output)),
                    ),
                );
                // Nothing to commit: end the transaction as a refused write alone does.
                if refused_alone {
                    failed = exec(conn, "ROLLBACK").await.err();
                    rolled_back = true;
                }
            }
            Err(err) => {
                let err = unavailable(err);
                answers.extend(dones.into_iter().map(|done| (done, Err(clone_err(&err)))));
                failed = Some(err);
            }
        }
    }
    while failed.is_none() {
        let Some(job) = pending.next() else { break };
        let Work::Run(run) = job.work else {
            unreachable!("partitioned by kind")
        };
        let savepoint = !alone;
        if savepoint && let Err(err) = exec(conn, "SAVEPOINT hush_write").await {
            answers.push((job.done, Err(clone_err(&err))));
            failed = Some(err);
            break;
        }
        let result = run(conn).await;
        let step = match &result {
            Ok(_) if !savepoint => Ok(()),
            Ok(_) => exec(conn, "RELEASE SAVEPOINT hush_write").await,
            // Refused for its own reasons: undo just this write.
            Err(e) if is_refusal(e) && alone => {
                rolled_back = true;
                exec(conn, "ROLLBACK").await
            }
            Err(e) if is_refusal(e) => match exec(conn, "ROLLBACK TO SAVEPOINT hush_write").await {
                Ok(()) => exec(conn, "RELEASE SAVEPOINT hush_write").await,
                Err(err) => Err(err),
            },
            Err(e) => Err(unavailable(clone_err(e))),
        };
        answers.push((job.done, result));
        failed = step.err();
    }
    if failed.is_none() && !rolled_back {
        failed = match (&mut **conn).execute("COMMIT").await {
            Ok(_) => None,
            Err(err) if mode.commit_can_be_unknown && outcome_unknown(&err) => {
                Some(StoreError::CommitUnknown(format!(
                    "the connection to the database broke while it was committing, so it is not known whether the change was saved ({err})"
                )))
            }
            // The database answered "no": the transaction did not commit.
            Err(sqlx::Error::Database(e)) => Some(unavailable(StoreError::Other(Box::new(
                sqlx::Error::Database(e),
            )))),
            Err(err) => Some(unavailable(db_err(err))),
        };
    }
    let Some(err) = failed else {
        for (done, result) in answers {
            let _ = done.send(result);
        }
        return Ok(());
    };
    let _ = exec(conn, "ROLLBACK").await;
    let dones = answers
        .into_iter()
        .map(|(done, _)| done)
        .chain(pending.map(|job| job.done));
    fail_all(dones, &err);
    Err(err)
}

/// A write refused for its own reasons: it changed nothing, and the transaction goes on.
pub(crate) fn is_refusal(err: &StoreError) -> bool {
    matches!(err, StoreError::NotFound | StoreError::Conflict(_))
}

async fn exec(conn: &mut PoolConnection<Any>, statement: &str) -> Result<()> {
    (&mut **conn)
        .execute(statement)
        .await
        .map(|_| ())
        .map_err(|e| unavailable(db_err(e)))
}

fn fail_all(dones: impl Iterator<Item = oneshot::Sender<Result<Output>>>, err: &StoreError) {
    for done in dones {
        let _ = done.send(Err(clone_err(err)));
    }
}

/// Store errors hold boxed causes and cannot be cloned; the copies every job of a failed
/// transaction gets keep the kind and the text.
fn clone_err(err: &StoreError) -> StoreError {
    match err {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Config(m) => StoreError::Config(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::CommitUnknown(m) => StoreError::CommitUnknown(m.clone()),
        StoreError::Other(e) => StoreError::Other(e.to_string().into()),
    }
}

fn set_failing(health: &Mutex<WriteHealth>, err: &StoreError) {
    let mut health = health.lock().expect("write health lock");
    let since = match &*health {
        WriteHealth::Failing { since, .. } => *since,
        WriteHealth::Ok => now_millis(),
    };
    *health = WriteHealth::Failing {
        reason: err.to_string(),
        since,
    };
}
