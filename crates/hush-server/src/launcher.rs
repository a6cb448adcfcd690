//! Server-launched apps: Streamlit Cloud's "Deploy an app", on one machine. Each app with a
//! launch configuration runs under the same runner and delivery loop `hush run` uses, with the
//! watch hub and the vault as its [`VersionSource`]; a crash restarts it with backoff; its
//! output, masked, is kept for the panel and copied to the server's own stdout/stderr.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hush_runner::{
    Announcements, Backoff, ChildState, Delivery, ExitCause, Fetched, FollowOptions, LogBuffer,
    Report, Runner, RunnerConfig, SecretsUpdate, VersionSource, hostname,
};
use hush_store::{App, AppliedVersions, InstanceReport, LaunchConfig, SharedVersion};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use hush_store::now_millis;

const LOG_LINES: usize = 500;

pub struct Launcher {
    apps_dir: PathBuf,
    apps: Mutex<HashMap<i64, Arc<Launched>>>,
}

struct Launched {
    launch: LaunchConfig,
    runner: Runner,
    logs: Arc<LogBuffer>,
    restarts: AtomicU32,
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
        let command = command_words(&launch.command)?;
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
        let (status, pid, exit_code, message) = panel_state(&state);
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
            "restarts": launched.restarts.load(Ordering::Relaxed),
            "applied_version": *launched.runner.applied().borrow(),
            "launch": launched.launch,
            "logs": logs,
        }))
    }
}

fn panel_state(state: &ChildState) -> (&'static str, Option<u32>, Option<i32>, Option<String>) {
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

/// What a launched app follows: the watch hub for announcements, the vault for the secrets,
/// the store for its running-copy reports. `app` stands for the environment it follows.
struct ServerSource {
    state: AppState,
    app: App,
    /// What each revision fetched lately was made of, for the reports.
    fetched: Fetched<AppliedVersions>,
}

impl VersionSource for ServerSource {
    type Error = String;

    async fn watch(&self, after: i64) -> Result<Announcements<String>, String> {
        let current = crate::envs::current(&self.state, &self.app)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))?
            .rev;
        let versions = self.state.hub.subscribe(self.app.env_id, current);
        Ok(Box::pin(futures::stream::unfold(
            (versions, after),
            |(mut versions, last)| async move {
                loop {
                    let newest = versions.borrow_and_update().total();
                    if newest > last {
                        return Some((Ok(newest), (versions, newest)));
                    }
                    // The app was deleted: the watch ends.
                    versions.changed().await.ok()?;
                }
            },
        )))
    }

    /// The app's newest secrets (an app without any gets an empty document, version 0). An
    /// error (database away, wrong master key) is not "no secrets": the caller tries again.
    async fn fetch(&self) -> Result<SecretsUpdate, String> {
        let current = crate::envs::current(&self.state, &self.app)
            .await
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        let text = current
            .text()
            .map_err(|e| format!("{}: {}", e.code, e.message))?;
        self.fetched.remember(
            current.rev.total(),
            AppliedVersions {
                version: current.version(),
                shared: current
                    .included_versions()
                    .into_iter()
                    .map(|i| SharedVersion {
                        name: i.document,
                        version: i.version,
                    })
                    .collect(),
            },
        );
        Ok(SecretsUpdate::new(current.rev.total(), text.to_string()))
    }

    async fn report(&self, report: Report) -> Result<(), String> {
        let label = panel_state(&report.state).0;
        self.state
            .store
            .report_instance(self.instance(&report, label))
            .await
            .map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        format!("the secrets of {}/{}", self.app.name, self.app.env)
    }
}

impl ServerSource {
    /// The running-copy report of the environment this app follows.
    fn instance(&self, report: &Report, status: &str) -> InstanceReport {
        InstanceReport {
            app_id: self.app.env_id,
            instance_id: format!("server:{}", hostname()),
            hostname: hostname(),
            pid: report.state.pid().map(i64::from),
            applied_version: report.applied_version.unwrap_or(0),
            applied: report
                .applied_version
                .and_then(|version| self.fetched.get(version)),
            status: hush_store::InstanceStatus::parse(status)
                .unwrap_or(hush_store::InstanceStatus::Running),
            reported_at: now_millis(),
        }
    }
}

/// The first version to start with, retried with backoff until it opens or the app is stopped.
async fn first_version(
    source: &ServerSource,
    stop: &mut watch::Receiver<bool>,
) -> Option<SecretsUpdate> {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30)).jitter(0.2);
    loop {
        match source.fetch().await {
            Ok(update) => return Some(update),
            Err(err) => {
                tracing::error!(app = %source.app.name, error = %err, "cannot open the app's secrets; retrying")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// Runs the app until it is stopped for good: follows its versions and reports its state
/// ([`Delivery`]), restarts it after a crash (with backoff), reboots it on request.
async fn supervise(state: AppState, app: App, launched: Arc<Launched>) {
    let env = launched.launch.env_name();
    let app = match state.store.find_environment(app.id, env).await {
        Ok(found) => app.in_env(&found),
        Err(err) => {
            tracing::error!(app = %app.name, env, error = %err, "cannot launch the app: its environment cannot be found");
            launched.done.send_replace(true);
            return;
        }
    };
    let source = Arc::new(ServerSource {
        state: state.clone(),
        app: app.clone(),
        fetched: Fetched::default(),
    });
    let mut stop = launched.stop.subscribe();
    if let Some(first) = first_version(&source, &mut stop).await {
        let mut delivery = Delivery::start(
            source.clone(),
            &launched.runner,
            first.version,
            FollowOptions::default(),
        );
        run_until_stopped(&app, &launched, first, delivery.updates(), &mut stop).await;
    }
    let stopped = Report::of(&launched.runner);
    let _ = state
        .store
        .report_instance(source.instance(&stopped, "stopped"))
        .await;
    launched.done.send_replace(true);
}

async fn run_until_stopped(
    app: &App,
    launched: &Launched,
    first: SecretsUpdate,
    updates: &mut mpsc::Receiver<SecretsUpdate>,
    stop: &mut watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    let mut initial = first;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let rebooted = AtomicBool::new(false);
        let mut stop_now = stop.clone();
        let shutdown = async {
            tokio::select! {
                _ = stop_now.wait_for(|s| *s) => {}
                _ = launched.reboot.notified() => rebooted.store(true, Ordering::Relaxed),
            }
        };
        let result = launched
            .runner
            .run(initial.clone(), updates, shutdown)
            .await;
        // A restart starts from the newest version the app had.
        if let Some(latest) = launched.runner.latest() {
            initial = latest;
        }
        if *stop.borrow() {
            return;
        }
        if rebooted.load(Ordering::Relaxed) {
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
        launched.restarts.fetch_add(1, Ordering::Relaxed);
        let delay = backoff.delay_after(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
            _ = launched.reboot.notified() => {}
        }
    }
}

/// A launch command split into its words as a shell would (quotes, escapes), or why it cannot
/// be: checked before launch settings are stored, and again when the app starts.
pub fn command_words(command: &str) -> ApiResult<Vec<String>> {
    let words = shell_words::split(command)
        .map_err(|e| ApiError::bad_request(format!("launch.command: {e}")))?;
    if words.is_empty() {
        return Err(ApiError::bad_request(
            "launch.command: give the command that starts the app",
        ));
    }
    Ok(words)
}
