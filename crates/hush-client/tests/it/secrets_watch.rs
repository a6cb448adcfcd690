//! Live changes (compat §4.1 and §4.3). Every wait is on the watcher's channel with
//! a timeout; sleeps are never what makes a test pass.

use std::fs;
use std::path::Path;
use std::time::Duration;

use hush_client::secrets::{Secrets, SecretsError, SecretsWatcher, WatchEvent};
use tempfile::TempDir;

const POLL: Duration = Duration::from_millis(20);
const WAIT: Duration = Duration::from_secs(10);

fn next(w: &SecretsWatcher) -> WatchEvent {
    w.recv_timeout(WAIT).expect("no watch event within 10 s")
}

fn reloaded(w: &SecretsWatcher) -> Secrets {
    match next(w) {
        WatchEvent::Reloaded(s) => s,
        WatchEvent::Invalid(e) => panic!("expected a reload, got: {e}"),
    }
}

fn write_atomically(path: &Path, text: &str) {
    // Write then rename, so a poll never sees half a file.
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

struct Setup {
    _tmp: TempDir,
    global: std::path::PathBuf,
    project: std::path::PathBuf,
    secrets: Secrets,
}

fn setup(global: Option<&str>, project: Option<&str>) -> Setup {
    let tmp = TempDir::new().unwrap();
    let home = tmp.path().join("home");
    let cwd = tmp.path().join("cwd");
    fs::create_dir_all(home.join(".streamlit")).unwrap();
    fs::create_dir_all(cwd.join(".streamlit")).unwrap();
    let g = home.join(".streamlit/secrets.toml");
    let p = cwd.join(".streamlit/secrets.toml");
    if let Some(t) = global {
        fs::write(&g, t).unwrap();
    }
    if let Some(t) = project {
        fs::write(&p, t).unwrap();
    }
    let secrets = Secrets::builder()
        .home(&home)
        .cwd(&cwd)
        .ignore_environment()
        .load()
        .unwrap();
    Setup {
        _tmp: tmp,
        global: g,
        project: p,
        secrets,
    }
}

#[test]
fn an_edit_reloads() {
    let s = setup(None, Some("a = \"1\"\n"));
    let w = s.secrets.watch_every(POLL);
    write_atomically(&s.project, "a = \"2\"\nb = 3\n");
    let new = reloaded(&w);
    assert_eq!(new["a"], "2");
    assert_eq!(new["b"], 3);
    assert_eq!(w.current()["a"], "2");
}

#[test]
fn same_content_rewritten_is_not_a_change() {
    let s = setup(None, Some("a = \"1\"\n"));
    let w = s.secrets.watch_every(POLL);
    // Rewriting identical bytes (like `touch`, or an editor saving unchanged text) must not
    // reload, however many polls see the new file. Each rewrite is a new file (new inode and
    // modification time), and several polls pass after each.
    for _ in 0..3 {
        write_atomically(&s.project, "a = \"1\"\n");
        match w.recv_timeout(POLL * 5) {
            Err(_) => {}
            Ok(event) => panic!("rewriting the same content was reported: {event:?}"),
        }
    }
    // A real edit is.
    write_atomically(&s.project, "a = \"changed\"\n");
    assert_eq!(reloaded(&w)["a"], "changed");
}

#[test]
fn an_invalid_edit_keeps_the_last_good_values_and_is_reported() {
    let s = setup(None, Some("a = \"good\"\n"));
    let w = s.secrets.watch_every(POLL);
    write_atomically(&s.project, "a = \"Zq9-half-typed\n");
    match next(&w) {
        WatchEvent::Invalid(SecretsError::Parse { path, message }) => {
            assert_eq!(path, s.project);
            assert!(message.contains("(at line 1, column"), "{message}");
            assert!(!message.contains("Zq9"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert_eq!(w.current()["a"], "good");
    // Still watching: fixing the file reloads.
    write_atomically(&s.project, "a = \"fixed\"\n");
    assert_eq!(reloaded(&w)["a"], "fixed");
    assert_eq!(w.current()["a"], "fixed");
}

#[test]
fn a_file_created_after_start_is_picked_up() {
    let s = setup(Some("a = \"global\"\nb = \"global\"\n"), None);
    let w = s.secrets.watch_every(POLL);
    write_atomically(&s.project, "b = \"project\"\n");
    let new = reloaded(&w);
    assert_eq!(new["a"], "global");
    assert_eq!(new["b"], "project");
}

#[test]
fn a_deleted_file_removes_its_secrets() {
    let s = setup(Some("a = \"global\"\n"), Some("b = \"project\"\n"));
    let w = s.secrets.watch_every(POLL);
    fs::remove_file(&s.project).unwrap();
    let new = reloaded(&w);
    assert_eq!(new["a"], "global");
    assert!(!new.contains_key("b"));
    // Every file gone: an empty set, not the stale values.
    fs::remove_file(&s.global).unwrap();
    assert!(reloaded(&w).is_empty());
    assert!(w.current().is_empty());
}

#[test]
fn dropping_the_watcher_stops_it() {
    let s = setup(None, Some("a = 1\n"));
    let w = s.secrets.watch_every(Duration::from_secs(3600));
    // Stopping wakes the thread instead of waiting out the hour-long interval. Dropped on
    // another thread, so that a drop that waits fails this test instead of hanging it.
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(w);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(WAIT)
        .expect("dropping the watcher did not return within 10 s");
}
