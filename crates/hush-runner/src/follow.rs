//! Keeping a running app current: follow a [`VersionSource`], hand every newer version to the
//! [`Runner`], report back what the app runs. `hush run` follows a hush server over HTTP; the
//! server follows its own watch hub for the apps it launches. Both use this one loop.
//!
//! ```text
//! source.watch(after) ─▶ announced version ─▶ source.fetch() ─▶ Runner (channel) ─▶ app
//!        ▲  reconnect with Backoff                          Runner::applied/status ─▶ source.report()
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

use crate::{Backoff, ChildState, Runner, SecretsUpdate};

/// The versions a source announces, in order, until the connection ends (`None`) or fails.
pub type Announcements<E> = Pin<Box<dyn Stream<Item = Result<i64, E>> + Send>>;

/// Where an app's versions come from, and where its state goes.
pub trait VersionSource: Send + Sync + 'static {
    /// Says what failed (never a secret value).
    type Error: fmt::Display + Send;

    /// Opens a watch: announces each version newer than `after` (the newest one at once, if
    /// it is already newer).
    fn watch(
        &self,
        after: i64,
    ) -> impl Future<Output = Result<Announcements<Self::Error>, Self::Error>> + Send;

    /// The newest version.
    fn fetch(&self) -> impl Future<Output = Result<SecretsUpdate, Self::Error>> + Send;

    /// Records how this running copy of the app is doing.
    fn report(&self, report: Report) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Names the source in messages, e.g. "the hush server at https://…".
    fn describe(&self) -> String;
}

/// How a running copy of the app is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// `None` until the app has started with a version.
    pub applied_version: Option<i64>,
    pub state: ChildState,
}

impl Report {
    /// The runner's state now.
    pub fn of(runner: &Runner) -> Report {
        Report {
            applied_version: *runner.applied().borrow(),
            state: runner.status().borrow().clone(),
        }
    }
}

/// What a source fetched lately, by version: a report of the version the app runs can then say
/// what that version was made of (an environment's own version and its shared documents').
/// Keeps the newest few, since the app may run an older one than the newest fetched (a burst
/// being coalesced, or a newer one refused as invalid).
pub struct Fetched<T> {
    recent: std::sync::Mutex<std::collections::VecDeque<(i64, T)>>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Fetched<T> {
        Fetched {
            recent: Default::default(),
        }
    }
}

impl<T: Clone> Fetched<T> {
    const KEPT: usize = 8;

    pub fn remember(&self, version: i64, parts: T) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|(v, _)| *v != version);
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back((version, parts));
    }

    /// What `version` was made of, if it was fetched lately.
    pub fn get(&self, version: i64) -> Option<T> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, parts)| parts.clone())
    }
}

/// This machine's name, for reports: `/proc/sys/kernel/hostname`, `/etc/hostname`,
/// `$HOSTNAME`, else "localhost".
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

/// How to follow. Build with `FollowOptions::default()` and change the fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FollowOptions {
    /// Between reconnects. Default: 0.5 s doubling to 30 s, ±20 %, starting over after a
    /// connection that stayed up 5 s.
    pub backoff: Backoff,
    /// A report goes out on every change of the app's state and at least this often, so the
    /// server knows the copy is alive (it shows one as gone after 90 s). Default 30 s.
    pub heartbeat: Duration,
    /// The first version did not come from the source (a local copy, while it could not be
    /// reached): fetch once on the first connection even if nothing newer is announced, and
    /// say when the source is reached.
    pub started_offline: bool,
}

impl Default for FollowOptions {
    fn default() -> FollowOptions {
        FollowOptions {
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
                .jitter(0.2)
                .reset_after(Duration::from_secs(5)),
            heartbeat: Duration::from_secs(30),
            started_offline: false,
        }
    }
}

/// Follows a source for one runner and reports its state, in two tasks that end when this is
/// dropped. Hand [`Delivery::updates`] to [`Runner::run`] (also across several runs).
pub struct Delivery {
    updates: mpsc::Receiver<SecretsUpdate>,
    tasks: [JoinHandle<()>; 2],
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

impl Delivery {
    /// Starts following `source` for versions newer than `from` (the one the runner starts
    /// with) and reporting `runner`'s state to it.
    pub fn start<S: VersionSource>(
        source: Arc<S>,
        runner: &Runner,
        from: i64,
        options: FollowOptions,
    ) -> Delivery {
        let (tx, updates) = mpsc::channel(16);
        let reconnected = Arc::new(Notify::new());
        let follower = Follower {
            source: source.clone(),
            updates: tx,
            sent: from,
            refresh: options.started_offline,
            down: options.started_offline,
            reconnected: reconnected.clone(),
        };
        let reporter = Reporter {
            source,
            applied: runner.applied(),
            status: runner.status(),
            heartbeat: options.heartbeat,
            reconnected,
        };
        Delivery {
            updates,
            tasks: [
                tokio::spawn(follower.follow(options.backoff)),
                tokio::spawn(reporter.report()),
            ],
        }
    }

    /// The newer versions, for [`Runner::run`].
    pub fn updates(&mut self) -> &mut mpsc::Receiver<SecretsUpdate> {
        &mut self.updates
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Follower<S> {
    source: Arc<S>,
    updates: mpsc::Sender<SecretsUpdate>,
    /// The newest version handed to the runner.
    sent: i64,
    /// Fetch on the next connection even without an announcement.
    refresh: bool,
    /// The source is known to be out of reach (said once; said again when it is back).
    down: bool,
    /// Told when the source is reached again, so the reporter reports at once.
    reconnected: Arc<Notify>,
}

impl<S: VersionSource> Follower<S> {
    async fn follow(mut self, mut backoff: Backoff) {
        loop {
            let connected_at = Instant::now();
            match self.connection().await {
                Ok(()) => tracing::debug!("the watch ended; reconnecting"),
                Err(err) if !self.down => {
                    self.down = true;
                    tracing::warn!(
                        "lost {} ({err}); the app keeps its current secrets while hush retries",
                        self.source.describe()
                    );
                }
                Err(err) => tracing::debug!(error = %err, "still cannot follow the secrets"),
            }
            if self.updates.is_closed() {
                return;
            }
            sleep(backoff.delay_after(connected_at.elapsed())).await;
        }
    }

    /// One watch: fetch each announced version newer than the one sent. `Err` when it failed.
    async fn connection(&mut self) -> Result<(), S::Error> {
        let mut announced = self.source.watch(self.sent).await?;
        if std::mem::take(&mut self.down) {
            tracing::info!("reached {} again", self.source.describe());
            self.reconnected.notify_one();
        }
        if std::mem::take(&mut self.refresh) {
            self.fetch().await?;
        }
        while let Some(version) = announced.next().await {
            if version? > self.sent {
                self.fetch().await?;
            }
        }
        Ok(())
    }

    /// Fetches the newest version; hands it on when newer than the one sent.
    async fn fetch(&mut self) -> Result<(), S::Error> {
        let update = self.source.fetch().await?;
        if update.version > self.sent {
            tracing::debug!(version = update.version, "new secrets");
            self.sent = update.version;
            // A closed channel: the runner is done and this task is about to end.
            let _ = self.updates.send(update).await;
        }
        Ok(())
    }
}

struct Reporter<S> {
    source: Arc<S>,
    applied: watch::Receiver<Option<i64>>,
    status: watch::Receiver<ChildState>,
    heartbeat: Duration,
    reconnected: Arc<Notify>,
}

impl<S: VersionSource> Reporter<S> {
    async fn report(mut self) {
        let mut failing = false;
        loop {
            let report = Report {
                applied_version: *self.applied.borrow_and_update(),
                state: self.status.borrow_and_update().clone(),
            };
            match self.source.report(report).await {
                Ok(()) => failing = false,
                Err(err) => {
                    if !failing {
                        tracing::warn!(
                            "cannot report the app's state to {} ({err}); will retry",
                            self.source.describe()
                        );
                    }
                    failing = true;
                }
            }
            tokio::select! {
                changed = self.applied.changed() => if changed.is_err() { return },
                changed = self.status.changed() => if changed.is_err() { return },
                () = self.reconnected.notified() => {}
                () = sleep(self.heartbeat) => {}
            }
            // Let a burst of changes (stop, start, applied) settle into one report.
            sleep(Duration::from_millis(100)).await;
        }
    }
}
