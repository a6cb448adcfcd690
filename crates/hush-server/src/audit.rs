//! The audit log of what is not itself a change: secret reads, sign-ins, refused requests.
//! (A change writes its own event in the change's transaction; see hush-store.)
//!
//! Events go through a bounded queue to one task that writes them about once a second, in one
//! transaction. Identical events in that second — the same token reading the same version from
//! the same address, the same refused request again — become one row that says how many there
//! were and when the first and last were (`detail.count`, `first_at`, `last_at`): the trail stays
//! complete while a busy reader or a flood of refusals costs one row a second, not one per request.
//!
//! Secret reads, the hot path, are counted where they happen ([`AuditLog::count_read`]): the
//! first read of a kind in the interval makes its event, the others add one to its count, so a
//! read costs a map lookup instead of an event built, queued and compared.
//!
//! When the log cannot be written, hush fails closed, as Vault does: the writer keeps retrying
//! what it holds (nothing is dropped), and meanwhile every request that reads or changes secret
//! values is refused with 503 until a write succeeds again. A queued read is acknowledged before
//! its row is written, so a crash can lose up to the last second of read events.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hush_store::{ActorKind, AuditEvent, Store, now_millis};
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};

const QUEUE: usize = 65_536;
const BATCH: usize = 4_096;
/// How long events gather (and fold) before they are written.
const GATHER: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEvent>,
    reads: Arc<Mutex<ReadTally>>,
    store: Arc<dyn Store>,
    healthy: Arc<AtomicBool>,
}

/// What makes two reads the same row: who, which action, which version, from where.
#[derive(Hash, PartialEq, Eq)]
pub struct ReadKey {
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    pub action: &'static str,
    pub app_id: i64,
    pub version: i64,
    pub ip: Option<String>,
}

/// The reads of the current interval: the first one's event, how many, first and last time.
type ReadTally = HashMap<ReadKey, (AuditEvent, u64, i64, i64)>;

impl AuditLog {
    /// Starts the writer task; it ends when every `AuditLog` clone is dropped, after writing what is queued.
    pub fn start(store: Arc<dyn Store>) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        let healthy = Arc::new(AtomicBool::new(true));
        let reads = Arc::new(Mutex::new(ReadTally::new()));
        tokio::spawn(write_loop(
            store.clone(),
            rx,
            reads.clone(),
            healthy.clone(),
        ));
        AuditLog {
            tx,
            reads,
            store,
            healthy,
        }
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

    /// Queues an event; the response need not wait for the disk.
    pub async fn record(&self, event: AuditEvent) -> ApiResult<()> {
        self.ensure_writable()?;
        self.tx
            .send(event)
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }

    /// Counts a secret read: `event` is called only for the first read of its kind in the
    /// interval. With more kinds in one interval than the queue holds, the read waits for the
    /// queue like any event (a flood of addresses cannot grow the tally without bound).
    pub async fn count_read(
        &self,
        key: ReadKey,
        event: impl FnOnce() -> AuditEvent,
    ) -> ApiResult<()> {
        self.ensure_writable()?;
        let now = now_millis();
        {
            let mut reads = self.reads.lock().expect("audit tally lock");
            let full = reads.len() >= QUEUE;
            match reads.entry(key) {
                Entry::Occupied(mut seen) => {
                    let (_, count, _, last) = seen.get_mut();
                    *count += 1;
                    *last = now;
                    return Ok(());
                }
                Entry::Vacant(new) if !full => {
                    new.insert((event(), 1, now, now));
                    return Ok(());
                }
                Entry::Vacant(_) => {}
            }
        }
        self.record(event()).await
    }

    /// Queues an event if there is room, without waiting (refusals: a flood of them must not
    /// hold up the requests that are refused, and the folding keeps the rows few).
    pub fn try_record(&self, event: AuditEvent) {
        let _ = self.tx.try_send(event);
    }

    /// Writes an event now and answers once it is in the database (a sign-in).
    pub async fn record_durably(&self, event: AuditEvent) -> ApiResult<()> {
        self.ensure_writable()?;
        self.store.append_audit(vec![event]).await?;
        Ok(())
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<AuditEvent>,
    reads: Arc<Mutex<ReadTally>>,
    healthy: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(GATHER);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let closed = tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => received == 0,
            _ = tick.tick() => false,
        };
        if !batch.is_empty() && !closed {
            // Let the second fill up (a burst of events folds into a few rows).
            let deadline = tokio::time::Instant::now() + GATHER;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, BATCH)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        let mut events = fold(std::mem::take(&mut batch));
        let counted = std::mem::take(&mut *reads.lock().expect("audit tally lock"));
        events.extend(
            counted
                .into_values()
                .map(|(event, count, first, last)| with_count(event, count, first, last)),
        );
        if !events.is_empty() {
            write(store.as_ref(), events, &healthy).await;
        }
        if closed {
            return;
        }
    }
}

/// Writes `events`, retrying until it succeeds; while it fails, the log is marked unhealthy.
async fn write(store: &dyn Store, events: Vec<AuditEvent>, healthy: &AtomicBool) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.append_audit(events.clone()).await {
            Ok(()) => {
                healthy.store(true, Ordering::Relaxed);
                return;
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
}

/// Identical events (all but the time) become one, with their count and first and last times.
fn fold(events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (AuditEvent, u64, i64, i64)> = HashMap::new();
    for event in events {
        let key = serde_json::to_string(&AuditEvent {
            at: 0,
            ..event.clone()
        })
        .expect("audit events serialize");
        match groups.get_mut(&key) {
            Some((_, count, first, last)) => {
                *count += 1;
                *first = (*first).min(event.at);
                *last = (*last).max(event.at);
            }
            None => {
                order.push(key.clone());
                let at = event.at;
                groups.insert(key, (event, 1, at, at));
            }
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (event, count, first, last) = groups.remove(&key).expect("grouped above");
            with_count(event, count, first, last)
        })
        .collect()
}

/// The one row standing for `count` identical events (the event itself when there was one).
fn with_count(mut event: AuditEvent, count: u64, first: i64, last: i64) -> AuditEvent {
    if count > 1 {
        event.at = last;
        let extra = json!({ "count": count, "first_at": first, "last_at": last });
        match &mut event.detail {
            serde_json::Value::Object(map) => {
                map.extend(extra.as_object().expect("object").clone());
            }
            other => {
                *other = json!({ "value": other.clone(), "count": count, "first_at": first, "last_at": last })
            }
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_store::{ActorKind, Outcome};

    fn read(at: i64, token: i64, version: i64) -> AuditEvent {
        AuditEvent {
            at,
            actor_kind: ActorKind::Token,
            actor_id: Some(token),
            actor_name: Some("prod".into()),
            action: "secrets.read".into(),
            app_id: Some(1),
            app_name: Some("web".into()),
            ip: Some("127.0.0.1".into()),
            outcome: Outcome::Ok,
            detail: json!({ "version": version }),
        }
    }

    #[test]
    fn identical_events_fold_with_their_count_and_times() {
        let folded = fold(vec![
            read(10, 1, 3),
            read(11, 2, 3),
            read(12, 1, 3),
            read(15, 1, 4),
            read(13, 1, 3),
        ]);
        assert_eq!(folded.len(), 3, "token 1 v3, token 2 v3, token 1 v4");
        assert_eq!(
            folded[0].detail,
            json!({ "version": 3, "count": 3, "first_at": 10, "last_at": 13 })
        );
        assert_eq!(folded[0].at, 13);
        assert_eq!(folded[1], read(11, 2, 3), "a single event stays as it was");
        assert_eq!(folded[2], read(15, 1, 4));
    }
}
