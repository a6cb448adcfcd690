//! The slow-header defence: a request's head, and a kept-alive connection's next one, must
//! arrive within the header timeout, or the connection is closed.
//!
//! hyper can do this itself, but it arms a timer for every request head; measured against a
//! bare hyper server, that timer was most of the cost hush added to a read. Here a connection
//! only notes, with one atomic store, when it starts and stops waiting for a head, and one
//! task per server looks at every connection a few times per timeout and closes the ones that
//! have waited too long. A connection is closed between the timeout and one look later.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use hyper::body::{Body, Frame, SizeHint};

/// A tick value meaning "answering a request", not waiting for a head.
const ANSWERING: u64 = u64::MAX;

/// The connections of one server and the clock they are judged by.
pub struct HeadDeadlines {
    /// Looks so far; a connection notes the tick at which it began to wait.
    tick: AtomicU64,
    /// A connection that has waited more than this many ticks is closed.
    ticks_allowed: u64,
    period: Duration,
    connections: Mutex<Vec<Weak<Connection>>>,
}

/// One connection's side: whether (and since when) it waits for a head, and whether it has
/// been told to close.
pub struct Connection {
    deadlines: Arc<HeadDeadlines>,
    waiting_since: AtomicU64,
    cut: AtomicBool,
    waker: AtomicWaker,
}

impl HeadDeadlines {
    /// Starts the task that closes connections whose head is late; it ends with the last
    /// reference to the returned value.
    pub fn start(timeout: Duration) -> Arc<HeadDeadlines> {
        let period = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let ticks_allowed = timeout.as_nanos().div_ceil(period.as_nanos().max(1));
        let deadlines = Arc::new(HeadDeadlines {
            tick: AtomicU64::new(0),
            ticks_allowed: u64::try_from(ticks_allowed).unwrap_or(u64::MAX - 1),
            period,
            connections: Mutex::default(),
        });
        tokio::spawn(look_every_period(Arc::downgrade(&deadlines)));
        deadlines
    }

    /// A new connection, waiting for its first head from now on.
    pub fn watch(self: &Arc<Self>) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            deadlines: self.clone(),
            waiting_since: AtomicU64::new(self.tick.load(Ordering::Relaxed)),
            cut: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        self.connections
            .lock()
            .expect("head deadlines lock")
            .push(Arc::downgrade(&connection));
        connection
    }

    /// One look: the clock moves on, and every connection that has waited for a head for
    /// more than the allowed ticks is told to close. Connections that ended are forgotten.
    fn look(&self) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let mut connections = self.connections.lock().expect("head deadlines lock");
        connections.retain(|connection| {
            let Some(connection) = connection.upgrade() else {
                return false;
            };
            let since = connection.waiting_since.load(Ordering::Relaxed);
            // Noted anywhere within a tick, so more than `ticks_allowed` ticks later at least
            // the whole timeout has passed: never early, at most one period late.
            if since != ANSWERING && now.saturating_sub(since) > self.ticks_allowed {
                connection.cut.store(true, Ordering::Release);
                connection.waker.wake();
                return false;
            }
            true
        });
    }
}

async fn look_every_period(deadlines: Weak<HeadDeadlines>) {
    let Some(period) = deadlines.upgrade().map(|d| d.period) else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match deadlines.upgrade() {
            Some(deadlines) => deadlines.look(),
            None => return,
        }
    }
}

impl Connection {
    /// A whole head arrived: the connection answers it and no longer waits.
    pub fn answering(&self) {
        self.waiting_since.store(ANSWERING, Ordering::Relaxed);
    }

    /// The answer was handed over: the connection waits for the next head from now.
    fn waiting(&self) {
        let now = self.deadlines.tick.load(Ordering::Relaxed);
        self.waiting_since.store(now, Ordering::Relaxed);
    }

    /// Resolves once the connection has waited too long for a head.
    pub fn cut(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.cut.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.cut.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// `body`, noting when hyper is done with it that the connection waits again.
    pub fn answer<B>(self: &Arc<Self>, body: B) -> Answer<B> {
        Answer {
            body,
            connection: self.clone(),
        }
    }
}

/// A response body that marks its connection as waiting for the next head once dropped,
/// which hyper does when the response is written (or the connection ends).
pub struct Answer<B> {
    body: B,
    connection: Arc<Connection>,
}

impl<B> Drop for Answer<B> {
    fn drop(&mut self) {
        self.connection.waiting();
    }
}

impl<B: Body + Unpin> Body for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
