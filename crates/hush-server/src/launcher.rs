//! Server-launched apps: Streamlit Cloud's "Deploy an app", on one machine. Each app with a
//! launch configuration runs under the same runner `hush run` uses, fed from the watch hub;
//! a crash restarts it with backoff; its masked output is kept for the panel.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hush_runner::{Backoff, ChildState, ExitCause, LogBuffer, Runner, RunnerConfig, SecretsUpdate};
use hush_store::{App, InstanceReport, LaunchConfig};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_millis};

const LOG_LINES: usize = 500;

pub struct Launcher {
    apps_dir: PathBuf,
    apps: Mutex<HashMap<i64, Arc<Launched>>>,
}

struct Launched {
    launch: LaunchConfig,
    runner: Runner,
    logs: Arc<LogBuffer>,
    restarts: std::sync::atomic::AtomicU32,
    /// Set for good when the app is deleted, its launch settings change, or the server stops.
    stop: watch::Sender<bool>,
    reboot: Notify,
    done: watch::Sender<bool>,
}

impl Launcher {
    pub fn new(apps_dir: PathBuf) -> Launcher {
        Launcher {
            apps_dir,
            apps: Mutex::default(),
        }
    }

    /// The folder an app runs in: inside the apps directory, even through symbolic links.
    pub fn folder(&self, launch: &LaunchConfig) -> ApiResult<PathBuf> {
        let root = self.apps_dir.canonicalize().map_err(|e| {
            ApiError::bad_request(format!(
                "the apps directory {} cannot be used: {e}",
                self.apps_dir.display()
            ))
        })?;
        let folder = root.join(&launch.folder).canonicalize().map_err(|_| {
            ApiError::bad_request(format!(
                "launch.folder: {} does not exist inside the apps directory {}",
                launch.folder,
                root.display()
            ))
        })?;
        if !folder.starts_with(&root) || !folder.is_dir() {
            return Err(ApiError::bad_request(format!(
                "launch.folder: {} must be a folder inside the apps directory {}",
                launch.folder,
                root.display()
            )));
        }
        Ok(folder)
    }

    /// Starts (or restarts with new settings) the app's supervised process.
    pub fn start(&self, state: &AppState, app: &App) -> ApiResult<()> {
        let Some(launch) = app.launch.clone() else {
            return Ok(());
        };
        let folder = self.folder(&launch)?;
        let command = shell_words::split(&launch.command)
            .map_err(|e| ApiError::bad_request(format!("launch.command: {e}")))?;
        if command.is_empty() {
            return Err(ApiError::bad_request(
                "launch.command: give the command that starts the app",
            ));
        }
        self.stop(app.id);
        let logs = Arc::new(LogBuffer::new(LOG_LINES));
        let mut config = RunnerConfig::new(command);
        config.workdir = Some(folder);
        config.log_buffer = Some(logs.clone());
        config.grace = Duration::from_secs(5);
        config.base_env = Some(child_env(launch.port));
        let launched = Arc::new(Launched {
            launch,
            runner: Runner::new(config),
            logs,
            restarts: Default::default(),
            stop: watch::Sender::new(false),
            reboot: Notify::new(),
            done: watch::Sender::new(false),
        });
        self.apps
            .lock()
            .expect("launcher lock")
            .insert(app.id, launched.clone());
        tokio::spawn(supervise(state.clone(), app.clone(), launched));
        Ok(())
    }

    pub fn stop(&self, app_id: i64) {
        if let Some(launched) = self.apps.lock().expect("launcher lock").remove(&app_id) {
            launched.stop.send_replace(true);
        }
    }

    pub fn reboot(&self, app_id: i64) -> bool {
        match self.apps.lock().expect("launcher lock").get(&app_id) {
            Some(launched) => {
                launched.reboot.notify_one();
                true
            }
            None => false,
        }
    }

    /// Stops every app and waits (at most `grace`) until they are down.
    pub async fn stop_all(&self, grace: Duration) {
        let all: Vec<Arc<Launched>> = self
            .apps
            .lock()
            .expect("launcher lock")
            .drain()
            .map(|(_, l)| l)
            .collect();
        for launched in &all {
            launched.stop.send_replace(true);
        }
        let _ = tokio::time::timeout(grace, async {
            for launched in &all {
                let _ = launched.done.subscribe().wait_for(|d| *d).await;
            }
        })
        .await;
    }

    /// What the panel shows: state, restarts, applied version, and the newest masked output lines.
    pub fn status(&self, app_id: i64, logs_since: u64) -> Option<Value> {
        let launched = self
            .apps
            .lock()
            .expect("launcher lock")
            .get(&app_id)
            .cloned()?;
        let state = launched.runner.status().borrow().clone();
        let (status, pid, exit_code, message) = describe(&state);
        let logs: Vec<Value> = launched
            .logs
            .since(logs_since)
            .into_iter()
            .map(|l| json!({ "seq": l.seq, "stream": format!("{:?}", l.stream).to_lowercase(), "text": l.text }))
            .collect();
        Some(json!({
            "status": status,
            "pid": pid,
            "exit_code": exit_code,
            "message": message,
            "restarts": launched.restarts.load(std::sync::atomic::Ordering::Relaxed),
            "applied_version": *launched.runner.applied().borrow(),
            "launch": launched.launch,
            "logs": logs,
        }))
    }
}

fn describe(state: &ChildState) -> (&'static str, Option<u32>, Option<i32>, Option<String>) {
    match state {
        ChildState::Starting => ("starting", None, None, None),
        ChildState::Running { pid } => ("running", Some(*pid), None, None),
        ChildState::Restarting => ("restarting", None, None, None),
        ChildState::Stopping => ("stopping", None, None, None),
        ChildState::Exited { code } => ("crashed", None, Some(*code), None),
        ChildState::Failed { message } => ("failed", None, None, Some(message.clone())),
    }
}

/// The environment an app starts from: the server's, without anything of hush's own
/// (`HUSH_MASTER_KEY`, `HUSH_DATABASE_URL`, … must never reach an app), plus its port.
fn child_env(port: Option<u16>) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.to_string_lossy().starts_with("HUSH_"))
        .collect();
    env.push(("STREAMLIT_SERVER_HEADLESS".into(), "true".into()));
    env.push((
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS".into(),
        "false".into(),
    ));
    if let Some(port) = port {
        env.push(("PORT".into(), port.to_string().into()));
        env.push(("STREAMLIT_SERVER_PORT".into(), port.to_string().into()));
    }
    env
}

/// The app's newest secrets (an app without any gets an empty document, version 0). An error
/// (database away, wrong master key) is not "no secrets": the caller waits and tries again.
async fn current(state: &AppState, app: &App) -> ApiResult<SecretsUpdate> {
    let update = match state.vault.latest(state.store.as_ref(), app).await? {
        Some(latest) => SecretsUpdate {
            version: latest.version,
            toml: latest.text.to_string(),
        },
        None => SecretsUpdate {
            version: 0,
            toml: String::new(),
        },
    };
    Ok(update)
}

/// [`current`], retried every second until it works or the app is stopped.
async fn current_or_retry(
    state: &AppState,
    app: &App,
    stop: &mut watch::Receiver<bool>,
) -> Option<SecretsUpdate> {
    loop {
        match current(state, app).await {
            Ok(update) => return Some(update),
            Err(err) => {
                tracing::error!(app = %app.name, code = err.code, "cannot open the app's secrets; retrying")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// Runs the app until it is stopped for good: feeds it every new version, restarts it after a
/// crash (with backoff), reboots it on request, and reports its state as a running copy.
async fn supervise(state: AppState, app: App, launched: Arc<Launched>) {
    let (tx, mut updates) = mpsc::channel(16);
    let feeder = tokio::spawn(feed(state.clone(), app.clone(), tx));
    let reporter = tokio::spawn(report(state.clone(), app.clone(), launched.clone()));
    let mut stop = launched.stop.subscribe();
    let mut backoff = Backoff::default();
    loop {
        if *stop.borrow() {
            break;
        }
        let initial = match launched.runner.latest() {
            Some(latest) => latest,
            None => match current_or_retry(&state, &app, &mut stop).await {
                Some(update) => update,
                None => break,
            },
        };
        let started = Instant::now();
        let rebooted = std::sync::atomic::AtomicBool::new(false);
        let shutdown = async {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = launched.reboot.notified() => rebooted.store(true, std::sync::atomic::Ordering::Relaxed),
            }
        };
        let result = launched.runner.run(initial, &mut updates, shutdown).await;
        if *stop.borrow() {
            break;
        }
        if rebooted.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(app = %app.name, "rebooted");
            continue;
        }
        match result {
            Ok(exit) if exit.cause == ExitCause::Exited => {
                tracing::warn!(app = %app.name, code = exit.code, "the app exited; restarting with backoff")
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(app = %app.name, error = %err, "the app could not run; retrying with backoff")
            }
        }
        launched
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delay = backoff.delay_after(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => break,
            _ = launched.reboot.notified() => {}
        }
    }
    feeder.abort();
    reporter.abort();
    let _ = state
        .store
        .report_instance(instance(&app, &launched, "stopped"))
        .await;
    launched.done.send_replace(true);
}

/// Sends each new version of the app to its runner.
async fn feed(state: AppState, app: App, tx: mpsc::Sender<SecretsUpdate>) {
    let current_version = state
        .vault
        .latest(state.store.as_ref(), &app)
        .await
        .ok()
        .flatten()
        .map_or(0, |l| l.version);
    let mut versions = state.hub.subscribe(app.id, current_version);
    // The feeder ends with its task (aborted by the supervisor), never by a stop signal.
    let no_stop = watch::Sender::new(false);
    let mut never = no_stop.subscribe();
    while versions.changed().await.is_ok() {
        let Some(update) = current_or_retry(&state, &app, &mut never).await else {
            return;
        };
        if tx.send(update).await.is_err() {
            return;
        }
    }
}

fn instance(app: &App, launched: &Launched, status: &str) -> InstanceReport {
    let pid = match &*launched.runner.status().borrow() {
        ChildState::Running { pid } => Some(i64::from(*pid)),
        _ => None,
    };
    InstanceReport {
        app_id: app.id,
        instance_id: format!("server:{}", hostname()),
        hostname: hostname(),
        pid,
        applied_version: launched.runner.applied().borrow().unwrap_or(0),
        status: status.to_string(),
        reported_at: now_millis(),
    }
}

/// Reports the app as a running copy whenever its state or applied version changes, and every
/// 30 s so the panel knows it is alive.
async fn report(state: AppState, app: App, launched: Arc<Launched>) {
    let mut status = launched.runner.status();
    let mut applied = launched.runner.applied();
    loop {
        let label = describe(&status.borrow_and_update()).0;
        applied.borrow_and_update();
        if let Err(err) = state
            .store
            .report_instance(instance(&app, &launched, label))
            .await
        {
            tracing::warn!(app = %app.name, error = %err, "could not record the app's state");
        }
        tokio::select! {
            r = status.changed() => if r.is_err() { return },
            r = applied.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
