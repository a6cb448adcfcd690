//! A secrets file that cannot be written (a full disk, a directory gone): the app keeps the
//! version it has, the version reported stays the old one, and the newest version is delivered
//! once the file can be written again.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use hush_runner::{ChildState, OnChange, Signal};

/// How long a test watches for what must not happen while the file cannot be written. The
/// runner tries at once (a lone update is not delayed), so this covers that try and its first
/// retry or so; the fixed code passes whatever the timing.
const WATCH_NOTHING_HAPPENS: Duration = Duration::from_millis(1500);

/// The runner's secrets directory, moved out of its place while this lives: writing the file
/// fails as on a full disk, even for root (whom a read-only directory would not stop).
struct Unwritable {
    dir: PathBuf,
    moved: PathBuf,
}

impl Unwritable {
    fn new(scratch: &Scratch) -> Unwritable {
        let parent = scratch.secrets_parent.path();
        let mut dirs = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().path());
        let dir = dirs.next().expect("the runner's secrets directory");
        assert!(dirs.next().is_none(), "one runner, one directory");
        let moved = parent.join("moved-away");
        std::fs::rename(&dir, &moved).unwrap();
        Unwritable { dir, moved }
    }

    /// The secrets file as it is while out of place.
    fn file(&self) -> PathBuf {
        self.moved.join("secrets.toml")
    }

    /// Puts the directory back ("space freed"); returns the secrets file's path.
    fn restore(self) -> PathBuf {
        std::fs::rename(&self.moved, &self.dir).unwrap();
        self.dir.join("secrets.toml")
    }
}

fn doc(a: &str) -> String {
    format!("A = \"{a}\"\n")
}

/// Fails if the applied version or the child's state changes within [`WATCH_NOTHING_HAPPENS`].
async fn nothing_is_applied(app: &mut Running, version: i64, pid: u32) {
    let mut applied = app.applied.clone();
    let mut status = app.status.clone();
    let changed = tokio::time::timeout(WATCH_NOTHING_HAPPENS, async {
        tokio::select! {
            v = applied.wait_for(|v| *v != Some(version)) => format!("applied {:?}", *v.unwrap()),
            s = status.wait_for(|s| *s != ChildState::Running { pid }) => format!("{:?}", *s.unwrap()),
        }
    })
    .await;
    if let Ok(what) = changed {
        panic!("the file could not be written, yet the runner went on: {what}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn restart_mode_neither_restarts_nor_reports_a_version_it_could_not_write() {
    let scratch = Scratch::new();
    let script = format!("{}; exec sleep 30", dump_env_script(&["A"]));
    let mut app = Running::start(
        scratch.config(&script, OnChange::Restart),
        update(1, &doc("one")),
    );
    let pid1 = app.running_pid().await;
    app.wait_applied(1).await;

    let disk = Unwritable::new(&scratch);
    app.send(2, &doc("two")).await;
    nothing_is_applied(&mut app, 1, pid1).await;
    assert_eq!(read(&disk.file()), doc("one"));

    let file = disk.restore();
    app.wait_applied(2).await;
    let pid2 = app.running_pid().await;
    assert_ne!(pid1, pid2, "restarted once the file was written");
    assert_eq!(read(&file), doc("two"));
    let env = parse_env_dump(&wait_file(&scratch.path(&format!("env.{pid2}"))).await);
    assert_eq!(env["A"], "two");
    app.shutdown().await;
}

/// None, signal and Streamlit re-run modes: the update is kept, not lost, and the newest version
/// that came meanwhile is the one written once the file can be written again.
async fn the_newest_version_is_written_once_the_file_can_be(on_change: OnChange) {
    let scratch = Scratch::new();
    let script = r#"trap 'cp "$HUSH_SECRETS_FILE" "$OUT/at-hup.tmp"; mv "$OUT/at-hup.tmp" "$OUT/at-hup"' HUP
echo ready > "$OUT/ready.tmp" && mv "$OUT/ready.tmp" "$OUT/ready"
while :; do sleep 0.05; done"#;
    let mut app = Running::start(scratch.config(script, on_change), update(1, &doc("one")));
    let pid = app.running_pid().await;
    app.wait_applied(1).await;
    wait_file(&scratch.path("ready")).await;

    let disk = Unwritable::new(&scratch);
    app.send(2, &doc("two")).await;
    nothing_is_applied(&mut app, 1, pid).await;
    app.send(3, &doc("three")).await;
    nothing_is_applied(&mut app, 1, pid).await;
    assert_eq!(read(&disk.file()), doc("one"));
    assert!(
        !scratch.path("at-hup").exists(),
        "{on_change:?}: signalled without a new file"
    );

    let file = disk.restore();
    app.wait_applied(3).await;
    assert_eq!(read(&file), doc("three"), "{on_change:?}");
    if on_change != OnChange::None && on_change != OnChange::StreamlitRerun {
        assert_eq!(wait_file(&scratch.path("at-hup")).await, doc("three"));
    }
    assert_eq!(app.pid_now(), Some(pid), "{on_change:?} does not restart");
    app.shutdown().await;
}

#[tokio::test]
async fn none_mode_keeps_an_update_it_could_not_write_and_delivers_the_newest_later() {
    the_newest_version_is_written_once_the_file_can_be(OnChange::None).await;
}

#[tokio::test]
async fn signal_mode_keeps_an_update_it_could_not_write_and_delivers_the_newest_later() {
    the_newest_version_is_written_once_the_file_can_be(OnChange::Signal(Signal::SIGHUP)).await;
}

#[tokio::test]
async fn rerun_mode_keeps_an_update_it_could_not_write_and_delivers_the_newest_later() {
    the_newest_version_is_written_once_the_file_can_be(OnChange::StreamlitRerun).await;
}
