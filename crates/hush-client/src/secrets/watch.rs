//! Live changes (compat §4.1 and §4.3): poll the sources, compare content (a bare
//! `touch` does nothing), reload on a change. Unlike Streamlit, an invalid edit
//! keeps the last good secrets and is reported, files created later are picked
//! up, and a deleted file's secrets go away. Secrets read from a server follow
//! its watch stream instead (see `remote`).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::sources::{self, Snap};
use super::{Secrets, SecretsError};

/// How often [`Secrets::watch`] polls (Streamlit polls every 0.2 s).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(150);

/// What the watcher saw.
#[derive(Debug)]
pub enum WatchEvent {
    /// The content changed and loaded: the new secrets. When every source
    /// has been deleted this is an empty set.
    Reloaded(Secrets),
    /// The content changed but does not load (e.g. a TOML error), or, for
    /// secrets read from a server, the server cannot be reached (sent once per
    /// outage; hush keeps retrying). The last good secrets stay in force
    /// ([`SecretsWatcher::current`]).
    Invalid(SecretsError),
}

/// Watches the sources a [`Secrets`] was loaded from, on a background thread
/// (no async runtime needed). Events arrive on a channel; the latest good
/// secrets are always at [`SecretsWatcher::current`]. Dropping the watcher stops it.
///
/// ```no_run
/// # use hush_client::secrets::{Secrets, WatchEvent};
/// let secrets = Secrets::load()?;
/// let watcher = secrets.watch();
/// for event in watcher.events() {
///     match event {
///         WatchEvent::Reloaded(new) => println!("reloaded: {} keys", new.len()),
///         WatchEvent::Invalid(err) => eprintln!("kept the last good secrets: {err}"),
///     }
/// }
/// # Ok::<(), hush_client::secrets::SecretsError>(())
/// ```
pub struct SecretsWatcher {
    events: Receiver<WatchEvent>,
    current: Arc<Mutex<Secrets>>,
    /// Wakes the watching thread and makes it return.
    stop: Option<Box<dyn FnOnce() + Send>>,
    thread: Option<JoinHandle<()>>,
}

impl SecretsWatcher {
    /// The latest secrets that loaded (the starting ones until a change loads).
    pub fn current(&self) -> Secrets {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait for the next event.
    pub fn recv(&self) -> Option<WatchEvent> {
        self.events.recv().ok()
    }

    /// Wait for the next event at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<WatchEvent, RecvTimeoutError> {
        self.events.recv_timeout(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<WatchEvent, TryRecvError> {
        self.events.try_recv()
    }

    /// Events as a blocking iterator (ends when the watcher stops).
    pub fn events(&self) -> impl Iterator<Item = WatchEvent> + '_ {
        self.events.iter()
    }
}

impl Drop for SecretsWatcher {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for SecretsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsWatcher").finish_non_exhaustive()
    }
}

/// Where a watcher thread hands each event; `false` means nobody listens any more.
pub(super) type Emit = Box<dyn FnMut(WatchEvent) -> bool + Send>;

/// A watcher whose events arrive on its channel.
pub(super) fn start(initial: Secrets, interval: Duration) -> SecretsWatcher {
    let (tx, events) = mpsc::channel();
    spawn(
        initial,
        interval,
        Box::new(move |e| tx.send(e).is_ok()),
        events,
    )
}

/// A watcher that hands each event to `emit` on its own thread (its channel stays empty).
pub(super) fn start_with(initial: Secrets, interval: Duration, emit: Emit) -> SecretsWatcher {
    let (_, events) = mpsc::channel();
    spawn(initial, interval, emit, events)
}

fn spawn(
    initial: Secrets,
    interval: Duration,
    emit: Emit,
    events: Receiver<WatchEvent>,
) -> SecretsWatcher {
    let current = Arc::new(Mutex::new(initial.clone()));
    let shared = current.clone();
    let thread = std::thread::Builder::new().name("hush-secrets-watch".into());
    #[cfg(feature = "http")]
    if initial.context().remote.is_some() {
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread
            .spawn(move || {
                let remote = initial.context().remote.as_ref().expect("checked above");
                super::remote::follow(remote, emit, shared, stop_rx);
            })
            .expect("spawning the secrets watcher thread");
        return SecretsWatcher {
            events,
            current,
            stop: Some(Box::new(move || {
                let _ = stop.send(());
            })),
            thread: Some(thread),
        };
    }
    let (stop, stop_rx) = mpsc::channel::<()>();
    let thread = thread
        .spawn(move || run(initial, interval, stop_rx, emit, shared))
        .expect("spawning the secrets watcher thread");
    SecretsWatcher {
        events,
        current,
        // Closing the stop channel wakes the thread at once.
        stop: Some(Box::new(move || drop(stop))),
        thread: Some(thread),
    }
}

/// Compare snapshots by content; an unreadable state counts as its own
/// "content" (reported once, not every poll).
#[derive(PartialEq)]
enum Seen {
    Content(Vec<Snap>),
    Unreadable(String),
}

fn run(
    initial: Secrets,
    interval: Duration,
    stop: Receiver<()>,
    mut emit: Emit,
    current: Arc<Mutex<Secrets>>,
) {
    let context = initial.context().clone();
    let srcs = &context.sources;
    if srcs.is_empty() {
        // Nothing to watch (`from_str`): wait for the stop.
        let _ = stop.recv();
        return;
    }
    let mut last = Seen::Content(initial.inner.snaps.clone());
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop requested (sender dropped) or explicit message.
            _ => return,
        }
        let (seen, event) = match sources::snapshot(srcs) {
            Err(err) => (Seen::Unreadable(err.to_string()), WatchEvent::Invalid(err)),
            Ok(snaps) => {
                let event = match sources::build(srcs, &snaps) {
                    Ok(table) => WatchEvent::Reloaded(Secrets::from_parts(
                        table.unwrap_or_default(),
                        context.clone(),
                        snaps.clone(),
                    )),
                    Err(err) => WatchEvent::Invalid(err),
                };
                (Seen::Content(snaps), event)
            }
        };
        if seen == last {
            continue;
        }
        last = seen;
        if let WatchEvent::Reloaded(s) = &event {
            *current.lock().unwrap_or_else(|p| p.into_inner()) = s.clone();
        }
        if !emit(event) {
            return;
        }
    }
}
