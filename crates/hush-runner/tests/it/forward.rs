//! Signal forwarding (`hush run`): signals sent to the runner's own process reach the child.
//! Its own test binary, since the signals are sent to the whole test process.

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
