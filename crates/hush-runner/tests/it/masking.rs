//! Output masking against real children: values the app still holds stay masked however many
//! versions come after them.

use crate::common;

use std::sync::Arc;

use common::*;
use hush_runner::{CONCEALED, LogBuffer, OnChange, Signal};

fn password_doc(password: &str) -> String {
    format!("db_password = \"{password}\"\n")
}

/// In the modes that keep the app running, the app keeps the environment it started with: the
/// first version's value is still printed after two updates, and must still be masked.
async fn values_the_app_still_holds_stay_masked(on_change: OnChange) {
    let scratch = Scratch::new();
    let script = r#"trap '' HUP
while :; do echo "pw=$db_password"; sleep 0.05; done"#;
    let logs = Arc::new(LogBuffer::new(10_000));
    let mut config = scratch.config(script, on_change);
    config.mask_output = true;
    config.log_buffer = Some(logs.clone());
    let mut app = Running::start(config, update(1, &password_doc("first-password-v1")));
    wait_until("the app to print", || {
        (!logs.lines().is_empty()).then_some(())
    })
    .await;
    app.send(2, &password_doc("second-password-v2")).await;
    app.wait_applied(2).await;
    app.send(3, &password_doc("third-password-v3")).await;
    app.wait_applied(3).await;
    let seen = logs.lines().len();
    let lines = wait_until("more lines after version 3", || {
        let lines = logs.lines();
        (lines.len() >= seen + 5).then_some(lines)
    })
    .await;
    for line in &lines {
        assert!(
            !line.text.contains("password-v"),
            "{on_change:?}: a value in clear: {:?}",
            line.text
        );
    }
    assert_eq!(lines.last().unwrap().text, format!("pw={CONCEALED}"));
    app.shutdown().await;
}

#[tokio::test]
async fn none_mode_masks_the_first_versions_values_after_two_updates() {
    values_the_app_still_holds_stay_masked(OnChange::None).await;
}

#[tokio::test]
async fn signal_mode_masks_the_first_versions_values_after_two_updates() {
    values_the_app_still_holds_stay_masked(OnChange::Signal(Signal::SIGHUP)).await;
}
