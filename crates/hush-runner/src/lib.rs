//! Delivery into a running app: a private secrets file, the child's environment, and what to do
//! when a new version arrives (Streamlit re-run, restart, signal). Shared by `hush run` and apps the
//! server launches itself; it never talks HTTP: versions come from a [`VersionSource`] that each
//! of them implements (an HTTP watch stream, the server's watch hub), followed by one loop
//! ([`Delivery`]) with one [`Backoff`].
//!
//! The line is straight: [`VersionSource`] → [`SecretsUpdate`] → [`hush_core::Document`] →
//! secrets file + environment → child process, and the version now applied goes back out through
//! [`Runner::applied`] to [`VersionSource::report`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), hush_runner::RunError> {
//! use hush_runner::{Runner, RunnerConfig, SecretsUpdate};
//! let config = RunnerConfig::new(vec!["streamlit".into(), "run".into(), "app.py".into()]);
//! let runner = Runner::new(config);
//! let mut applied = runner.applied(); // report `*applied.borrow()` to the server
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! # drop(tx);
//! let initial = SecretsUpdate::new(1, "API_KEY = \"...\"");
//! let exit = runner.run(initial, &mut rx, std::future::pending()).await?;
//! std::process::exit(exit.code);
//! # }
//! ```
//!
//! What the child gets (compat §2.1–§2.5):
//! - a fresh directory only the user can read (0700) holding `secrets.toml` (0600) with the whole
//!   document text, removed when [`Runner::run`] returns (or its future is dropped), and by the
//!   next runner to start when this one was killed;
//! - the promise that it dies with the runner, even when the runner is killed with SIGKILL: the
//!   kernel's parent-death signal (Linux) for its first process, a watchdog for the rest of its
//!   process group;
//! - the runner's original environment, plus every exported root-level key (overwriting a variable
//!   of the same name), plus `STREAMLIT_SECRETS_FILES` and `HUSH_SECRETS_FILE` naming the file, plus
//!   `STREAMLIT_SERVER_RUN_ON_SAVE=true` in [`OnChange::StreamlitRerun`] mode. A restarted child
//!   gets the original environment plus the *new* secrets: a removed key is gone and a variable the
//!   secrets had overwritten has its original value again.

mod backoff;
mod child;
mod env;
mod follow;
mod mask;
mod run;
mod secrets_dir;
mod terminal;
mod watchdog;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use backoff::Backoff;
pub use follow::{
    Announcements, Delivery, Fetched, FollowOptions, Report, VersionSource, hostname,
};
pub use mask::{CONCEALED, LogBuffer, LogLine, Stream};
pub use nix::sys::signal::Signal;
pub use run::Runner;
pub use secrets_dir::private_runtime_dir;

/// The environment variable (read by Streamlit) that names the secrets file.
pub const STREAMLIT_SECRETS_FILES: &str = "STREAMLIT_SECRETS_FILES";
/// The environment variable (read by hush's own clients) that names the secrets file.
pub const HUSH_SECRETS_FILE: &str = "HUSH_SECRETS_FILE";
/// Set to `true` in [`OnChange::StreamlitRerun`] mode so Streamlit re-runs the script by itself.
pub const STREAMLIT_SERVER_RUN_ON_SAVE: &str = "STREAMLIT_SERVER_RUN_ON_SAVE";
/// The name of the secrets file inside the private directory.
pub const SECRETS_FILE_NAME: &str = "secrets.toml";

/// One version of an app's secrets, as the server serves it. The text is held as a
/// [`SecretString`]: `Debug` shows only the version, and the memory is wiped when dropped.
#[derive(Clone, Debug)]
pub struct SecretsUpdate {
    pub version: i64,
    toml: SecretString,
}

impl SecretsUpdate {
    pub fn new(version: i64, toml: impl Into<String>) -> SecretsUpdate {
        SecretsUpdate {
            version,
            toml: SecretString::from(toml.into()),
        }
    }

    /// The whole document text.
    pub fn toml(&self) -> &str {
        self.toml.expose_secret()
    }
}

/// What the runner does when a newer version arrives. Every mode rewrites the secrets file
/// atomically (temporary file in the same directory, fsync, rename) before anything else. When
/// that fails (a full disk), nothing else is done: the app keeps the version it has, which stays
/// the one reported, and the newest version is written again after a [`Backoff`] delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnChange {
    /// Only rewrite the file: Streamlit polls it, re-reads it, updates `os.environ` and (with
    /// `STREAMLIT_SERVER_RUN_ON_SAVE=true`, which the runner sets) re-runs the script in place.
    /// No restart; sessions are kept.
    StreamlitRerun,
    /// Stop the child's process group (SIGTERM, then SIGKILL after `grace`), wait a random
    /// `0..=restart_jitter`, start it again with the original environment plus the new secrets.
    Restart,
    /// Rewrite the file, then send this signal to the child's process group (e.g. SIGHUP).
    Signal(Signal),
    /// Only rewrite the file; the app reads it when it wants.
    None,
}

impl OnChange {
    /// The default for a command: [`OnChange::StreamlitRerun`] when it looks like `streamlit run`
    /// (also `python -m streamlit run`, `uv run streamlit run`, …), else [`OnChange::Restart`]
    /// (the only way to change a running process's environment).
    pub fn default_for(command: &[String]) -> OnChange {
        if looks_like_streamlit_run(command) {
            OnChange::StreamlitRerun
        } else {
            OnChange::Restart
        }
    }
}

/// True when some argument is `streamlit` (or a path ending in `/streamlit`) followed by `run`.
pub fn looks_like_streamlit_run(command: &[String]) -> bool {
    command.windows(2).any(|pair| {
        let program = pair[0].rsplit('/').next().unwrap_or(&pair[0]);
        program == "streamlit" && pair[1] == "run"
    })
}

/// How to run the child. Build it with [`RunnerConfig::new`] and change the public fields.
#[non_exhaustive]
pub struct RunnerConfig {
    /// Program and arguments; must not be empty. Run directly, not through a shell.
    pub command: Vec<String>,
    /// Defaults to [`OnChange::default_for`] the command.
    pub on_change: OnChange,
    /// Time between SIGTERM and SIGKILL when stopping the child (restart, shutdown, forwarded
    /// signal). Default 10 s.
    pub grace: Duration,
    /// Quiet window for bursts of updates: an update that arrives when nothing was applied for
    /// this long is applied at once; one that follows an apply closely is applied once no newer
    /// one has arrived for this long (and at most `10 × coalesce` after the first of the
    /// burst). Default 50 ms.
    pub coalesce: Duration,
    /// A restart waits a random time in `0..=restart_jitter` so a fleet of apps never restarts in
    /// the same instant. Default 250 ms.
    pub restart_jitter: Duration,
    /// Pipe the child's stdout/stderr through the runner and replace every secret string value
    /// (length ≥ 4, root-level or nested, of every version delivered since [`Runner::run`]
    /// started: the app may still hold any of them) with [`CONCEALED`] before passing it on to
    /// the runner's own stdout/stderr. A line the app has not finished (a prompt, a progress
    /// bar) is passed on once the output is quiet for a moment, but for an end that could be the
    /// start of a value.
    pub mask_output: bool,
    /// When set, the last lines of the child's output are kept here (for the server's panel).
    /// This pipes the output too, and piped output is always masked, everywhere it goes: the
    /// buffer and the runner's own stdout/stderr (a server's log never sees a value).
    pub log_buffer: Option<Arc<LogBuffer>>,
    /// Working directory of the child; default: the runner's.
    pub workdir: Option<PathBuf>,
    /// The "original environment" the child starts from; default: the runner's own environment,
    /// captured when [`Runner::run`] starts. Server-launched apps can give a clean one.
    pub base_env: Option<Vec<(OsString, OsString)>>,
    /// Where the private secrets directory is created; default: `$XDG_RUNTIME_DIR` when it is
    /// usable (memory only, the user's alone), else the system temp dir (or `/tmp` if that path
    /// contains whitespace, which `STREAMLIT_SECRETS_FILES` cannot carry). Directories left
    /// there by runners that were killed are removed when the next runner starts.
    pub secrets_parent: Option<PathBuf>,
    /// `hush run`: forward SIGINT, SIGTERM and SIGHUP received by this process to the child's
    /// process group, then wait for the child (SIGKILL after `grace`). Installs process-wide
    /// handlers for those signals while running, except for one this process ignores (SIGHUP
    /// under `nohup`): that stays ignored. Server-launched apps leave it off and use the
    /// `shutdown` future of [`Runner::run`].
    ///
    /// Also, when stdin is this process's controlling terminal and its process group is the
    /// terminal's foreground (an interactive `hush run`), each child's process group gets the
    /// foreground while it runs, so an interactive app can read the terminal, and a Ctrl-C
    /// reaches the app directly (it is not forwarded: the runner does not get it). The runner
    /// takes the foreground back when the child exits and before a restart starts the next one.
    /// On Linux, a stopped child (Ctrl-Z) stops the runner's own process group too, so the shell
    /// sees the job stopped; continued (`fg`), the child gets the foreground back and continues.
    pub forward_signals: bool,
}

impl RunnerConfig {
    pub fn new(command: Vec<String>) -> RunnerConfig {
        let on_change = OnChange::default_for(&command);
        RunnerConfig {
            command,
            on_change,
            grace: Duration::from_secs(10),
            coalesce: Duration::from_millis(50),
            restart_jitter: Duration::from_millis(250),
            mask_output: false,
            log_buffer: None,
            workdir: None,
            base_env: None,
            secrets_parent: None,
            forward_signals: false,
        }
    }
}

impl fmt::Debug for RunnerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // base_env may hold tokens: only its size is shown.
        f.debug_struct("RunnerConfig")
            .field("command", &self.command)
            .field("on_change", &self.on_change)
            .field("grace", &self.grace)
            .field("coalesce", &self.coalesce)
            .field("restart_jitter", &self.restart_jitter)
            .field("mask_output", &self.mask_output)
            .field("log_buffer", &self.log_buffer.is_some())
            .field("workdir", &self.workdir)
            .field("base_env", &self.base_env.as_ref().map(Vec::len))
            .field("secrets_parent", &self.secrets_parent)
            .field("forward_signals", &self.forward_signals)
            .finish()
    }
}

/// The child's state, published through [`Runner::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildState {
    /// Before the first spawn.
    Starting,
    Running {
        pid: u32,
    },
    /// Applying a new version in [`OnChange::Restart`] mode: stopping, waiting the jitter,
    /// starting again.
    Restarting,
    /// Stopping for good (shutdown requested or a signal forwarded).
    Stopping,
    /// The child has exited; `code` as in [`Exit::code`].
    Exited {
        code: i32,
    },
    /// The child could not be started (the message names the program and the OS error).
    Failed {
        message: String,
    },
}

impl ChildState {
    /// One word for reports: `starting`, `running`, `restarting`, `stopping`, `exited`,
    /// `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            ChildState::Starting => "starting",
            ChildState::Running { .. } => "running",
            ChildState::Restarting => "restarting",
            ChildState::Stopping => "stopping",
            ChildState::Exited { .. } => "exited",
            ChildState::Failed { .. } => "failed",
        }
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        match self {
            ChildState::Running { pid } => Some(*pid),
            _ => None,
        }
    }
}

/// Why [`Runner::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCause {
    /// The child exited on its own (a server launcher may restart it with a [`Backoff`]).
    Exited,
    /// The caller's `shutdown` future completed and the runner stopped the child.
    Shutdown,
    /// A signal received by the runner was forwarded and the child then exited.
    Forwarded(Signal),
}

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Shell convention: the exit code, or 128 + signal number when killed by a signal.
    pub code: i32,
    /// The signal that killed the child, if any.
    pub signal: Option<i32>,
    pub cause: ExitCause,
}

/// What can make [`Runner::run`] fail. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given: say which program to run, e.g. `hush run -- streamlit run app.py`")]
    EmptyCommand,
    #[error("the secrets of version {version} are not valid: {message}")]
    InvalidSecrets { version: i64, message: String },
    #[error(
        "cannot use {path:?} for the secrets directory: the path contains whitespace, which \
         STREAMLIT_SECRETS_FILES cannot carry; choose another directory (e.g. set TMPDIR)"
    )]
    WhitespaceInPath { path: PathBuf },
    #[error("cannot prepare the secrets file in {path:?}: {source}")]
    SecretsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for the child failed: {0}")]
    Wait(#[source] std::io::Error),
    #[error("cannot listen for signals to forward: {0}")]
    Signals(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn streamlit_run_is_recognised_however_it_is_launched() {
        for c in [
            "streamlit run app.py",
            "/venv/bin/streamlit run app.py --server.port 8502",
            "python -m streamlit run app.py",
            "uv run streamlit run app.py",
        ] {
            assert_eq!(
                OnChange::default_for(&cmd(c)),
                OnChange::StreamlitRerun,
                "{c}"
            );
        }
        for c in ["python app.py", "streamlit hello", "gunicorn app:app", ""] {
            assert_eq!(OnChange::default_for(&cmd(c)), OnChange::Restart, "{c}");
        }
    }

    #[test]
    fn debug_never_prints_the_document() {
        let u = SecretsUpdate::new(4, "K = \"hunter2\"");
        let shown = format!("{u:?}");
        assert!(shown.contains('4') && !shown.contains("hunter2"), "{shown}");
    }
}
