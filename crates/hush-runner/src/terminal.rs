//! The terminal's foreground for `hush run` in an interactive terminal.
//!
//! The child runs in its own process group (so a stop reaches everything it started). In a
//! terminal that group would be in the background: the kernel stops it with SIGTTIN when it
//! reads the terminal (a REPL, `psql`, a shell) and SIGTTOU when it changes the terminal's
//! modes. So, when stdin is our controlling terminal and our group is its foreground, the child's
//! group gets the foreground for as long as it runs, like a shell does for a job, and Ctrl-C
//! goes straight to the child. With stdin not a terminal (CI, pipes, server-launched apps) this
//! does nothing.

use std::io::stdin;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg};
use nix::unistd::{Pid, getpgrp, tcgetpgrp, tcsetpgrp};

/// The terminal on stdin, while our process group is its foreground.
#[derive(Debug)]
pub(crate) struct Terminal {
    /// Our own process group: the foreground before the child had it and after.
    own: Pid,
    /// The child's process group, while it has the foreground.
    given: Option<Pid>,
}

impl Terminal {
    /// `Some` when stdin is our controlling terminal and our process group is its foreground
    /// (`tcgetpgrp` fails with `ENOTTY` for anything else: a pipe, a file, another terminal).
    pub(crate) fn foreground() -> Option<Terminal> {
        let own = getpgrp();
        match tcgetpgrp(stdin()) {
            Ok(fg) if fg == own => Some(Terminal { own, given: None }),
            _ => None,
        }
    }

    /// Gives the foreground to the child's process group (just started, its leader's pid), then
    /// continues the group: the child may have touched the terminal before it was its own and
    /// been stopped for it (SIGTTIN, SIGTTOU). Does nothing if our group no longer has the
    /// foreground: the terminal is then someone else's to give.
    pub(crate) fn give(&mut self, child: Pid) {
        self.take_back();
        match tcgetpgrp(stdin()) {
            Ok(fg) if fg == self.own => {}
            _ => return,
        }
        if let Err(e) = set_foreground(child) {
            tracing::warn!(pgid = child.as_raw(), error = %e, "cannot give the terminal to the app");
            return;
        }
        self.given = Some(child);
        match killpg(child, Signal::SIGCONT) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(pgid = child.as_raw(), error = %e, "cannot continue the app"),
        }
    }

    /// Takes the foreground back from the child's group (when it has exited or is being
    /// replaced). Does nothing if the child does not have it.
    pub(crate) fn take_back(&mut self) {
        if self.given.take().is_none() {
            return;
        }
        if let Err(e) = set_foreground(self.own) {
            tracing::warn!(error = %e, "cannot take the terminal back from the app");
        }
    }
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
