//! Output masking against real children: values the app still holds stay masked however many
//! versions come after them, and a line the app has not finished yet is shown when it goes
//! quiet, except a tail that could be the start of a secret.

use crate::common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;

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

/// Set, to the directory the two share, in the copy of this test binary that runs the app (its
/// stdout is the runner's).
const PROMPT_INNER: &str = "HUSH_TEST_PROMPT_DIR";

/// A prompt (no newline) is shown while the app waits for an answer; the start of a secret at
/// its end is held back until the rest of the line says whether it is one, so a value split
/// across that flush is still masked. The runner writes the app's output to its own stdout, so
/// the runner runs in a copy of this test binary whose stdout this test reads.
#[test]
fn a_prompt_without_a_newline_is_shown_and_a_secret_split_at_it_is_masked() {
    const SECRET: &str = "split-secret-value";
    if let Some(shared) = std::env::var_os(PROMPT_INNER) {
        // The copy: run the app under the runner until it says it is done.
        let shared = std::path::PathBuf::from(shared);
        block_on(async {
            let scratch = Scratch::new();
            // The app prints a prompt and the first part of the secret, then waits for `go`.
            let script = r#"printf 'Password: %s' "${A%-value}"
while [ ! -e "$GO/go" ]; do sleep 0.02; done
printf '%s\n' "-value and the end"
echo done > "$GO/done.tmp" && mv "$GO/done.tmp" "$GO/done"
exec sleep 30"#;
            let mut config = scratch.config(script, OnChange::None);
            config.mask_output = true;
            config
                .base_env
                .as_mut()
                .unwrap()
                .push(("GO".into(), shared.clone().into()));
            let app = Running::start(config, update(1, &format!("A = \"{SECRET}\"\n")));
            wait_file(&shared.join("done")).await;
            // Shutting down drains the app's output.
            app.shutdown().await;
        });
        return;
    }

    let go = tempfile::tempdir().unwrap();
    let mut inner = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "masking::a_prompt_without_a_newline_is_shown_and_a_secret_split_at_it_is_masked",
            "--nocapture",
        ])
        .env(PROMPT_INNER, go.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read the copy's stdout as it comes.
    let mut stdout = inner.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while !String::from_utf8_lossy(&shown).contains("Password: ") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => shown.extend(bytes),
            Err(_) => {
                let _ = inner.kill();
                panic!(
                    "the prompt was not shown while the app waited: {:?}",
                    String::from_utf8_lossy(&shown)
                );
            }
        }
    }
    std::fs::write(go.path().join("go"), "").unwrap();
    while let Ok(bytes) = rx.recv_timeout(DEADLINE) {
        shown.extend(bytes);
    }
    reader.join().unwrap();
    assert!(inner.wait().unwrap().success());
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        shown.contains(&format!("Password: {CONCEALED} and the end\n")),
        "{shown}"
    );
    assert!(!shown.contains("split-secret"), "{shown}");
}
