//! What must not outlive this process, whatever kills it: its apps' process groups and their
//! secrets directories. A runner killed with SIGKILL runs no clean-up of its own; the
//! parent-death signal (child.rs) reaches only each app's first process. So a small `sh`,
//! started once per process, keeps the list, reading it from a pipe that only this process
//! holds open. When the process dies, however it dies, the kernel closes the pipe: the watchdog
//! SIGKILLs every process group still listed and removes every directory still listed, then
//! exits. A group or directory is taken off the list as soon as it is gone, so a process
//! group id reused later is never hit.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

use nix::unistd::Pid;

/// One command per line: `dir PATH`, `group PGID`, `forget-dir PATH`, `forget-group PGID`.
/// Paths never hold whitespace (refused before). Signals are ignored: a Ctrl-C or a hangup
/// meant for the runner must not end the watchdog first.
const SCRIPT: &str = r#"trap '' HUP INT TERM QUIT
dirs=; groups=
while IFS=' ' read -r kind value; do
  case $kind in
    dir) dirs="$dirs $value" ;;
    group) groups="$groups $value" ;;
    forget-dir) kept=; for d in $dirs; do [ "$d" = "$value" ] || kept="$kept $d"; done; dirs=$kept ;;
    forget-group) kept=; for g in $groups; do [ "$g" = "$value" ] || kept="$kept $g"; done; groups=$kept ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
[ -z "$dirs" ] || rm -rf -- $dirs"#;

static WATCHDOG: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();

/// Removes `dir` if this process dies before [`forget_dir`].
pub(crate) fn watch_dir(dir: &Path) {
    tell(&format!("dir {}", dir.display()));
}

pub(crate) fn forget_dir(dir: &Path) {
    tell(&format!("forget-dir {}", dir.display()));
}

/// SIGKILLs the process group `pgid` if this process dies before [`forget_group`].
pub(crate) fn watch_group(pgid: Pid) {
    tell(&format!("group {pgid}"));
}

pub(crate) fn forget_group(pgid: Pid) {
    tell(&format!("forget-group {pgid}"));
}

fn tell(line: &str) {
    let Some(pipe) = WATCHDOG.get_or_init(start) else {
        return;
    };
    let mut pipe = pipe.lock().unwrap_or_else(PoisonError::into_inner);
    if let Err(e) = writeln!(pipe, "{line}") {
        tracing::debug!(error = %e, "the watchdog is gone");
    }
}

fn start() -> Option<Mutex<ChildStdin>> {
    let started = Command::new("/bin/sh")
        .args(["-c", SCRIPT, "hush-watchdog"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: signals sent to the runner's group (a terminal's Ctrl-C) pass it by.
        .process_group(0)
        .spawn();
    match started {
        // Never waited for: it ends only after this process has.
        Ok(mut child) => child.stdin.take().map(Mutex::new),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot start /bin/sh as a watchdog: if hush is killed, what its app started \
                 may outlive it, and its secrets directory stays until the next hush run"
            );
            None
        }
    }
}
