//! The delivery loop against a source held in memory: a real `sh` child, a source whose watch
//! fails until it is "reachable", versions published while the app runs. The real sources
//! (hush run's HTTP stream, the server's hub) are tested end to end in crates/hush/tests/it/run.rs
//! and crates/hush-server/tests/it/launcher.rs.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Scratch, update, wait_until, within};
use futures::StreamExt;
use hush_runner::{
    Announcements, Backoff, ChildState, Delivery, FollowOptions, OnChange, Report, Runner,
    SecretsUpdate, VersionSource,
};
use tokio::sync::watch;

/// Versions published in memory; `reachable` off makes every call fail.
struct MemorySource {
    newest: watch::Sender<SecretsUpdate>,
    reachable: AtomicBool,
    watches: AtomicUsize,
    fetches: AtomicUsize,
    reports: Mutex<Vec<Report>>,
}

impl MemorySource {
    fn new(first: SecretsUpdate, reachable: bool) -> Arc<MemorySource> {
        Arc::new(MemorySource {
            newest: watch::Sender::new(first),
            reachable: AtomicBool::new(reachable),
            watches: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
            reports: Mutex::default(),
        })
    }

    fn check(&self) -> Result<(), String> {
        if self.reachable.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("unreachable".into())
        }
    }

    fn reports(&self) -> Vec<Report> {
        self.reports.lock().unwrap().clone()
    }
}

impl VersionSource for MemorySource {
    type Error = String;

    async fn watch(&self, after: i64) -> Result<Announcements<String>, String> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        let versions = tokio_stream_of(self.newest.subscribe());
        Ok(versions
            .filter(move |v| std::future::ready(*v > after))
            .map(Ok)
            .boxed())
    }

    async fn fetch(&self) -> Result<SecretsUpdate, String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(self.newest.borrow().clone())
    }

    async fn report(&self, report: Report) -> Result<(), String> {
        self.check()?;
        self.reports.lock().unwrap().push(report);
        Ok(())
    }

    fn describe(&self) -> String {
        "the memory source".into()
    }
}

/// Every version of the channel, the current one first.
fn tokio_stream_of(
    mut rx: watch::Receiver<SecretsUpdate>,
) -> impl futures::Stream<Item = i64> + Send {
    let current = rx.borrow_and_update().version;
    futures::stream::unfold((current, rx, true), |state| async move {
        let (current, mut rx, first) = state;
        if first {
            return Some((current, (current, rx, false)));
        }
        rx.changed().await.ok()?;
        let next = rx.borrow_and_update().version;
        Some((next, (next, rx, false)))
    })
}

fn options(started_offline: bool) -> FollowOptions {
    let mut options = FollowOptions::default();
    options.backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(50));
    options.heartbeat = Duration::from_millis(200);
    options.started_offline = started_offline;
    options
}

/// The app: writes `$A` to `$OUT/a`, then sleeps.
const APP: &str = r#"printf '%s' "$A" > "$OUT/a.tmp" && mv "$OUT/a.tmp" "$OUT/a"; exec sleep 100"#;

/// Runs the app from `first`, fed by `source`; the task runs until aborted.
fn start(
    scratch: &Scratch,
    first: SecretsUpdate,
    source: &Arc<MemorySource>,
    options: FollowOptions,
) -> (Arc<Runner>, tokio::task::JoinHandle<()>) {
    let runner = Arc::new(Runner::new(scratch.config(APP, OnChange::Restart)));
    let mut delivery = Delivery::start(source.clone(), &runner, first.version, options);
    let task = tokio::spawn({
        let runner = runner.clone();
        async move {
            let _ = runner
                .run(first, delivery.updates(), std::future::pending())
                .await;
        }
    });
    (runner, task)
}

/// Waits until the app has `value` in `$A`.
async fn app_has(scratch: &Scratch, value: &str) {
    wait_until(&format!("{value:?} in the app"), || {
        (std::fs::read_to_string(scratch.path("a")).ok()? == value).then_some(())
    })
    .await;
}

#[tokio::test]
async fn versions_published_while_the_app_runs_reach_it_and_are_reported() {
    let scratch = Scratch::new();
    let first = update(1, "A = \"one\"\n");
    let source = MemorySource::new(first.clone(), true);
    let (_runner, task) = start(&scratch, first, &source, options(false));
    app_has(&scratch, "one").await;

    source.newest.send_replace(update(2, "A = \"two\"\n"));
    app_has(&scratch, "two").await;
    wait_until("version 2 reported running", || {
        source
            .reports()
            .into_iter()
            .find(|r| r.applied_version == Some(2) && matches!(r.state, ChildState::Running { .. }))
    })
    .await;
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        1,
        "one fetch per new version, none for the one it started with"
    );
    task.abort();
}

#[tokio::test]
async fn an_unreachable_source_is_retried_until_it_is_back() {
    let scratch = Scratch::new();
    // The app starts from an older local copy while the source is out of reach.
    let source = MemorySource::new(update(4, "A = \"fresh\"\n"), false);
    let (_runner, task) = start(
        &scratch,
        update(3, "A = \"copy\"\n"),
        &source,
        options(true),
    );
    app_has(&scratch, "copy").await;
    wait_until("a few failed attempts", || {
        (source.watches.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await;
    assert!(source.reports().is_empty());

    source.reachable.store(true, Ordering::SeqCst);
    app_has(&scratch, "fresh").await;
    within(
        async {
            while !source
                .reports()
                .iter()
                .any(|r| r.applied_version == Some(4))
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
        "version 4 reported",
    )
    .await;
    task.abort();
}
