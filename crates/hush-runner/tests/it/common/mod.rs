//! Helpers shared by the runner's integration tests: a runner around `/bin/sh -c SCRIPT` with a
//! controlled environment, and deadline-bounded waits (no fixed sleeps).

#![allow(dead_code)]

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hush_runner::{ChildState, Exit, OnChange, RunError, Runner, RunnerConfig, SecretsUpdate};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn update(version: i64, toml: &str) -> SecretsUpdate {
    SecretsUpdate::new(version, toml.to_owned())
}

/// A scratch directory for the child's marker files plus a parent for the secrets directory.
pub struct Scratch {
    pub out: tempfile::TempDir,
    pub secrets_parent: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            out: tempfile::tempdir().unwrap(),
            secrets_parent: tempfile::tempdir().unwrap(),
        }
    }

    pub fn out(&self) -> &Path {
        self.out.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }

    /// `sh -c script` with `OUT` pointing at the scratch directory, `KEEP=kept` and
    /// `DB=original` in its original environment, nothing else but `PATH`.
    pub fn config(&self, script: &str, on_change: OnChange) -> RunnerConfig {
        let mut config = RunnerConfig::new(vec!["/bin/sh".into(), "-c".into(), script.into()]);
        config.on_change = on_change;
        config.grace = Duration::from_secs(5);
        config.coalesce = Duration::from_millis(30);
        config.restart_jitter = Duration::ZERO;
        config.secrets_parent = Some(self.secrets_parent.path().to_path_buf());
        config.base_env = Some(vec![
            (
                OsString::from("PATH"),
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            ),
            ("OUT".into(), self.out.path().into()),
            ("KEEP".into(), "kept".into()),
            ("DB".into(), "original".into()),
        ]);
        config
    }
}

/// A runner running in a task, with its channels.
pub struct Running {
    pub runner: Arc<Runner>,
    pub updates: mpsc::Sender<SecretsUpdate>,
    pub applied: watch::Receiver<Option<i64>>,
    pub status: watch::Receiver<ChildState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<Exit, RunError>>,
}

impl Running {
    pub fn start(config: RunnerConfig, initial: SecretsUpdate) -> Running {
        let runner = Arc::new(Runner::new(config));
        let (updates, mut rx) = mpsc::channel(64);
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let applied = runner.applied();
        let status = runner.status();
        let task = tokio::spawn({
            let runner = runner.clone();
            async move {
                runner
                    .run(initial, &mut rx, async {
                        let _ = shutdown_rx.await;
                    })
                    .await
            }
        });
        Running {
            runner,
            updates,
            applied,
            status,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub async fn send(&self, version: i64, toml: &str) {
        self.updates.send(update(version, toml)).await.unwrap();
    }

    pub async fn wait_applied(&mut self, version: i64) {
        within(
            self.applied.wait_for(|v| *v == Some(version)),
            &format!("version {version} to be applied"),
        )
        .await
        .unwrap();
    }

    /// The pid of the running child, once it runs.
    pub async fn running_pid(&mut self) -> u32 {
        let state = within(
            self.status.wait_for(|s| {
                matches!(
                    s,
                    ChildState::Running { .. }
                        | ChildState::Failed { .. }
                        | ChildState::Exited { .. }
                )
            }),
            "the child to run",
        )
        .await
        .unwrap()
        .clone();
        match state {
            ChildState::Running { pid } => pid,
            other => panic!("the child is not running: {other:?}"),
        }
    }

    pub fn pid_now(&self) -> Option<u32> {
        match *self.status.borrow() {
            ChildState::Running { pid } => Some(pid),
            _ => None,
        }
    }

    pub async fn shutdown(mut self) -> Exit {
        let _ = self.shutdown.take().unwrap().send(());
        self.finish().await
    }

    /// Drops the run future (as a caller cancelling it would) and waits until it is gone.
    pub async fn abort(self) {
        self.task.abort();
        let _ = within(self.task, "the run task to be dropped").await;
    }

    /// Waits for `run` to return (the child exiting by itself).
    pub async fn finish(self) -> Exit {
        within(self.task, "run to return")
            .await
            .unwrap()
            .expect("run failed")
    }
}

/// Awaits `fut`, failing the test with `what` after [`DEADLINE`].
pub async fn within<T>(fut: impl Future<Output = T>, what: &str) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls until `path` exists and is not empty (written by the child with `mv`, so complete).
pub async fn wait_file(path: &Path) -> String {
    within(
        async {
            loop {
                if let Ok(text) = std::fs::read_to_string(path)
                    && !text.is_empty()
                {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
        &format!("{}", path.display()),
    )
    .await
}

/// Polls `check` until it returns `Some`.
pub async fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    within(
        async {
            loop {
                if let Some(v) = check() {
                    return v;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
        what,
    )
    .await
}

/// `KEY=value` lines written by the child into a map.
pub fn parse_env_dump(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A shell snippet that writes the named variables (`UNSET` when unset) to `$OUT/env.$$`,
/// atomically.
pub fn dump_env_script(names: &[&str]) -> String {
    let fields: Vec<String> = names
        .iter()
        .map(|n| format!("\"{n}=${{{n}-UNSET}}\""))
        .collect();
    format!(
        "printf '%s\\n' {} > \"$OUT/env.$$.tmp\" && mv \"$OUT/env.$$.tmp\" \"$OUT/env.$$\"",
        fields.join(" ")
    )
}

/// Whether this process is the one `nohup` started to run `test` (SIGHUP ignored, as it then is
/// for everything started from it). When it is not, runs `test` so and checks that it passed:
/// the test's body runs only where this returns true.
pub fn in_nohup_process(test: &str) -> bool {
    const UNDER_NOHUP: &str = "HUSH_TEST_UNDER_NOHUP";
    if std::env::var_os(UNDER_NOHUP).is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let ignored = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(ignored & 1, 1, "nohup left SIGHUP (bit 0) ignored");
        return true;
    }
    let out = std::process::Command::new("nohup")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test])
        .env(UNDER_NOHUP, "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1 passed"), "{said}");
    false
}

/// Runs `body` on a runtime of its own (for a test that is a plain `#[test]`).
pub fn block_on<T>(body: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body)
}
