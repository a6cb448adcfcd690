//! The audit writer. Events go through a bounded queue to one task that writes them in batches,
//! so a burst of secret reads costs one database transaction, not one each.
//!
//! When the log cannot be written, hush fails closed, as Vault does: the writer keeps retrying
//! the batch it holds (nothing is dropped), and meanwhile every request that reads or changes
//! secret values is refused with 503 until a write succeeds again. Reads are acknowledged once
//! their event is queued (a crash can lose the last ~10 ms of read events); changes wait until
//! their event is written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hush_store::{AuditEvent, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};

const QUEUE: usize = 65_536;
const BATCH: usize = 1_024;

struct Entry {
    event: AuditEvent,
    written: Option<oneshot::Sender<()>>,
}

#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Entry>,
    healthy: Arc<AtomicBool>,
}

impl AuditLog {
    /// Starts the writer task; it ends when every `AuditLog` clone is dropped, after writing what is queued.
    pub fn start(store: Arc<dyn Store>) -> (AuditLog, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(write_loop(store, rx, healthy.clone()));
        (AuditLog { tx, healthy }, task)
    }

    /// Refuses the request when the log is not being written.
    pub fn ensure_writable(&self) -> ApiResult<()> {
        if self.healthy.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(ApiError::unavailable(
                "the audit log cannot be written right now, so hush refuses to read or change secrets; see the server log",
            ))
        }
    }

    /// Queues an event (for reads: the response need not wait for the disk).
    pub async fn record(&self, event: AuditEvent) -> ApiResult<()> {
        self.ensure_writable()?;
        self.tx
            .send(Entry {
                event,
                written: None,
            })
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }

    /// Writes an event and waits until it is in the database (for changes).
    pub async fn record_durably(&self, event: AuditEvent) -> ApiResult<()> {
        self.ensure_writable()?;
        let (done, written) = oneshot::channel();
        self.tx
            .send(Entry {
                event,
                written: Some(done),
            })
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        // A change is refused rather than left hanging while the database does not answer.
        match tokio::time::timeout(Duration::from_secs(10), written).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ApiError::unavailable(
                "the audit log could not be written in time; the change may have been applied, check the history",
            )),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Entry>,
    healthy: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let events: Vec<AuditEvent> = batch.iter().map(|e| e.event.clone()).collect();
        let mut backoff = Duration::from_millis(50);
        loop {
            match store.append_audit(events.clone()).await {
                Ok(()) => {
                    healthy.store(true, Ordering::Relaxed);
                    break;
                }
                Err(err) => {
                    if healthy.swap(false, Ordering::Relaxed) {
                        tracing::error!(error = %err, "audit log write failed; refusing secret reads and changes until it recovers");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        for entry in batch.drain(..) {
            if let Some(done) = entry.written {
                let _ = done.send(());
            }
        }
    }
}
