//! Every write runs here. One task owns the write connection and runs the writes that arrive
//! while it is busy as one transaction (group commit): each write in a savepoint of its own, so
//! a write refused for its own reasons (a stale base, a taken name) changes nothing and the
//! others still commit; one commit, one fsync, for all of them. Nobody hears "done" before the
//! commit has succeeded. A write that refuses before it changes anything, and without an error
//! that would abort the transaction, can go without its savepoint ([`Writer::run_unguarded`]:
//! a save), which spares two round trips to a network database per write.
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

use crate::rows::{db_err, unavailable};
use crate::{Result, StoreError, WriteHealth, now_millis};

/// The most writes one transaction takes; more wait for the next one.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

type Output = Box<dyn AnyOutput + Send>;
type JobFn = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Output>> + Send>;

struct Job {
    run: JobFn,
    done: oneshot::Sender<Result<Output>>,
    /// In a savepoint of its own when it shares the transaction.
    guarded: bool,
}

/// How the backend starts a write transaction, and whether a broken connection during
/// COMMIT leaves the outcome unknown (a network database) or not (a local file).
#[derive(Clone, Copy)]
pub(crate) struct WriteMode {
    pub(crate) begin: &'static str,
    pub(crate) commit_can_be_unknown: bool,
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
        self.submit(write, true).await
    }

    /// [`Writer::run`] without a savepoint, for a write that, when it refuses (`NotFound`,
    /// `Conflict`), has changed nothing and left the transaction usable (no statement failed).
    pub(crate) async fn run_unguarded<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(write, false).await
    }

    async fn submit<T, F>(&self, write: F, guarded: bool) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let run: JobFn = Box::new(move |conn| {
            Box::pin(async move { write(conn).await.map(|out| Box::new(out) as Output) })
        });
        let closed = || StoreError::Unavailable("the store is closed".into());
        self.jobs
            .send(Job { run, done, guarded })
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
    let mut pending = jobs.into_iter();
    let mut failed = exec(conn, mode.begin).await.err();
    while failed.is_none() {
        let Some(job) = pending.next() else { break };
        let savepoint = !alone && job.guarded;
        if savepoint && let Err(err) = exec(conn, "SAVEPOINT hush_write").await {
            answers.push((job.done, Err(clone_err(&err))));
            failed = Some(err);
            break;
        }
        let result = (job.run)(conn).await;
        let step = match &result {
            Ok(_) if !savepoint => Ok(()),
            Ok(_) => exec(conn, "RELEASE SAVEPOINT hush_write").await,
            // Refused for its own reasons: undo just this write.
            Err(e) if is_refusal(e) && alone => exec(conn, "ROLLBACK").await,
            // It changed nothing (see `Writer::run_unguarded`).
            Err(e) if is_refusal(e) && !savepoint => Ok(()),
            Err(e) if is_refusal(e) => match exec(conn, "ROLLBACK TO SAVEPOINT hush_write").await {
                Ok(()) => exec(conn, "RELEASE SAVEPOINT hush_write").await,
                Err(err) => Err(err),
            },
            Err(e) => Err(unavailable(clone_err(e))),
        };
        answers.push((job.done, result));
        failed = step.err();
    }
    let rolled_back_alone = alone && answers.iter().all(|(_, r)| r.is_err());
    if failed.is_none() && !rolled_back_alone {
        failed = match (&mut **conn).execute("COMMIT").await {
            Ok(_) => None,
            // The database answered "no": the transaction did not commit.
            Err(sqlx::Error::Database(e)) => Some(unavailable(StoreError::Other(Box::new(
                sqlx::Error::Database(e),
            )))),
            Err(err) if mode.commit_can_be_unknown => Some(StoreError::CommitUnknown(format!(
                "the connection to the database broke while it was committing, so it is not known whether the change was saved ({err})"
            ))),
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
fn is_refusal(err: &StoreError) -> bool {
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
