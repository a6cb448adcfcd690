//! One child process in its own process group: spawn, signal, stop (SIGTERM → grace → SIGKILL).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::mask::{LogBuffer, MaskHandle, Stream, pump};
use crate::{OnChange, RunError, RunnerConfig, watchdog};

/// How long the runner waits, after the child has exited, for its output to be copied out.
const DRAIN_OUTPUT: Duration = Duration::from_secs(2);

pub(crate) struct Proc {
    child: Child,
    pgid: Pid,
    pid: u32,
    pumps: Vec<JoinHandle<()>>,
}

/// Output handling shared by every start of the child. Piped output is always masked,
/// wherever it goes: the runner's own stdout/stderr (a server's log) and the buffer.
pub(crate) struct Output {
    pub(crate) piped: bool,
    pub(crate) logs: Option<Arc<LogBuffer>>,
    pub(crate) masker: MaskHandle,
}

impl Output {
    /// Copies the child's `stream` from `from` to `to` in the background, masked, and into the
    /// log buffer when there is one.
    fn pump<R, W>(&self, from: R, to: W, stream: Stream) -> JoinHandle<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(pump(
            from,
            to,
            stream,
            self.masker.clone(),
            self.logs.clone(),
        ))
    }
}

impl Proc {
    pub(crate) fn spawn(
        config: &RunnerConfig,
        env: &BTreeMap<OsString, OsString>,
        output: &Output,
    ) -> Result<Proc, RunError> {
        let (program, args) = config.command.split_first().ok_or(RunError::EmptyCommand)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::inherit())
            // Own process group: signals reach the whole app (a shell and what it started). In an
            // interactive terminal the runner gives this group the foreground (`terminal.rs`),
            // so a Ctrl-C reaches the app directly; otherwise it reaches the runner, which
            // decides what to forward.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &config.workdir {
            cmd.current_dir(dir);
        }
        if output.piped {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
        die_with_the_runner(&mut cmd);
        if let OnChange::Signal(signal) = config.on_change {
            hear_the_reload_signal(&mut cmd, signal);
        }
        let mut child = fork_thread::spawn(cmd).map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
        let pid = child
            .id()
            .expect("a child that was just spawned has not been reaped");
        let mut pumps = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            pumps.push(output.pump(stdout, tokio::io::stdout(), Stream::Stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(output.pump(stderr, tokio::io::stderr(), Stream::Stderr));
        }
        // `process_group(0)` makes the child the leader of a group with its own pid.
        let pgid = Pid::from_raw(pid as i32);
        watchdog::watch_group(pgid);
        Ok(Proc {
            child,
            pgid,
            pid,
            pumps,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's process group.
    pub(crate) fn pgid(&self) -> Pid {
        self.pgid
    }

    /// Sends `signal` to the child's process group; a group that is already gone is not an error.
    pub(crate) fn signal(&self, signal: Signal) {
        match killpg(self.pgid, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pid = self.pid, ?signal, error = %e, "cannot signal the app"),
        }
    }

    /// Waits for the child to exit. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> Result<ExitStatus, RunError> {
        self.child.wait().await.map_err(RunError::Wait)
    }

    /// SIGTERM to the group, wait up to `grace`, then SIGKILL; returns how the child ended.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Result<ExitStatus, RunError> {
        self.signal(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(
                    pid = self.pid,
                    grace_ms = grace.as_millis() as u64,
                    "the app did not stop after SIGTERM; sending SIGKILL"
                );
                self.signal(Signal::SIGKILL);
                self.wait().await
            }
        }
    }

    /// After the child has exited: kills what is left of its group, lets the output drain.
    pub(crate) async fn finish(mut self) {
        self.signal(Signal::SIGKILL);
        for pump in std::mem::take(&mut self.pumps) {
            // A grandchild outside the group could hold the pipe open forever.
            let _ = tokio::time::timeout(DRAIN_OUTPUT, pump).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Also on error paths and when the run future is dropped: nothing of the app survives
        // the runner. After a normal exit this only reaches leftovers of the group.
        let _ = killpg(self.pgid, Signal::SIGKILL);
        watchdog::forget_group(self.pgid);
    }
}

/// Makes the kernel SIGKILL the child when the runner dies, even by SIGKILL (which runs none of
/// the runner's own clean-up): an app must not outlive the runner that holds its secrets.
/// Only the direct child: the parent-death signal is not inherited by what it starts itself;
/// the watchdog takes care of the rest of its process group.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn die_with_the_runner(cmd: &mut Command) {
    let runner = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It makes two system calls
    // (prctl, getppid), both async-signal-safe; it allocates nothing and takes no lock.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The runner died between the fork and the prctl: the signal will never come.
            if nix::unistd::getppid() != runner {
                return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_the_runner(_cmd: &mut Command) {}

/// Gives the child the default disposition of the signal that tells it of a new version. An
/// ignored signal stays ignored across exec, and a shell cannot trap a signal that was ignored
/// when it started: under `nohup hush run --on-change signal:HUP -- sh app.sh`, the app's
/// `trap reload HUP` would otherwise never run.
fn hear_the_reload_signal(cmd: &mut Command, signal: Signal) {
    // SAFETY: the closure runs in the forked child before exec and makes one system call
    // (sigaction), which is async-signal-safe; it allocates nothing and takes no lock.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)?;
            Ok(())
        });
    }
}

/// The parent-death signal fires when the *thread* that forked the child ends, not the
/// process, and a runtime's worker and blocking threads can end while the runner lives on.
/// So every child is forked from one thread that lives as long as the process.
mod fork_thread {
    use std::sync::OnceLock;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

    use tokio::process::{Child, Command};
    use tokio::runtime::Handle;

    type Request = (Command, Handle, SyncSender<std::io::Result<Child>>);

    static FORKER: OnceLock<SyncSender<Request>> = OnceLock::new();

    /// Spawns `cmd` on the fork thread, registered with the caller's runtime.
    pub(super) fn spawn(cmd: Command) -> std::io::Result<Child> {
        let forker = FORKER.get_or_init(|| {
            let (tx, rx) = sync_channel::<Request>(0);
            std::thread::Builder::new()
                .name("hush-fork".into())
                .spawn(move || serve(rx))
                .expect("cannot start the thread that starts apps");
            tx
        });
        let (done, result) = sync_channel(1);
        let request = (cmd, Handle::current(), done);
        forker
            .send(request)
            .map_err(|_| std::io::Error::other("the thread that starts apps has ended"))?;
        // As long as a spawn on this thread would block it: until the program is executed.
        result
            .recv()
            .map_err(|_| std::io::Error::other("the thread that starts apps has ended"))?
    }

    fn serve(requests: Receiver<Request>) {
        for (mut cmd, runtime, done) in requests {
            let _entered = runtime.enter();
            let _ = done.send(cmd.spawn());
        }
    }
}

/// Shell convention: the exit code, or 128 + the signal number.
pub(crate) fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        (None, None) => (1, None),
    }
}
