//! `hush run`: start a command with an app's secrets (environment variables and a private
//! secrets file, through hush-runner) and keep them current while it runs.
//!
//! With a server: fetch the newest version, start the command, follow the app's watch stream
//! and hand every newer version to the runner, and report the applied version back (on every
//! change and every 30 s as a heartbeat). When the server goes away the app keeps running on
//! the last good secrets while `hush run` reconnects (0.5 s doubling to 30 s, ±20 % jitter) and
//! catches up. Starting while the server is down uses the encrypted local copy (see
//! [`fallback`]). With `--local`: the same delivery from the local secrets files, following edits.

mod fallback;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use hush_client::api::{Client, ClientError, InstanceReport};
use hush_client::secrets::{Secrets, WatchEvent};
use hush_runner::{ChildState, OnChange, Runner, RunnerConfig, SecretsUpdate, Signal};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep, timeout};

use crate::profile::ServerArgs;
use fallback::{Fallback, Unusable};

/// First reconnect delay; doubles up to [`RECONNECT_MAX`].
const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// A watch connection that stayed up this long was healthy: the next delay starts over.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(5);
/// The server sends a heartbeat every 15 s; three missed ones mean the connection is dead.
const WATCH_IDLE: Duration = Duration::from_secs(45);
/// How long to wait for the watch stream's response headers.
const WATCH_CONNECT: Duration = Duration::from_secs(30);
/// The server shows an instance as gone after 90 s without a report.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Arguments of `hush run`. No `Debug`: it holds the token.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The app whose secrets to deliver.
    #[arg(long, env = "HUSH_APP")]
    pub app: Option<String>,
    /// No server: deliver the local secrets files (~/.streamlit/secrets.toml,
    /// ./.streamlit/secrets.toml, STREAMLIT_SECRETS_FILES, …) and follow edits to them.
    #[arg(long)]
    pub local: bool,
    /// What to do when the secrets change: `rerun` (Streamlit re-runs the script; the default
    /// for `streamlit run`), `restart` (the default otherwise), `signal:HUP` (any signal name),
    /// or `none` (only replace the secrets file).
    #[arg(long, value_name = "MODE", value_parser = parse_on_change)]
    pub on_change: Option<OnChange>,
    /// Replace every secret value in the command's output with a placeholder.
    #[arg(long)]
    pub mask_output: bool,
    /// Start from the encrypted local copy of the last fetched secrets when the server cannot be
    /// reached, if that copy is younger than this (e.g. 90s, 30m, 24h, 7d); 0 keeps no copy.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub fallback_max_age: Duration,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    if args.local {
        return run_local(args).await;
    }
    run_server(args).await
}

fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HUSH_LOG").unwrap_or_else(|_| "info".into());
    // Ignore the error of a second init (tests call `run` more than once).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The runner's configuration for this command: mode, masking, signals, and the environment
/// without `HUSH_TOKEN` (the app gets its secrets, never the credential to fetch them).
fn runner_config(args: &RunArgs) -> RunnerConfig {
    let mut config = RunnerConfig::new(args.command.clone());
    if let Some(mode) = args.on_change {
        config.on_change = mode;
    }
    config.mask_output = args.mask_output;
    config.forward_signals = true;
    config.base_env = Some(
        std::env::vars_os()
            .filter(|(key, _)| key != "HUSH_TOKEN")
            .collect::<Vec<(OsString, OsString)>>(),
    );
    config
}

async fn run_server(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(app) = args.app.clone().filter(|a| !a.is_empty()) else {
        bail!(
            "which app? give --app NAME or set HUSH_APP (or use --local for the local secrets files)"
        );
    };
    let (server, token) = args.server.resolve()?;
    let Some(token) = token else {
        bail!(
            "no token for {server}: set HUSH_TOKEN to an app token of {app:?} (the panel shows \
             how to create one), or run `hush login`"
        );
    };
    let client = Client::new(&server, Some(token.clone()))?;
    let fallback = if args.fallback_max_age.is_zero() {
        Fallback::new(&server, &app, &token).remove();
        None
    } else {
        Some(Arc::new(Fallback::new(&server, &app, &token)))
    };
    drop(token);

    let (initial, from_fallback) =
        initial_secrets(&client, &app, fallback.as_deref(), args.fallback_max_age).await?;

    let runner = Runner::new(runner_config(&args));
    let (tx, mut rx) = mpsc::channel(16);
    let reconnected = Arc::new(Notify::new());
    let follower = Follower {
        client: client.clone(),
        app: app.clone(),
        fallback,
        updates: tx,
        applied: runner.applied(),
        reconnected: reconnected.clone(),
        sent: initial.version,
        refresh_on_connect: from_fallback,
        down: from_fallback,
    };
    let follow = tokio::spawn(follower.follow());
    let mut reporter = Reporter {
        client: client.clone(),
        app: app.clone(),
        instance_id: instance_id(),
        hostname: hostname(),
        applied: runner.applied(),
        status: runner.status(),
    };
    let report = tokio::spawn(reporter.clone().report_loop(reconnected));

    let result = runner.run(initial, &mut rx, std::future::pending()).await;
    follow.abort();
    report.abort();
    let exit = result?;
    // Best effort: tell the server this copy has stopped.
    let _ = timeout(Duration::from_secs(2), reporter.send()).await;
    std::process::exit(exit.code);
}

/// Whether the server could not be reached (or is broken), as opposed to refusing us.
fn unreachable(err: &ClientError) -> bool {
    match err {
        ClientError::Transport(_) | ClientError::Decode(_) => true,
        ClientError::Api { status, .. } => *status >= 500,
    }
}

/// The version to start with: the server's newest, or the local copy when the server cannot
/// be reached. The flag says whether it came from the copy.
async fn initial_secrets(
    client: &Client,
    app: &str,
    fallback: Option<&Fallback>,
    max_age: Duration,
) -> anyhow::Result<(SecretsUpdate, bool)> {
    let err = match client.secrets(app).await {
        Ok(secrets) => {
            if let Some(fallback) = fallback
                && let Err(e) = fallback.write(secrets.version, &secrets.toml)
            {
                eprintln!("hush: warning: cannot keep a local fallback copy: {e:#}");
            }
            let update = SecretsUpdate {
                version: secrets.version,
                toml: secrets.toml,
            };
            return Ok((update, false));
        }
        Err(err) if !unreachable(&err) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot fetch the secrets of {app:?} from {}",
                    client.server()
                )
            });
        }
        Err(err) => err,
    };
    let server = client.server();
    let Some(fallback) = fallback else {
        bail!(
            "{err} ({server}); no local fallback copy is used \
             (--fallback-max-age 0)"
        );
    };
    match fallback.read(max_age) {
        Ok(copy) => {
            eprintln!(
                "hush: warning: {err} ({server}).\n\
                 hush: warning: starting {app:?} with the local fallback copy of version {} \
                 fetched {} ago; hush keeps trying to connect and applies newer secrets as soon \
                 as it can.",
                copy.version,
                human(copy.age),
            );
            let update = SecretsUpdate {
                version: copy.version,
                toml: copy.toml,
            };
            Ok((update, true))
        }
        Err(Unusable::Missing(path)) => bail!(
            "{err} ({server}); and there is no local fallback copy \
             of {app:?} ({} is written after every successful fetch). Start again when the \
             server is reachable.",
            path.display()
        ),
        Err(Unusable::Unreadable(path)) => bail!(
            "{err} ({server}); and the local fallback copy {} \
             cannot be opened (it was written with another token, or is damaged). Start again \
             when the server is reachable.",
            path.display()
        ),
        Err(Unusable::TooOld { age, max_age }) => bail!(
            "{err} ({server}); and the local fallback copy of \
             {app:?} was fetched {} ago, longer than --fallback-max-age {}. Start again when the \
             server is reachable, or allow an older copy with --fallback-max-age.",
            human(age),
            human(max_age)
        ),
    }
}

/// Follows the app's watch stream and hands every newer version to the runner.
struct Follower {
    client: Client,
    app: String,
    fallback: Option<Arc<Fallback>>,
    updates: mpsc::Sender<SecretsUpdate>,
    applied: watch::Receiver<Option<i64>>,
    /// Told after a reconnect, so the reporter re-reports right away.
    reconnected: Arc<Notify>,
    /// The newest version handed to the runner.
    sent: i64,
    /// Fetch once on the first connection even without a newer version (started from the
    /// fallback copy: refresh it).
    refresh_on_connect: bool,
    /// The server is known to be unreachable (for saying so once, and when it is back).
    down: bool,
}

impl Follower {
    async fn follow(mut self) {
        let mut delay = RECONNECT_INITIAL;
        loop {
            let connected_at = Instant::now();
            match self.connect_and_follow().await {
                Ok(()) => tracing::info!("the watch stream ended; reconnecting"),
                Err(err) => {
                    if !self.down {
                        self.down = true;
                        let what = if unreachable(&err) {
                            "lost the hush server at"
                        } else {
                            "the hush server refused to send updates from"
                        };
                        eprintln!(
                            "hush: warning: {what} {} ({err}); the app keeps its current \
                             secrets while hush retries",
                            self.client.server()
                        );
                    } else {
                        tracing::debug!(error = %err, "still cannot reach the hush server");
                    }
                }
            }
            if connected_at.elapsed() >= HEALTHY_CONNECTION {
                delay = RECONNECT_INITIAL;
            }
            sleep(jittered(delay)).await;
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// One connection: resume after the applied version, fetch each newer one. Returns when
    /// the connection ends; `Err` when it failed.
    async fn connect_and_follow(&mut self) -> Result<(), ClientError> {
        let last_seen = (*self.applied.borrow()).unwrap_or(0).max(0);
        let stream = timeout(
            WATCH_CONNECT,
            self.client.watch(&self.app, last_seen, WATCH_IDLE),
        )
        .await
        .map_err(|_| ClientError::Transport("no answer to the watch request".into()))??;
        if self.down {
            self.down = false;
            eprintln!(
                "hush: connected to the hush server at {} again",
                self.client.server()
            );
            self.reconnected.notify_one();
        }
        if std::mem::take(&mut self.refresh_on_connect) {
            self.fetch(None).await?;
        }
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let version = item?;
            if version > self.sent {
                self.fetch(Some(version)).await?;
            }
        }
        Ok(())
    }

    /// Fetches the newest version; hands it on when newer than what was sent.
    async fn fetch(&mut self, announced: Option<i64>) -> Result<(), ClientError> {
        let secrets = self.client.secrets(&self.app).await?;
        if secrets.version > self.sent {
            tracing::debug!(version = secrets.version, ?announced, "new secrets");
            self.sent = secrets.version;
            let update = SecretsUpdate {
                version: secrets.version,
                toml: secrets.toml.clone(),
            };
            // A closed channel: the runner is done and this task is about to be aborted.
            let _ = self.updates.send(update).await;
        }
        // After the app has its update: the copy's fsync must not delay delivery.
        if let Some(fallback) = self.fallback.clone() {
            let written =
                tokio::task::spawn_blocking(move || fallback.write(secrets.version, &secrets.toml))
                    .await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %format!("{e:#}"), "cannot update the local fallback copy");
            }
        }
        Ok(())
    }
}

/// Reports this running copy (applied version, pid, state) to the server.
#[derive(Clone)]
struct Reporter {
    client: Client,
    app: String,
    instance_id: String,
    hostname: String,
    applied: watch::Receiver<Option<i64>>,
    status: watch::Receiver<ChildState>,
}

impl Reporter {
    async fn report_loop(mut self, reconnected: Arc<Notify>) {
        let mut failing = false;
        loop {
            match self.send().await {
                Ok(()) => failing = false,
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "cannot report the applied version; will retry");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                changed = self.applied.changed() => if changed.is_err() { return },
                changed = self.status.changed() => if changed.is_err() { return },
                () = reconnected.notified() => {}
                () = sleep(HEARTBEAT) => {}
            }
            // Let a burst of state changes (stop, start, applied) settle into one report.
            sleep(Duration::from_millis(100)).await;
        }
    }

    async fn send(&mut self) -> Result<(), ClientError> {
        let Some(applied_version) = *self.applied.borrow_and_update() else {
            return Ok(());
        };
        let state = self.status.borrow_and_update().clone();
        let (status, pid) = match state {
            ChildState::Starting => ("starting", None),
            ChildState::Running { pid } => ("running", Some(i64::from(pid))),
            ChildState::Restarting => ("restarting", None),
            ChildState::Stopping => ("stopping", None),
            ChildState::Exited { .. } => ("exited", None),
            ChildState::Failed { .. } => ("failed", None),
        };
        let report = InstanceReport {
            instance_id: self.instance_id.clone(),
            hostname: self.hostname.clone(),
            pid,
            applied_version,
            status: Some(status.to_string()),
        };
        self.client.report_instance(&self.app, &report).await
    }
}

// ---- --local ----

/// `--local`: the secrets files Streamlit would read (hush-client's resolution: defaults,
/// `STREAMLIT_SECRETS_FILES`, `[secrets] files`, directories), merged, delivered the same way
/// as a server's; every content change is a new local version. An edit that does not load
/// keeps the last good secrets and says why.
async fn run_local(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut builder = Secrets::builder();
    if let Some(dir) = streamlit_script_dir(&args.command) {
        builder = builder.script_dir(dir);
    }
    let secrets = builder.load().map_err(|e| {
        anyhow::anyhow!(
            "{e}\nCreate .streamlit/secrets.toml with `hush init`, or run without --local"
        )
    })?;
    let watcher = secrets.watch();
    let initial = SecretsUpdate {
        version: 1,
        toml: table_to_toml(&secrets.to_table())?,
    };
    let runner = Runner::new(runner_config(&args));
    let (tx, mut rx) = mpsc::channel(16);
    // The watcher blocks on a channel: give it a thread of its own.
    std::thread::Builder::new()
        .name("hush-local-watch".into())
        .spawn(move || {
            let mut version = 1;
            for event in watcher.events() {
                match event {
                    WatchEvent::Reloaded(secrets) => match table_to_toml(&secrets.to_table()) {
                        Ok(toml) => {
                            version += 1;
                            eprintln!("hush: local secrets changed; applying them");
                            if tx.blocking_send(SecretsUpdate { version, toml }).is_err() {
                                return;
                            }
                        }
                        Err(e) => eprintln!("hush: {e:#}; the app keeps the last good secrets"),
                    },
                    WatchEvent::Invalid(err) => {
                        eprintln!("hush: {err}; the app keeps the last good secrets");
                    }
                }
            }
        })
        .context("cannot start watching the local secrets files")?;
    let exit = runner.run(initial, &mut rx, std::future::pending()).await?;
    std::process::exit(exit.code);
}

/// The directory of the main script of `streamlit run <script>`: Streamlit also reads
/// `<script dir>/.streamlit/secrets.toml` (rule 1).
fn streamlit_script_dir(command: &[String]) -> Option<std::path::PathBuf> {
    if !hush_runner::looks_like_streamlit_run(command) {
        return None;
    }
    let run = command
        .windows(2)
        .position(|pair| pair[0].rsplit('/').next() == Some("streamlit") && pair[1] == "run")?;
    let script = std::path::Path::new(command.get(run + 2)?);
    let dir = script.parent()?;
    Some(if dir.as_os_str().is_empty() {
        std::path::PathBuf::from(".")
    } else {
        dir.to_path_buf()
    })
}

/// The merged secrets as one TOML document for the runner's secrets file. The values are
/// exactly those loaded; comments and layout of the local files are not kept.
fn table_to_toml(table: &hush_core::Table) -> anyhow::Result<String> {
    fn convert(value: &hush_core::Value) -> anyhow::Result<toml::Value> {
        use hush_core::Value as V;
        Ok(match value {
            V::String(s) => toml::Value::String(s.clone()),
            V::Integer(i) => toml::Value::Integer(*i),
            V::Float(f) => toml::Value::Float(*f),
            V::Boolean(b) => toml::Value::Boolean(*b),
            V::Datetime(d) => toml::Value::Datetime(
                d.as_str()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("a date/time value cannot be written as TOML"))?,
            ),
            V::Array(items) => {
                toml::Value::Array(items.iter().map(convert).collect::<Result<_, _>>()?)
            }
            V::Table(t) => toml::Value::Table(convert_table(t)?),
        })
    }
    fn convert_table(table: &hush_core::Table) -> anyhow::Result<toml::Table> {
        table
            .iter()
            .map(|(k, v)| Ok((k.clone(), convert(v)?)))
            .collect()
    }
    toml::to_string(&convert_table(table)?)
        .map_err(|e| anyhow::anyhow!("cannot write the merged secrets as TOML: {e}"))
}

// ---- small helpers ----

/// A random id for this `hush run` process.
fn instance_id() -> String {
    hush_crypto::random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

/// `delay` ± 20 %.
fn jittered(delay: Duration) -> Duration {
    let r = u64::from_le_bytes(hush_crypto::random_bytes::<8>());
    let factor = 0.8 + 0.4 * (r as f64 / u64::MAX as f64);
    delay.mul_f64(factor)
}

fn parse_on_change(s: &str) -> Result<OnChange, String> {
    match s {
        "rerun" | "streamlit" => Ok(OnChange::StreamlitRerun),
        "restart" => Ok(OnChange::Restart),
        "none" => Ok(OnChange::None),
        _ => {
            let Some(name) = s.strip_prefix("signal:") else {
                return Err("use rerun, restart, signal:NAME (e.g. signal:HUP) or none".into());
            };
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&full)
                .map(OnChange::Signal)
                .map_err(|_| format!("{name:?} is not a signal name; e.g. signal:HUP, signal:USR1"))
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: give a whole number with a unit, e.g. 90s, 30m, 24h, 7d"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// `3h 12m`, `45s`: for messages.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_change_modes_parse() {
        assert_eq!(parse_on_change("rerun"), Ok(OnChange::StreamlitRerun));
        assert_eq!(parse_on_change("restart"), Ok(OnChange::Restart));
        assert_eq!(parse_on_change("none"), Ok(OnChange::None));
        assert_eq!(
            parse_on_change("signal:HUP"),
            Ok(OnChange::Signal(Signal::SIGHUP))
        );
        assert_eq!(
            parse_on_change("signal:sigusr1"),
            Ok(OnChange::Signal(Signal::SIGUSR1))
        );
        assert!(parse_on_change("signal:NOPE").is_err());
        assert!(parse_on_change("reload").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn merged_secrets_round_trip_through_toml() {
        let text = "a = \"x\"\nf = 1e22\nn = nan\nz = -0.0\nd = 1979-05-27T07:32:00Z\nt = 07:32:00\n\"with.dot\" = 1\nl = [1, 2]\n[db]\nhost = \"h\"\n[[servers]]\nname = \"s\"\n";
        let doc = hush_core::Document::parse(text).unwrap();
        let written = table_to_toml(doc.root()).unwrap();
        let again = hush_core::Document::parse(&written).unwrap();
        assert!(
            hush_core::diff(doc.root(), again.root()).is_empty(),
            "{written}"
        );
        assert_eq!(again.env().exported, doc.env().exported);
    }

    #[test]
    fn the_streamlit_script_dir_is_found() {
        let cmd = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            streamlit_script_dir(&cmd("streamlit run apps/web/app.py --server.port 1")),
            Some("apps/web".into())
        );
        assert_eq!(
            streamlit_script_dir(&cmd("python -m streamlit run app.py")),
            Some(".".into())
        );
        assert_eq!(streamlit_script_dir(&cmd("python app.py")), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
