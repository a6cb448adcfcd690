//! `hush run` in an interactive terminal: the child's process group gets the terminal's
//! foreground, so an interactive app can read it and Ctrl-C reaches the app directly.
//!
//! CI has no terminal, so the test makes one with tmux: it runs this test binary again inside a
//! tmux pane (the test [`pty_helper_process`], a no-op otherwise), where it drives a runner with
//! `forward_signals` whose child reads lines from the terminal, and types into the pane.
//! Without tmux the test prints "SKIPPED (no tmux)" and passes.

use crate::common;

use std::ffi::OsString;
use std::io::stdin;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use hush_runner::{OnChange, Runner, RunnerConfig, Signal};
use nix::unistd::{getpgrp, tcgetpgrp};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Set (to the scratch directory) only in the copy of this binary that runs inside tmux.
const HELPER: &str = "HUSH_RUNNER_TTY_HELPER";
/// What that copy does: `restart` or `once`.
const MODE: &str = "HUSH_RUNNER_TTY_MODE";

/// Each child logs "started" and its pid, reads a line from the terminal, logs it, then (in
/// `restart` mode) waits to be stopped.
const SCRIPT: &str = r#"echo "started $$" >> "$OUT/log"
read line
echo "got:$line" >> "$OUT/log"
[ "$MODE" = once ] || exec sleep 1000"#;

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A tmux server with one pane running `command`, or `None` (and a SKIPPED line) without
    /// tmux.
    fn start(out: &Path, command: &str) -> Option<Tmux> {
        if !Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            println!("SKIPPED (no tmux): install tmux to test hush run in a terminal");
            return None;
        }
        let tmux = Tmux {
            socket: out.join("tmux.sock"),
        };
        let mut args = vec!["new-session", "-d", "-s", "hush", "-x", "120", "-y", "40"];
        args.push(command);
        let started = tmux.cmd(&args);
        assert!(started.status.success(), "tmux new-session: {started:?}");
        Some(tmux)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "hush"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "hush"]).stdout).into()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Polls (blocking, this test has no runtime) until `file` holds `needle`, `count` times.
fn wait_for(tmux: &Tmux, file: &Path, needle: &str, count: usize) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        if start.elapsed() > DEADLINE {
            let helper = std::fs::read_to_string(file.with_file_name("helper.log"));
            panic!(
                "timed out waiting for {count}× {needle:?} in {}; it holds {text:?}; the \
                 terminal shows:\n{}\nthe runner's stderr: {}",
                file.display(),
                tmux.screen(),
                helper.unwrap_or_default(),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell command that runs this binary's [`pty_helper_process`] in `mode`, its stderr to
/// `helper.log` in `out`.
fn helper_command(out: &Path, mode: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    format!(
        "{HELPER}={} {MODE}={mode} {} --exact terminal::pty_helper_process --nocapture --test-threads=1 \
         2>{}",
        single_quoted(out.to_str().unwrap()),
        single_quoted(exe.to_str().unwrap()),
        single_quoted(out.join("helper.log").to_str().unwrap()),
    )
}

#[test]
fn an_interactive_child_reads_the_terminal_across_a_restart_and_gets_ctrl_c_directly() {
    if std::env::var_os(HELPER).is_some() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path();
    let Some(tmux) = Tmux::start(out, &helper_command(out, "restart")) else {
        return;
    };
    let log = out.join("log");

    // The first child reads a line typed in the terminal (in the background it would be
    // stopped by SIGTTIN and never read it).
    wait_for(&tmux, &log, "started", 1);
    tmux.keys(&["-l", "one"]);
    tmux.keys(&["Enter"]);
    wait_for(&tmux, &log, "got:one", 1);

    // The helper then sends a new version: the restarted child has the terminal too.
    wait_for(&tmux, &log, "started", 2);
    tmux.keys(&["-l", "two"]);
    tmux.keys(&["Enter"]);
    wait_for(&tmux, &log, "got:two", 1);

    // Ctrl-C reaches the child directly: it dies of SIGINT, and the runner forwarded nothing.
    tmux.keys(&["C-c"]);
    let result = wait_for(&tmux, &out.join("result"), "\n", 1);
    assert_eq!(
        result.trim(),
        "code=130 signal=Some(2) cause=Exited foreground=ours",
        "the terminal showed:\n{}",
        tmux.screen()
    );
}

/// The state letter of process `pid` (`T` when stopped), from `/proc`.
#[cfg(target_os = "linux")]
fn state(pid: &str) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

/// Polls (blocking) until `check` holds, failing with `what` and the screen after the deadline.
#[cfg(target_os = "linux")]
fn wait_check(tmux: &Tmux, what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; the terminal shows:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Job control: Ctrl-Z reaches the child, and the runner then stops too, so the interactive
/// shell that started it sees the job stopped; `fg` gives the child the terminal again.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_z_stops_the_job_and_fg_gives_the_child_the_terminal_again() {
    if std::env::var_os(HELPER).is_some() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path();
    // An interactive bash with job control, as in a terminal.
    let Some(tmux) = Tmux::start(out, "exec bash --norc --noprofile -i") else {
        return;
    };
    tmux.keys(&["-l", &helper_command(out, "once")]);
    tmux.keys(&["Enter"]);
    let log = out.join("log");
    let text = wait_for(&tmux, &log, "started", 1);
    let pid = text.trim().trim_start_matches("started ").to_owned();

    tmux.keys(&["C-z"]);
    wait_check(&tmux, "bash to report the job stopped", || {
        tmux.screen().contains("Stopped")
    });
    assert_eq!(state(&pid), 'T', "the child is stopped");

    tmux.keys(&["-l", "fg"]);
    tmux.keys(&["Enter"]);
    wait_check(&tmux, "the child to be continued", || state(&pid) != 'T');
    tmux.keys(&["-l", "one"]);
    tmux.keys(&["Enter"]);
    wait_for(&tmux, &log, "got:one", 1);
    let result = wait_for(&tmux, &out.join("result"), "\n", 1);
    assert_eq!(
        result.trim(),
        "code=0 signal=None cause=Exited foreground=ours",
        "the terminal showed:\n{}",
        tmux.screen()
    );
}

/// Runs only inside the tmux panes started by the tests above (a no-op in a normal test run):
/// drives the runner with the pane as its terminal.
#[tokio::test]
async fn pty_helper_process() {
    let Some(out) = std::env::var_os(HELPER) else {
        return;
    };
    let out = PathBuf::from(out);
    let mode = std::env::var(MODE).unwrap();
    let result = out.join("result");
    let foreground = |who: &str| {
        let fg = tcgetpgrp(stdin());
        assert_eq!(fg, Ok(getpgrp()), "{who}: not the terminal's foreground");
    };
    foreground("before the run");
    // tmux leaves SIGTTIN and SIGTTOU ignored in its panes, and an ignored signal stays ignored
    // across exec: the child would get EIO instead of being stopped, and the runner could take
    // the terminal back without blocking SIGTTOU. A caught signal is reset to the default by
    // exec: listening to them makes the child start as under an interactive shell, and the
    // runner must block SIGTTOU itself.
    let _ttin = signal(SignalKind::from_raw(Signal::SIGTTIN as i32)).unwrap();
    let _ttou = signal(SignalKind::from_raw(Signal::SIGTTOU as i32)).unwrap();

    let mut config = RunnerConfig::new(vec!["/bin/sh".into(), "-c".into(), SCRIPT.into()]);
    config.on_change = OnChange::Restart;
    config.forward_signals = true;
    config.grace = Duration::from_secs(5);
    config.coalesce = Duration::from_millis(10);
    config.restart_jitter = Duration::ZERO;
    config.base_env = Some(vec![
        (
            OsString::from("PATH"),
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        ),
        ("OUT".into(), out.clone().into()),
        ("MODE".into(), mode.clone().into()),
    ]);
    // No deadlines here: the test has its own, and its tmux server hangs up on this process
    // when it is done, which ends the run (SIGHUP forwarded).
    let runner = Runner::new(config);
    let (updates, mut rx) = mpsc::channel(4);
    let log = out.join("log");
    tokio::spawn(async move {
        if mode != "restart" {
            return std::future::pending().await;
        }
        while !std::fs::read_to_string(&log).is_ok_and(|text| text.contains("got:one")) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        updates.send(update(2, "A = \"beta\"")).await.unwrap();
    });
    // The test types a second line, then Ctrl-C.
    let exit = runner
        .run(update(1, "A = \"alpha\""), &mut rx, std::future::pending())
        .await
        .unwrap();
    let fg = match tcgetpgrp(stdin()) {
        Ok(fg) if fg == getpgrp() => "ours".to_string(),
        other => format!("{other:?}"),
    };
    let line = format!(
        "code={} signal={:?} cause={:?} foreground={fg}\n",
        exit.code, exit.signal, exit.cause
    );
    std::fs::write(out.join("result.tmp"), line).unwrap();
    std::fs::rename(out.join("result.tmp"), result).unwrap();
}
