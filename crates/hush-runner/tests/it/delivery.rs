//! The runner against real child processes (`/bin/sh`, `python3`): what the app sees in its
//! environment and secrets file, and what each update mode does to it.

use crate::common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hush_runner::{CONCEALED, ChildState, ExitCause, LogBuffer, OnChange, Runner, Signal, Stream};

const V1: &str = r#"A = "alpha"
x = 1e10
i = 0xff
flag = true
DB = "from-secrets"
when = 1979-05-27
list = ["l1-value"]

[t]
k = "nested-value"
"#;

const V2: &str = r#"A = "beta"
x = 3.14
"#;

const ENV_NAMES: &[&str] = &[
    "A", "x", "i", "flag", "DB", "when", "list", "t", "k", "KEEP",
];

fn env_file(scratch: &Scratch, pid: u32) -> PathBuf {
    scratch.path(&format!("env.{pid}"))
}

#[tokio::test]
async fn env_has_exported_keys_python_floats_and_the_original_env_restored_on_restart() {
    let scratch = Scratch::new();
    let script = format!("{}; exec sleep 30", dump_env_script(ENV_NAMES));
    let mut app = Running::start(scratch.config(&script, OnChange::Restart), update(1, V1));
    let pid1 = app.running_pid().await;
    app.wait_applied(1).await;
    let env = parse_env_dump(&wait_file(&env_file(&scratch, pid1)).await);
    assert_eq!(env["A"], "alpha");
    assert_eq!(env["x"], "10000000000.0", "Python's str(1e10)");
    assert_eq!(env["i"], "255");
    assert_eq!(
        env["DB"], "from-secrets",
        "compat §2.3: a secret overwrites"
    );
    assert_eq!(env["KEEP"], "kept", "the original environment is kept");
    for not_exported in ["flag", "when", "list", "t", "k"] {
        assert_eq!(
            env[not_exported], "UNSET",
            "{not_exported} must not be exported"
        );
    }

    app.send(2, V2).await;
    app.wait_applied(2).await;
    let pid2 = app.running_pid().await;
    assert_ne!(pid1, pid2, "restart mode starts a new process");
    let env = parse_env_dump(&wait_file(&env_file(&scratch, pid2)).await);
    assert_eq!(env["A"], "beta");
    assert_eq!(env["x"], "3.14");
    assert_eq!(env["i"], "UNSET", "compat §2.5: a removed key is gone");
    assert_eq!(
        env["DB"], "original",
        "compat §2.5: an overwritten variable gets its value back"
    );
    assert_eq!(env["KEEP"], "kept");

    let exit = app.shutdown().await;
    assert_eq!(exit.cause, ExitCause::Shutdown);
    assert_eq!(exit.code, 143, "sleep killed by SIGTERM: 128 + 15");
    assert_eq!(exit.signal, Some(15));
}

#[tokio::test]
async fn secrets_file_is_private_whole_named_in_env_and_removed_after_exit() {
    let scratch = Scratch::new();
    let script = format!(
        "{}; exec sleep 30",
        dump_env_script(&[
            "HUSH_SECRETS_FILE",
            "STREAMLIT_SECRETS_FILES",
            "STREAMLIT_SERVER_RUN_ON_SAVE"
        ])
    );
    let mut app = Running::start(
        scratch.config(&script, OnChange::StreamlitRerun),
        update(1, V1),
    );
    let pid = app.running_pid().await;
    let env = parse_env_dump(&wait_file(&env_file(&scratch, pid)).await);
    let file = PathBuf::from(&env["HUSH_SECRETS_FILE"]);
    assert_eq!(env["STREAMLIT_SECRETS_FILES"], env["HUSH_SECRETS_FILE"]);
    assert_eq!(env["STREAMLIT_SERVER_RUN_ON_SAVE"], "true");
    assert!(!env["HUSH_SECRETS_FILE"].contains(char::is_whitespace));
    assert_eq!(file.file_name().unwrap(), "secrets.toml");
    let dir = file.parent().unwrap().to_path_buf();
    assert_eq!(dir.parent().unwrap(), scratch.secrets_parent.path());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), V1);
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);

    app.shutdown().await;
    assert!(!file.exists());
    assert!(!dir.exists());
}

#[tokio::test]
async fn restart_mode_does_not_set_run_on_save() {
    let scratch = Scratch::new();
    let script = format!(
        "{}; exit 0",
        dump_env_script(&["STREAMLIT_SERVER_RUN_ON_SAVE"])
    );
    let app = Running::start(scratch.config(&script, OnChange::Restart), update(1, V2));
    let exit = app.finish().await;
    assert_eq!(exit.code, 0);
    let dumped = std::fs::read_dir(scratch.out())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert_eq!(dumped.trim(), "STREAMLIT_SERVER_RUN_ON_SAVE=UNSET");
}

#[tokio::test]
async fn the_secrets_dir_is_removed_when_the_child_cannot_start() {
    let scratch = Scratch::new();
    let mut config = scratch.config("", OnChange::Restart);
    config.command = vec!["/nonexistent/hush-test-program".into()];
    let runner = Runner::new(config);
    let mut status = runner.status();
    let (_tx, mut rx) = tokio::sync::mpsc::channel(1);
    let err = runner
        .run(update(1, V1), &mut rx, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/hush-test-program"),
        "{err}"
    );
    assert!(matches!(
        *status.borrow_and_update(),
        ChildState::Failed { .. }
    ));
    assert_eq!(
        std::fs::read_dir(scratch.secrets_parent.path())
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn dropping_the_run_future_kills_the_child_and_removes_the_secrets_dir() {
    let scratch = Scratch::new();
    let script = format!("{}; exec sleep 30", dump_env_script(&["HUSH_SECRETS_FILE"]));
    let mut app = Running::start(scratch.config(&script, OnChange::Restart), update(1, V1));
    let pid = app.running_pid().await;
    let env = parse_env_dump(&wait_file(&env_file(&scratch, pid)).await);
    let file = PathBuf::from(&env["HUSH_SECRETS_FILE"]);
    assert!(file.exists());
    app.abort().await;
    assert!(!file.parent().unwrap().exists());
    // Killed: gone, or a zombie waiting for the background reaper.
    wait_until("the child to be killed", || {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => Some(()),
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z')
                .then_some(()),
        }
    })
    .await;
}

#[tokio::test]
async fn an_invalid_initial_document_is_refused_before_starting() {
    let scratch = Scratch::new();
    let runner = Runner::new(scratch.config("exit 0", OnChange::Restart));
    let (_tx, mut rx) = tokio::sync::mpsc::channel(1);
    let err = runner
        .run(
            update(3, "a = \"secret-ish"),
            &mut rx,
            std::future::pending(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("version 3") && msg.contains("line 1"), "{msg}");
    assert!(
        !msg.contains("secret-ish"),
        "an error never quotes the document"
    );
}

/// A document of about 300 KB, so that a non-atomic write would be seen half-done.
fn big_doc(version: i64) -> String {
    let filler = "f".repeat(300_000);
    // Inside a table, so not exported: one environment string is limited to 128 KiB.
    format!("begin = \"v{version}\"\n[big]\nfiller = \"{filler}\"\nend = \"v{version}\"\n")
}

/// The child reads the file in a tight loop and records any text that is not a whole document.
const WATCHER: &str = r#"
import os, sys, time
path = os.environ["HUSH_SECRETS_FILE"]
out = os.environ["OUT"]
seen = set()
open(os.path.join(out, "ready.tmp"), "w").write("ready")
os.rename(os.path.join(out, "ready.tmp"), os.path.join(out, "ready"))
while True:
    text = open(path).read()
    first, last = text.split("\n")[0], text.rstrip("\n").split("\n")[-1]
    if not (first.startswith("begin = ") and last == first.replace("begin", "end", 1)):
        open(os.path.join(out, "torn"), "a").write(repr(text[:40]) + "\n")
    v = first
    if v not in seen:
        seen.add(v)
        with open(os.path.join(out, "seen.tmp"), "w") as f:
            f.write("\n".join(sorted(seen)))
        os.rename(os.path.join(out, "seen.tmp"), os.path.join(out, "seen"))
    time.sleep(0.002)
"#;

async fn file_modes_replace_atomically_without_restarting(mode: OnChange) {
    let scratch = Scratch::new();
    let mut config = scratch.config("", mode);
    config.command = vec!["python3".into(), "-c".into(), WATCHER.into()];
    let mut app = Running::start(config, update(1, &big_doc(1)));
    let pid = app.running_pid().await;
    wait_file(&scratch.path("ready")).await;
    let file = PathBuf::from(app.runner.config().secrets_parent.as_ref().unwrap())
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("secrets.toml");
    // Held open: a file replaced by rename keeps its old text behind this handle.
    let mut original = std::fs::File::open(&file).unwrap();

    for v in 2..=6 {
        app.send(v, &big_doc(v)).await;
        app.wait_applied(v).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), big_doc(v));
    }
    wait_until("the child to read version 6", || {
        std::fs::read_to_string(scratch.path("seen"))
            .ok()
            .filter(|s| s.contains("\"v6\""))
    })
    .await;
    assert_eq!(
        app.pid_now(),
        Some(pid),
        "{mode:?} must not restart the app"
    );
    assert!(
        !scratch.path("torn").exists(),
        "the child saw a half-written file: {}",
        std::fs::read_to_string(scratch.path("torn")).unwrap()
    );
    let mut behind_old_handle = String::new();
    original.read_to_string(&mut behind_old_handle).unwrap();
    assert!(
        behind_old_handle == big_doc(1),
        "replaced by rename, not rewritten in place"
    );
    let dir_entries = std::fs::read_dir(file.parent().unwrap()).unwrap().count();
    assert_eq!(dir_entries, 1, "no temporary file left behind");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    app.shutdown().await;
}

#[tokio::test]
async fn streamlit_rerun_mode_replaces_the_file_atomically_without_restarting() {
    file_modes_replace_atomically_without_restarting(OnChange::StreamlitRerun).await;
}

#[tokio::test]
async fn none_mode_replaces_the_file_atomically_without_restarting() {
    file_modes_replace_atomically_without_restarting(OnChange::None).await;
}

#[tokio::test]
async fn restart_mode_sends_sigterm_to_the_old_child() {
    let scratch = Scratch::new();
    let script = r#"trap 'echo term > "$OUT/term.$$"; exit 0' TERM
echo "$$" > "$OUT/pid.tmp" && mv "$OUT/pid.tmp" "$OUT/started.$$"
while :; do sleep 0.05; done"#;
    let mut app = Running::start(scratch.config(script, OnChange::Restart), update(1, V1));
    let pid1 = app.running_pid().await;
    wait_file(&scratch.path(&format!("started.{pid1}"))).await;
    app.send(2, V2).await;
    app.wait_applied(2).await;
    let pid2 = app.running_pid().await;
    assert_ne!(pid1, pid2);
    assert_eq!(
        wait_file(&scratch.path(&format!("term.{pid1}"))).await,
        "term\n"
    );
    wait_file(&scratch.path(&format!("started.{pid2}"))).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
    let scratch = Scratch::new();
    let script = r#"trap '' TERM
echo "$$" > "$OUT/pid.tmp" && mv "$OUT/pid.tmp" "$OUT/started.$$"
while :; do sleep 0.05; done"#;
    let grace = Duration::from_millis(400);
    let mut config = scratch.config(script, OnChange::Restart);
    config.grace = grace;
    let mut app = Running::start(config, update(1, V1));
    let pid1 = app.running_pid().await;
    wait_file(&scratch.path(&format!("started.{pid1}"))).await;
    let asked = Instant::now();
    app.send(2, V2).await;
    app.wait_applied(2).await;
    assert!(
        asked.elapsed() >= grace,
        "the restart waited for the grace period"
    );
    let pid2 = app.running_pid().await;
    assert_ne!(pid1, pid2);
    // The old group is gone (SIGKILL reached the shell and its sleep).
    // The old shell is gone (reaped after SIGKILL).
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid1 as i32), None).is_err());
    wait_file(&scratch.path(&format!("started.{pid2}"))).await; // its trap is set
    let exit = app.shutdown().await;
    assert_eq!(exit.code, 137, "SIGKILLed on shutdown too: 128 + 9");
    assert_eq!(exit.cause, ExitCause::Shutdown);
}

#[tokio::test]
async fn signal_mode_rewrites_the_file_then_signals_the_child() {
    signal_mode_scenario().await;
}

/// The same under `nohup`: the runner ignores SIGHUP, which its child would inherit, and a
/// shell cannot trap a signal that was ignored when it started.
#[test]
fn signal_mode_reaches_a_shell_trap_when_the_runner_ignores_the_signal() {
    if in_nohup_process(
        "delivery::signal_mode_reaches_a_shell_trap_when_the_runner_ignores_the_signal",
    ) {
        block_on(signal_mode_scenario());
    }
}

async fn signal_mode_scenario() {
    let scratch = Scratch::new();
    let script = r#"trap 'cp "$HUSH_SECRETS_FILE" "$OUT/at-hup.tmp"; mv "$OUT/at-hup.tmp" "$OUT/at-hup"' HUP
echo ready > "$OUT/ready.tmp" && mv "$OUT/ready.tmp" "$OUT/ready"
while :; do sleep 0.05; done"#;
    let mut app = Running::start(
        scratch.config(script, OnChange::Signal(Signal::SIGHUP)),
        update(1, V1),
    );
    let pid = app.running_pid().await;
    wait_file(&scratch.path("ready")).await;
    app.send(2, V2).await;
    app.wait_applied(2).await;
    assert_eq!(wait_file(&scratch.path("at-hup")).await, V2);
    assert_eq!(app.pid_now(), Some(pid), "signal mode does not restart");
    app.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_updates_is_coalesced_and_older_versions_are_ignored() {
    let scratch = Scratch::new();
    let script = r#"echo "$$ $V" >> "$OUT/starts"; exec sleep 30"#;
    let mut config = scratch.config(script, OnChange::Restart);
    config.coalesce = Duration::from_millis(100);
    let mut app = Running::start(config, update(1, "V = \"1\""));
    app.wait_applied(1).await;
    let mut history = app.applied.clone();
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while history.changed().await.is_ok() {
            seen.push(history.borrow_and_update().unwrap());
        }
        seen
    });

    for v in 2..=21 {
        app.send(v, &format!("V = \"{v}\"")).await;
    }
    app.send(5, "V = \"old\"").await; // older than the burst: ignored
    app.wait_applied(21).await;
    app.running_pid().await;
    let starts = wait_until("the child of version 21 to start", || {
        std::fs::read_to_string(scratch.path("starts"))
            .ok()
            .filter(|s| s.trim_end().ends_with(" 21"))
    })
    .await;
    let count = starts.lines().count();
    assert!(
        (2..=3).contains(&count),
        "20 updates in a burst should cause one restart (at most two), got {count}:\n{starts}"
    );

    app.send(4, "V = \"older\"").await;
    app.send(22, "V = \"22\"").await;
    app.wait_applied(22).await;
    app.shutdown().await;
    let seen = collector.await.unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "applied versions only go up: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&22));
}

#[tokio::test]
async fn the_exit_code_of_the_child_is_returned() {
    let scratch = Scratch::new();
    let mut app = Running::start(scratch.config("exit 7", OnChange::Restart), update(1, V1));
    let exit = app.finish().await;
    assert_eq!(
        (exit.code, exit.signal, exit.cause),
        (7, None, ExitCause::Exited)
    );

    app = Running::start(
        scratch.config("kill -KILL $$", OnChange::Restart),
        update(1, V1),
    );
    let mut status = app.status.clone();
    let exit = app.finish().await;
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    assert_eq!(
        *status.borrow_and_update(),
        ChildState::Exited { code: 137 }
    );
}

#[tokio::test]
async fn output_is_masked_on_the_terminal_and_in_the_log_buffer() {
    let scratch = Scratch::new();
    let script = r#"echo "token=$A and $A"
echo "nested: nested-value / l1-value" >&2
echo "short values stay: $SHORT"
trap 'cat "$HUSH_SECRETS_FILE"; echo done' HUP
echo ready > "$OUT/ready.tmp" && mv "$OUT/ready.tmp" "$OUT/ready"
while :; do sleep 0.05; done"#;
    let logs = Arc::new(LogBuffer::new(500));
    let mut config = scratch.config(script, OnChange::Signal(Signal::SIGHUP));
    config.mask_output = true;
    config.log_buffer = Some(logs.clone());
    let mut app = Running::start(config, update(1, &format!("SHORT = \"abc\"\n{V1}")));
    wait_file(&scratch.path("ready")).await;
    let texts = wait_until("three lines of output", || {
        let lines = logs.lines();
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let stdout: Vec<&str> = texts
        .iter()
        .filter(|l| l.stream == Stream::Stdout)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        stdout,
        [
            format!("token={CONCEALED} and {CONCEALED}"),
            "short values stay: abc".into()
        ]
    );
    let stderr: Vec<&str> = texts
        .iter()
        .filter(|l| l.stream == Stream::Stderr)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(stderr, [format!("nested: {CONCEALED} / {CONCEALED}")]);

    // A new version: its values are masked too (the child prints the whole file on SIGHUP).
    app.send(2, "NEW = \"brand-new-secret\"\n").await;
    app.wait_applied(2).await;
    let printed = wait_until("the file to be printed", || {
        let lines = logs.since(texts.len() as u64);
        lines.iter().any(|l| l.text == "done").then_some(lines)
    })
    .await;
    // (stderr may also carry the shell's "Hangup" for its interrupted sleep)
    let first_stdout = printed.iter().find(|l| l.stream == Stream::Stdout).unwrap();
    assert_eq!(first_stdout.text, format!("NEW = \"{CONCEALED}\""));
    assert!(!printed.iter().any(|l| l.text.contains("brand-new-secret")));
    app.shutdown().await;
}
