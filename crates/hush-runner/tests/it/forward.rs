//! Signal forwarding (`hush run`): signals sent to the runner's own process reach the child.
//! They are raised in the whole test process; the runner's handlers take them there.

use crate::common;

use std::time::Duration;

use common::*;
use hush_runner::{ExitCause, OnChange, Signal};
use nix::sys::signal::raise;

#[tokio::test]
async fn sigterm_and_sigint_are_forwarded_and_a_deaf_child_is_killed_after_grace() {
    let scratch = Scratch::new();

    // SIGTERM reaches the child, which exits with its own code.
    let script = r#"trap 'exit 3' TERM
echo ready > "$OUT/ready1.tmp" && mv "$OUT/ready1.tmp" "$OUT/ready1"
while :; do sleep 0.05; done"#;
    let mut config = scratch.config(script, OnChange::Restart);
    config.forward_signals = true;
    let app = Running::start(config, update(1, "A = \"alpha\""));
    wait_file(&scratch.path("ready1")).await;
    raise(Signal::SIGTERM).unwrap();
    let exit = app.finish().await;
    assert_eq!(exit.code, 3);
    assert_eq!(exit.cause, ExitCause::Forwarded(Signal::SIGTERM));

    // A child that ignores SIGINT gets SIGKILL once the grace period is over.
    let script = r#"trap '' INT
echo ready > "$OUT/ready2.tmp" && mv "$OUT/ready2.tmp" "$OUT/ready2"
while :; do sleep 0.05; done"#;
    let mut config = scratch.config(script, OnChange::Restart);
    config.forward_signals = true;
    config.grace = Duration::from_millis(300);
    let app = Running::start(config, update(1, "A = \"alpha\""));
    wait_file(&scratch.path("ready2")).await;
    raise(Signal::SIGINT).unwrap();
    let exit = app.finish().await;
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    assert_eq!(exit.cause, ExitCause::Forwarded(Signal::SIGINT));
}

/// Under `nohup` a hangup is ignored, and `hush run` leaves it so: it neither reaches the app
/// nor stops it. SIGTERM is still forwarded.
#[test]
fn a_hangup_ignored_under_nohup_stays_ignored() {
    if !in_nohup_process("forward::a_hangup_ignored_under_nohup_stays_ignored") {
        return;
    }
    block_on(async {
        let scratch = Scratch::new();
        let script = r#"echo ready > "$OUT/ready.tmp" && mv "$OUT/ready.tmp" "$OUT/ready"
while :; do sleep 0.05; done"#;
        let mut config = scratch.config(script, OnChange::Restart);
        config.forward_signals = true;
        config.grace = Duration::from_millis(300);
        let mut app = Running::start(config, update(1, "A = \"alpha\""));
        let pid = app.running_pid().await;
        wait_file(&scratch.path("ready")).await;
        raise(Signal::SIGHUP).unwrap();
        // Longer than the grace period a forwarded signal would have started.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(app.pid_now(), Some(pid), "the app runs on, untouched");
        raise(Signal::SIGTERM).unwrap();
        let exit = app.finish().await;
        assert_eq!(exit.cause, ExitCause::Forwarded(Signal::SIGTERM));
    });
}
