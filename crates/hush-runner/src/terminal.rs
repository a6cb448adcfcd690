//! The terminal's foreground for `hush run` in an interactive terminal.
//!
//! The child runs in its own process group (so a stop reaches everything it started). In a
//! terminal that group would be in the background: the kernel stops it with SIGTTIN when it
//! reads the terminal (a REPL, `psql`, a shell) and SIGTTOU when it changes the terminal's
//! modes. So, when stdin is our controlling terminal and our group is its foreground, the child's
//! group gets the foreground for as long as it runs, like a shell does for a job, and Ctrl-C
//! goes straight to the child. With stdin not a terminal (CI, pipes, server-launched apps) this
//! does nothing.
//!
//! Job control (Linux): when the child is stopped (Ctrl-Z now reaches the child, not hush), the
//! runner takes the terminal back and stops its own process group with the same signal, so the
//! shell that started `hush run` sees the job stopped and gets the terminal; when continued
//! (`fg`), the runner gives the child the terminal again and continues it.

use std::io::stdin;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg};
use nix::unistd::{Pid, getpgrp, tcgetpgrp, tcsetpgrp};
use tokio::signal::unix::SignalKind;

use crate::RunError;

/// The terminal on stdin, while our process group is its foreground.
#[derive(Debug)]
pub(crate) struct Terminal {
    /// Our own process group: the foreground before the child had it and after.
    own: Pid,
    /// The running child's process group (its leader's pid).
    child: Option<Pid>,
    /// Whether the child's group has the foreground.
    given: bool,
    /// Child stopped (SIGCHLD) and us continued (SIGCONT), for job control.
    chld: tokio::signal::unix::Signal,
    cont: tokio::signal::unix::Signal,
}

impl Terminal {
    /// `Some` when stdin is our controlling terminal and our process group is its foreground
    /// (`tcgetpgrp` fails with `ENOTTY` for anything else: a pipe, a file, another terminal).
    pub(crate) fn foreground() -> Result<Option<Terminal>, RunError> {
        let own = getpgrp();
        match tcgetpgrp(stdin()) {
            Ok(fg) if fg == own => {}
            _ => return Ok(None),
        }
        let listen = |kind| tokio::signal::unix::signal(kind).map_err(RunError::Signals);
        Ok(Some(Terminal {
            own,
            child: None,
            given: false,
            chld: listen(SignalKind::child())?,
            cont: listen(SignalKind::from_raw(Signal::SIGCONT as i32))?,
        }))
    }

    /// Gives the foreground to a child just started (`pgid`: its pid, leader of its group).
    pub(crate) fn give(&mut self, pgid: Pid) {
        self.release();
        self.child = Some(pgid);
        self.resume();
    }

    /// Takes the foreground back from the child, which has exited or is being replaced.
    pub(crate) fn release(&mut self) {
        self.take_back();
        self.child = None;
    }

    /// Gives the child the foreground if our group has it (if not, the terminal is someone
    /// else's to give), then continues the child's group: it may have touched the terminal
    /// before it was its own and been stopped for it (SIGTTIN, SIGTTOU), or been stopped by a
    /// Ctrl-Z we passed on.
    fn resume(&mut self) {
        let Some(child) = self.child else { return };
        if !self.given && tcgetpgrp(stdin()) == Ok(self.own) {
            match set_foreground(child) {
                Ok(()) => self.given = true,
                Err(e) => {
                    tracing::warn!(pgid = child.as_raw(), error = %e, "cannot give the terminal to the app");
                }
            }
        }
        match killpg(child, Signal::SIGCONT) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pgid = child.as_raw(), error = %e, "cannot continue the app"),
        }
    }

    fn take_back(&mut self) {
        if !std::mem::take(&mut self.given) {
            return;
        }
        if let Err(e) = set_foreground(self.own) {
            tracing::warn!(error = %e, "cannot take the terminal back from the app");
        }
    }

    /// Job control; never completes. Cancel-safe: call it in a `select!` loop.
    pub(crate) async fn job_control(this: &mut Option<Terminal>) {
        let Some(t) = this else {
            return std::future::pending().await;
        };
        tokio::select! {
            Some(()) = t.chld.recv() => {
                if let Some(sig) = t.child.and_then(stopped) {
                    tracing::info!(signal = ?sig, "the app was stopped; stopping hush too");
                    t.take_back();
                    // Our whole group, as the terminal's Ctrl-Z would have: the shell that
                    // started us may wait for a parent of ours in it.
                    if let Err(e) = killpg(t.own, sig) {
                        tracing::warn!(signal = ?sig, error = %e, "cannot stop hush");
                    }
                }
            }
            Some(()) = t.cont.recv() => t.resume(),
            else => std::future::pending().await,
        }
    }
}

/// The signal that stopped the child (its group's leader), if it is stopped and that was not
/// reported yet. Only stops are asked for: an exit is left for the child's own `wait`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn stopped(child: Pid) -> Option<Signal> {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    match waitid(Id::Pid(child), WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG) {
        Ok(WaitStatus::Stopped(_, sig)) => Some(sig),
        _ => None,
    }
}

/// Without `waitid` a stop cannot be seen without also reaping an exit: no job control.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn stopped(_child: Pid) -> Option<Signal> {
    None
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Also when the run ends on an error or its future is dropped.
        self.take_back();
    }
}

/// `tcsetpgrp` on stdin, with SIGTTOU blocked on this thread for the call: a process group
/// that is not the foreground (ours, when taking the terminal back) would otherwise be stopped
/// by it. The kernel checks the calling thread's mask, and the call runs on this thread.
fn set_foreground(pgrp: Pid) -> nix::Result<()> {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let previous = ttou.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
    let result = tcsetpgrp(stdin(), pgrp);
    // Cannot fail: `previous` is a mask this thread just had.
    let _ = previous.thread_set_mask();
    result
}
