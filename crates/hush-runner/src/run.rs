//! The run loop: start the child, apply updates as they come, stop when asked.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use hush_core::{Document, SkipReason, Value};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use crate::backoff::{Backoff, random_up_to};
use crate::child::{Output, Proc, exit_code};
use crate::env::{child_env, fits_exec};
use crate::mask::{MaskHandle, Masker};
use crate::secrets_dir::SecretsDir;
use crate::terminal::Terminal;
use crate::{ChildState, Exit, ExitCause, OnChange, RunError, RunnerConfig, SecretsUpdate};

/// A burst of updates is applied at most this many `coalesce` windows after its first update,
/// even if updates keep coming.
const MAX_COALESCE_WINDOWS: u32 = 10;

/// Runs one app: see [`Runner::run`]. Subscribe to [`Runner::applied`] and [`Runner::status`]
/// before running; they keep working across several runs of the same `Runner` (a server
/// launcher restarting an app that exited), one run at a time.
pub struct Runner {
    config: RunnerConfig,
    applied: watch::Sender<Option<i64>>,
    status: watch::Sender<ChildState>,
    latest: Mutex<Option<SecretsUpdate>>,
    /// Root keys already said to stay out of the environment: each is said once.
    mentioned: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.config)
            .field("applied", &*self.applied.borrow())
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

/// A parsed version, ready to deliver.
struct Prepared {
    update: SecretsUpdate,
    exported: Vec<(String, String)>,
    /// Root keys that stay only in the file: `(key, why, in a few words)`.
    not_exported: Vec<(String, String)>,
    strings: Vec<String>,
}

impl Prepared {
    fn new(update: SecretsUpdate) -> Result<Prepared, RunError> {
        let doc = Document::parse(update.toml()).map_err(|e| RunError::InvalidSecrets {
            version: update.version,
            message: e.to_string(),
        })?;
        let projection = doc.env();
        let mut not_exported: Vec<(String, String)> = projection
            .skipped
            .iter()
            .map(|skipped| {
                let why = match &skipped.reason {
                    SkipReason::NotScalar(kind) => format!("a {kind}"),
                    SkipReason::Reserved => "a name hush does not export".to_owned(),
                    SkipReason::InvalidName(why) => why.clone(),
                };
                (skipped.key.clone(), why)
            })
            .collect();
        let mut exported = projection.exported;
        exported.retain(|(key, value)| {
            let fits = fits_exec(key, value);
            if !fits {
                not_exported.push((
                    key.clone(),
                    "longer than a variable may be (128 KiB)".into(),
                ));
            }
            fits
        });
        let mut strings = Vec::new();
        for value in doc.root().values() {
            collect_strings(value, &mut strings);
        }
        Ok(Prepared {
            update,
            exported,
            not_exported,
            strings,
        })
    }

    fn version(&self) -> i64 {
        self.update.version
    }
}

/// Every secret value delivered since the run started (or about to be: a version's values are
/// added before its file is written), for the masker. The running app may
/// still hold any of them: with `none`, `signal` and `rerun` it keeps the environment it
/// started with (and whatever it cached) for its whole life, and after a restart the old
/// process's last output is still being copied out. So none is ever dropped during a run:
/// masking more is never a leak, and a bound could only reopen that hole. It grows by the
/// distinct values saved while one run lasts, which is small next to the documents themselves.
#[derive(Default)]
struct DeliveredValues(BTreeSet<String>);

impl DeliveredValues {
    /// Adds `prepared`'s values and returns a masker for all of them.
    fn add(&mut self, prepared: &Prepared) -> Masker {
        self.0.extend(prepared.strings.iter().cloned());
        Masker::new(self.0.iter().map(String::as_str))
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Table(table) => table.values().for_each(|v| collect_strings(v, out)),
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {}
    }
}

/// The signals `hush run` forwards to the child. One that this process ignores (SIGHUP under
/// `nohup`, SIGINT for a shell's background job) stays ignored, as a shell leaves it: listening
/// would replace the ignoring, and a hangup would then reach the app after all.
struct Forwarder {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Forwarder {
    fn new() -> Result<Forwarder, RunError> {
        let listen = |kind: SignalKind| {
            if ignored(kind) {
                return Ok(None);
            }
            signal(kind).map(Some).map_err(RunError::Signals)
        };
        Ok(Forwarder {
            int: listen(SignalKind::interrupt())?,
            term: listen(SignalKind::terminate())?,
            hup: listen(SignalKind::hangup())?,
        })
    }

    async fn recv(this: &mut Option<Forwarder>) -> Signal {
        let Some(f) = this else {
            return std::future::pending().await;
        };
        tokio::select! {
            Some(()) = next(&mut f.int) => Signal::SIGINT,
            Some(()) = next(&mut f.term) => Signal::SIGTERM,
            Some(()) = next(&mut f.hup) => Signal::SIGHUP,
            else => std::future::pending().await,
        }
    }
}

/// The next delivery of a signal listened for; never, for one that is not.
async fn next(listener: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match listener {
        Some(listener) => listener.recv().await,
        None => None,
    }
}

/// Whether this process ignores the signal (`SIG_IGN`).
fn ignored(kind: SignalKind) -> bool {
    let mut current = std::mem::MaybeUninit::<nix::libc::sigaction>::uninit();
    // SAFETY: with a null new action, sigaction only writes the current one into `current`,
    // which is read only when the call succeeded.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::sigaction(kind.as_raw_value(), std::ptr::null(), current.as_mut_ptr()) == 0
            && current.assume_init().sa_sigaction == nix::libc::SIG_IGN
    }
}

impl Runner {
    pub fn new(config: RunnerConfig) -> Runner {
        Runner {
            config,
            applied: watch::Sender::new(None),
            status: watch::Sender::new(ChildState::Starting),
            latest: Mutex::new(None),
            mentioned: Mutex::default(),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// The version now applied (delivered to the running app), to report back to the server.
    /// `None` until the first start.
    pub fn applied(&self) -> watch::Receiver<Option<i64>> {
        self.applied.subscribe()
    }

    /// The child's state.
    pub fn status(&self) -> watch::Receiver<ChildState> {
        self.status.subscribe()
    }

    /// The newest version applied so far (to start again with after the child exited).
    pub fn latest(&self) -> Option<SecretsUpdate> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts the child with `initial` and runs it until it exits, applying every newer version
    /// received on `updates` (bursts coalesced, versions ≤ the applied one ignored, an invalid
    /// version logged and skipped: the app keeps the last good one). A closed `updates` channel
    /// just means no more updates.
    ///
    /// Stops the child (SIGTERM to its group, SIGKILL after `grace`) when `shutdown` completes
    /// (pass `std::future::pending()` for never). With `forward_signals`, SIGINT/SIGTERM/SIGHUP
    /// received by this process are passed on to the child, which then gets `grace` to exit.
    ///
    /// Returns how the child ended; the secrets directory is removed before returning, and also
    /// when this future is dropped (the child's process group is then SIGKILLed).
    pub async fn run<F>(
        &self,
        initial: SecretsUpdate,
        updates: &mut mpsc::Receiver<SecretsUpdate>,
        shutdown: F,
    ) -> Result<Exit, RunError>
    where
        F: Future<Output = ()>,
    {
        let result = self.run_inner(initial, updates, shutdown).await;
        match &result {
            Ok(exit) => {
                self.status
                    .send_replace(ChildState::Exited { code: exit.code });
            }
            Err(e @ RunError::Spawn { .. }) => {
                self.status.send_replace(ChildState::Failed {
                    message: e.to_string(),
                });
            }
            Err(_) => {}
        }
        result
    }

    async fn run_inner<F>(
        &self,
        initial: SecretsUpdate,
        updates: &mut mpsc::Receiver<SecretsUpdate>,
        shutdown: F,
    ) -> Result<Exit, RunError>
    where
        F: Future<Output = ()>,
    {
        let config = &self.config;
        if config.command.is_empty() {
            return Err(RunError::EmptyCommand);
        }
        self.status.send_replace(ChildState::Starting);
        let current = Prepared::new(initial)?;
        self.mention_not_exported(&current);
        let base_env: Vec<(OsString, OsString)> = match &config.base_env {
            Some(env) => env.clone(),
            None => std::env::vars_os().collect(),
        };
        let dir = SecretsDir::create(config.secrets_parent.as_deref(), current.update.toml())?;
        let output = Output {
            piped: config.mask_output || config.log_buffer.is_some(),
            logs: config.log_buffer.clone(),
            masker: MaskHandle::default(),
        };
        let mut delivered = DeliveredValues::default();
        output.masker.set(delivered.add(&current));
        let mut signals = if config.forward_signals {
            Some(Forwarder::new()?)
        } else {
            None
        };
        // `hush run` in an interactive terminal: each child gets the terminal's foreground.
        let mut terminal = if config.forward_signals {
            Terminal::foreground()?
        } else {
            None
        };

        let mut proc = self.start(&base_env, &current, &dir, &output, &mut terminal)?;
        self.publish(&current);
        let mut current = current;

        tokio::pin!(shutdown);
        let mut forwarded: Option<Signal> = None;
        let mut kill_at: Option<Instant> = None;
        let mut updates_open = true;
        let mut pending: Option<SecretsUpdate> = None;
        let mut burst_start = Instant::now();
        let mut apply_at = Instant::now();
        // A lone update is applied at once; only updates that follow an apply within the
        // coalesce window wait for quiet (so one save costs no added delay, a burst costs one).
        let mut last_apply: Option<Instant> = None;
        // While the secrets file cannot be written (a full disk), the pending version is tried
        // again no sooner than this; nothing is applied or reported until a write succeeds.
        let mut write_retry = Backoff::default();
        let mut retry_at: Option<Instant> = None;
        // The version whose file could not be written: still the one to deliver if a newer
        // one that arrives meanwhile turns out invalid.
        let mut unwritten: Option<SecretsUpdate> = None;

        let (status, cause) = loop {
            tokio::select! {
                status = proc.wait() => {
                    let cause = match forwarded {
                        Some(sig) => ExitCause::Forwarded(sig),
                        None => ExitCause::Exited,
                    };
                    break (status?, cause);
                }
                // Every branch that sees `shutdown` complete ends the loop: it is never
                // polled again after completing.
                () = &mut shutdown => {
                    tracing::info!(pid = proc.pid(), "shutdown requested; stopping the app");
                    self.status.send_replace(ChildState::Stopping);
                    break (proc.stop(config.grace).await?, ExitCause::Shutdown);
                }
                () = Terminal::job_control(&mut terminal) => {}
                sig = Forwarder::recv(&mut signals) => {
                    tracing::info!(pid = proc.pid(), signal = ?sig, "forwarding signal to the app");
                    self.status.send_replace(ChildState::Stopping);
                    proc.signal(sig);
                    forwarded = Some(sig);
                    kill_at.get_or_insert(Instant::now() + config.grace);
                }
                () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                    tracing::warn!(pid = proc.pid(), "the app did not exit after the forwarded signal; sending SIGKILL");
                    proc.signal(Signal::SIGKILL);
                    kill_at = None;
                }
                msg = updates.recv(), if updates_open => match msg {
                    None => updates_open = false,
                    Some(update) => {
                        let newest = pending.as_ref().map_or(current.version(), |p| p.version.max(current.version()));
                        if update.version > newest {
                            let now = Instant::now();
                            let leading = pending.is_none()
                                && last_apply.is_none_or(|t| now.duration_since(t) >= config.coalesce);
                            if pending.is_none() {
                                burst_start = now;
                            }
                            pending = Some(update);
                            let quiet = now + config.coalesce;
                            let cap = burst_start + config.coalesce * MAX_COALESCE_WINDOWS;
                            apply_at = if leading { now } else { quiet.min(cap) };
                            // A newer version does not cut a retry's wait short.
                            apply_at = apply_at.max(retry_at.unwrap_or(apply_at));
                        } else {
                            tracing::debug!(version = update.version, applied = current.version(), "ignoring an older version");
                        }
                    }
                },
                () = sleep_until(apply_at), if pending.is_some() && forwarded.is_none() => {
                    let Some(update) = pending.take() else { continue };
                    last_apply = Some(Instant::now());
                    let version = update.version;
                    let next = match Prepared::new(update) {
                        Ok(next) => {
                            self.mention_not_exported(&next);
                            next
                        }
                        Err(e) => {
                            tracing::error!(version, error = %e, "not applying this version; the app keeps the last good secrets");
                            if let Some(waiting) = unwritten.take() {
                                apply_at = retry_at.unwrap_or(apply_at);
                                pending = Some(waiting);
                            }
                            continue;
                        }
                    };
                    // Masked from now on, and the values before them too: the app may still
                    // hold and print any of them (see `DeliveredValues`).
                    output.masker.set(delivered.add(&next));
                    // The file first, in every mode: if it cannot be written, the app keeps the
                    // version it has (not restarted, signalled or re-run), that version stays
                    // the one reported, and this one is tried again later.
                    if let Err(e) = dir.replace(next.update.toml()) {
                        let delay = write_retry.next_delay();
                        tracing::error!(
                            version,
                            applied = current.version(),
                            error = %e,
                            retry_in_ms = delay.as_millis() as u64,
                            "cannot write the secrets file; the app keeps the version it has, trying again later"
                        );
                        let retry = Instant::now() + delay;
                        retry_at = Some(retry);
                        apply_at = retry;
                        unwritten = Some(next.update.clone());
                        pending = Some(next.update);
                        continue;
                    }
                    unwritten = None;
                    if retry_at.take().is_some() {
                        tracing::info!(version, "the secrets file is written again");
                        write_retry.reset();
                    }
                    if config.on_change == OnChange::Restart {
                        tracing::info!(version, pid = proc.pid(), "restarting the app with new secrets");
                        self.status.send_replace(ChildState::Restarting);
                        let stopped = proc.stop(config.grace).await?;
                        // Ours again until the next child starts: a Ctrl-C meanwhile stops hush.
                        if let Some(terminal) = &mut terminal {
                            terminal.release();
                        }
                        let jitter = random_up_to(config.restart_jitter);
                        // Biased: a stop asked for while the old child was stopping wins over
                        // starting the new one.
                        tokio::select! {
                            biased;
                            () = &mut shutdown => {
                                break (stopped, ExitCause::Shutdown);
                            }
                            sig = Forwarder::recv(&mut signals) => {
                                break (stopped, ExitCause::Forwarded(sig));
                            }
                            () = sleep(jitter) => {}
                        }
                        let next_proc = self.start(&base_env, &next, &dir, &output, &mut terminal)?;
                        let old = std::mem::replace(&mut proc, next_proc);
                        tokio::spawn(old.finish());
                    } else if let OnChange::Signal(sig) = config.on_change {
                        tracing::info!(version, pid = proc.pid(), signal = ?sig, "secrets file replaced; signalling the app");
                        proc.signal(sig);
                    } else {
                        tracing::info!(version, "secrets file replaced");
                    }
                    current = next;
                    self.publish(&current);
                }
            }
        };
        drop(terminal);
        let (code, signal) = exit_code(status);
        tracing::info!(code, ?cause, "the app exited");
        proc.finish().await;
        drop(dir);
        Ok(Exit {
            code,
            signal,
            cause,
        })
    }

    fn start(
        &self,
        base_env: &[(OsString, OsString)],
        secrets: &Prepared,
        dir: &SecretsDir,
        output: &Output,
        terminal: &mut Option<Terminal>,
    ) -> Result<Proc, RunError> {
        let env = child_env(
            base_env,
            &secrets.exported,
            dir.file(),
            self.config.on_change,
        );
        let proc = Proc::spawn(&self.config, &env, output)?;
        if let Some(terminal) = terminal {
            terminal.give(proc.pgid());
        }
        tracing::info!(pid = proc.pid(), version = secrets.version(), "app started");
        self.status
            .send_replace(ChildState::Running { pid: proc.pid() });
        Ok(proc)
    }

    /// Says, once per key, which root keys stay only in the secrets file. Sections (tables)
    /// are how secrets are meant to be grouped, so this is information, not a warning.
    fn mention_not_exported(&self, prepared: &Prepared) {
        let mut mentioned = self
            .mentioned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new: Vec<String> = prepared
            .not_exported
            .iter()
            .filter(|(key, _)| mentioned.insert(key.clone()))
            .map(|(key, why)| format!("{key} ({why})"))
            .collect();
        if !new.is_empty() {
            tracing::info!(
                "in the secrets file only, not in the environment: {}",
                new.join(", ")
            );
        }
    }

    fn publish(&self, applied: &Prepared) {
        self.applied.send_replace(Some(applied.version()));
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(applied.update.clone());
    }
}
