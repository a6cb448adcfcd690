//! Faults an acknowledged save must survive: `hush serve` killed with SIGKILL at a random
//! moment under concurrent saves (SQLite and PostgreSQL), and every PostgreSQL connection of two
//! servers cut again and again while they serve saves and watchers. Each test prints its
//! figures (saves acknowledged, found afterwards, lost).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hush_client::api::{Client, ClientError};
use tokio::sync::watch;

use super::workspace::Db::{self, Dir, Url};
use super::workspace::{self, PASSWORD, admin, ok};
use crate::args;
use crate::common::{self, Server};
use hush_testkit::PgDatabase;

const APPS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const WRITERS_PER_APP: usize = 3;
/// Times the server is killed in one test, each after 0.5–2 s of saves.
const KILL_ROUNDS: usize = 3;

/// What the clients were told about their saves. Every save's text is unique, so a version's
/// text says which save made it.
#[derive(Default)]
struct Outcomes {
    /// (app, version, text) of each save answered 2xx.
    acknowledged: Vec<(String, i64, String)>,
    /// (app, text) of each save answered 503 "nothing was saved".
    refused: Vec<(String, String)>,
    /// (app, text) of each save without a clear answer: the connection broke, or "commit unknown".
    unknown: Vec<(String, String)>,
    conflicts: usize,
    /// Any other error (a 500, say): there must be none.
    unexpected: Vec<String>,
}

/// One client saving on top of the version it last read, re-reading after a 409 or a 503,
/// until `stop` is set or its server goes away.
async fn writer(
    client: Client,
    app: &'static str,
    id: usize,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Outcomes>>,
) {
    let mut base = None;
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let current = match base {
            Some(version) => version,
            None => match client.secrets(app).await {
                Ok(newest) => newest.version,
                Err(ClientError::Transport(_)) => return,
                // Unavailable for a moment (a cut connection): read again.
                Err(e) if e.status() == Some(503) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                Err(e) => {
                    out.lock().unwrap().unexpected.push(format!("read: {e}"));
                    return;
                }
            },
        };
        seq += 1;
        let text = format!(
            "writer = {id}\nseq = {seq}\nnote = \"{}\"\n",
            "x".repeat(100)
        );
        let saved = client.save_secrets(app, &text, current, None).await;
        let mut out = out.lock().unwrap();
        match saved {
            Ok(info) => {
                assert!(!info.unchanged, "every text is new");
                out.acknowledged.push((app.into(), info.version, text));
                base = Some(info.version);
            }
            Err(e) if e.status() == Some(409) => {
                out.conflicts += 1;
                base = None;
            }
            Err(e) if e.status() == Some(503) && e.code() == Some("unavailable") => {
                assert!(
                    e.to_string().contains("nothing was saved")
                        || e.to_string().contains("nothing was changed")
                        || e.to_string().contains("refuses to read or change"),
                    "a 503 says nothing was saved: {e}"
                );
                out.refused.push((app.into(), text));
                base = None;
            }
            Err(ClientError::Transport(_)) => {
                out.unknown.push((app.into(), text));
                return;
            }
            Err(e) if e.code() == Some("commit_unknown") => {
                out.unknown.push((app.into(), text));
                base = None;
            }
            Err(e) => {
                out.unexpected.push(format!("save: {e}"));
                base = None;
            }
        }
    }
}

/// Starts the writers, numbered from `first_id` (their texts must differ from any before).
fn start_writers(
    servers: &[Client],
    first_id: usize,
    stop: &Arc<AtomicBool>,
    out: &Arc<Mutex<Outcomes>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (a, app) in APPS.iter().enumerate() {
        for w in 0..WRITERS_PER_APP {
            let n = a * WRITERS_PER_APP + w;
            let id = first_id + n;
            let client = servers[n % servers.len()].clone();
            tasks.push(tokio::spawn(writer(
                client,
                app,
                id,
                stop.clone(),
                out.clone(),
            )));
        }
    }
    tasks
}

/// Every version of every app, read back through the API: (app, version) → text. Fails on a
/// gap (versions must run from 1 to the newest).
async fn read_back(client: &Client) -> BTreeMap<(String, i64), String> {
    let mut versions = BTreeMap::new();
    for app in APPS {
        let newest = client.secrets(app).await.unwrap().version;
        for v in 1..=newest {
            let text = match client.version(app, v).await {
                Ok(found) => found.toml,
                Err(e) => panic!("{app} version {v} of 1..={newest} cannot be read (a gap?): {e}"),
            };
            versions.insert((app.to_string(), v), text);
        }
    }
    versions
}

/// Checks the outcomes against what is stored, and prints the figures.
fn check(label: &str, out: &Outcomes, stored: &BTreeMap<(String, i64), String>) {
    let mut found = 0;
    let mut lost = Vec::new();
    for (app, version, text) in &out.acknowledged {
        match stored.get(&(app.clone(), *version)) {
            Some(t) if t == text => found += 1,
            other => lost.push(format!("{app} v{version}: stored {other:?}")),
        }
    }
    let texts: std::collections::HashSet<&String> = stored.values().collect();
    let refused_but_stored = out
        .refused
        .iter()
        .filter(|(_, t)| texts.contains(t))
        .count();
    let unknown_stored = out
        .unknown
        .iter()
        .filter(|(_, t)| texts.contains(t))
        .count();
    // Every stored version but each app's first was made by one of the saves sent.
    let sent = out.acknowledged.len() + unknown_stored;
    eprintln!(
        "FIGURES {label}: saves acknowledged {}, found after the fault {found}, lost {}; \
         refused with \"nothing was saved\" {} (stored anyway: {refused_but_stored}); \
         outcome unknown {} (stored {unknown_stored}); conflicts {}; versions stored {}",
        out.acknowledged.len(),
        lost.len(),
        out.refused.len(),
        out.unknown.len(),
        out.conflicts,
        stored.len(),
    );
    assert!(lost.is_empty(), "acknowledged saves lost: {lost:?}");
    assert_eq!(
        refused_but_stored, 0,
        "a save told \"nothing was saved\" is there"
    );
    assert!(
        out.unexpected.is_empty(),
        "unexpected answers: {:?}",
        out.unexpected
    );
    assert_eq!(
        stored.len(),
        sent + APPS.len(),
        "every stored version is an acknowledged save, an unanswered one, or an app's first"
    );
}

/// A random moment between `from` and `from + span`.
fn random_delay(from: Duration, span: Duration) -> Duration {
    let r = u16::from_le_bytes(hush_crypto::random_bytes::<2>());
    from + span.mul_f64(f64::from(r) / f64::from(u16::MAX))
}

async fn create_apps(olivia: &Client) {
    for app in APPS {
        olivia
            .create_app(app, Some("writer = -1\n"), None)
            .await
            .unwrap();
    }
}

/// `hush serve` killed with SIGKILL at a random moment while twelve clients save, then started
/// again on the same database, three times over: every acknowledged save is there with its
/// text, versions are contiguous, and `hush admin verify` finds each version's audit event.
async fn kill_9_under_load(
    label: &str,
    start: &dyn Fn(u16) -> Server,
    db: Db<'_>,
    envs: &[(&str, &str)],
) {
    let mut server = start(0);
    let port = server.port();
    let (olivia, token) = workspace::owner(&server.url).await;
    create_apps(&olivia).await;
    let out = Arc::new(Mutex::new(Outcomes::default()));
    for round in 0..KILL_ROUNDS {
        let client = Client::new(&server.url, Some(token.clone())).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = start_writers(&[client], round * 100, &stop, &out);
        tokio::time::sleep(random_delay(
            Duration::from_millis(500),
            Duration::from_millis(1500),
        ))
        .await;
        server.kill();
        for task in writers {
            task.await.unwrap();
        }
        server = start(port);
    }

    let client = Client::new(&server.url, Some(token)).unwrap();
    let stored = read_back(&client).await;
    check(label, &out.lock().unwrap(), &stored);
    let report = ok(admin("verify", db, &[], envs));
    assert!(report.contains("Verified 4 apps"), "{report}");
}

#[tokio::test]
async fn sqlite_kill_9_under_load_loses_no_acknowledged_save() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::create_owner([OsStr::new("--data-dir"), data.as_os_str()], &[], PASSWORD);
    let start = |port| Server::on_data_dir(&data, port);
    kill_9_under_load("kill -9, SQLite", &start, Dir(&data), &[]).await;
}

#[tokio::test]
async fn postgres_kill_9_under_load_loses_no_acknowledged_save() {
    let Some(db) = OnPostgres::create("kill_9_under_load") else {
        return;
    };
    let start = |port| db.serve(port);
    kill_9_under_load("kill -9, PostgreSQL", &start, Url(&db.pg.url), &db.envs()).await;
}

/// A PostgreSQL database of the test's own with its owner, and servers on it that share one
/// master key.
struct OnPostgres {
    pg: PgDatabase,
    key: String,
    dir: tempfile::TempDir,
}

impl OnPostgres {
    fn create(test: &str) -> Option<OnPostgres> {
        let db = OnPostgres {
            pg: PgDatabase::create(test)?,
            key: common::new_master_key(),
            dir: tempfile::tempdir().unwrap(),
        };
        common::create_owner(std::iter::empty::<&str>(), &db.envs(), PASSWORD);
        Some(db)
    }

    fn envs(&self) -> [(&str, &str); 2] {
        [
            ("HUSH_MASTER_KEY", self.key.as_str()),
            ("HUSH_DATABASE_URL", self.pg.url.as_str()),
        ]
    }

    fn serve(&self, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let data = self.dir.path();
        Server::start(
            args![
                "--listen",
                listen,
                "--metrics-listen",
                "off",
                "--data-dir",
                data
            ],
            &self.envs(),
            None,
        )
    }
}

/// Follows an app's watch stream as a runner does: reconnects from the last version it saw
/// whenever the stream breaks. The newest version seen is published on the returned channel.
fn follow(
    client: Client,
    app: &'static str,
) -> (watch::Receiver<i64>, tokio::task::JoinHandle<()>) {
    let (seen, newest) = watch::channel(0);
    let task = tokio::spawn(async move {
        loop {
            let last = *seen.borrow();
            if let Ok(stream) = client.watch(app, last, Duration::from_secs(60)).await {
                let mut stream = std::pin::pin!(stream);
                while let Some(Ok(version)) = stream.next().await {
                    seen.send_if_modified(|v| {
                        let newer = version > *v;
                        *v = (*v).max(version);
                        newer
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (newest, task)
}

async fn until_seen(watcher: &mut watch::Receiver<i64>, version: i64, within: Duration) -> bool {
    tokio::time::timeout(within, watcher.wait_for(|v| *v >= version))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// A save through `client` on top of the newest version, tried until one succeeds (the
/// database may still be coming back); `None` when none did within `within`.
async fn save_when_possible(
    client: &Client,
    app: &str,
    text: &str,
    within: Duration,
) -> Option<i64> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(newest) = client.secrets(app).await
            && let Ok(saved) = client.save_secrets(app, text, newest.version, None).await
        {
            return Some(saved.version);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Two `hush serve` on one PostgreSQL database, each with a watcher, while twelve clients save
/// through both; every connection of the database is terminated (`pg_terminate_backend`)
/// again and again for a while. Saves meanwhile are acknowledged or refused with a clear 503,
/// never lost; afterwards both servers serve saves again by themselves, both watchers catch
/// up with the newest version, and every version saved after that reaches both watchers.
#[tokio::test]
async fn postgres_connections_cut_under_two_servers() {
    let Some(db) = OnPostgres::create("connections_cut") else {
        return;
    };
    let pg = &db.pg;
    let a = db.serve(0);
    let b = db.serve(0);
    let (on_a, pat) = workspace::owner(&a.url).await;
    let on_b = Client::new(&b.url, Some(pat)).unwrap();
    create_apps(&on_a).await;
    let app_token = on_a
        .create_app_token("alpha", "runner", None)
        .await
        .unwrap()
        .token;
    let (mut seen_a, watcher_a) = follow(
        Client::new(&a.url, Some(app_token.clone())).unwrap(),
        "alpha",
    );
    let (mut seen_b, watcher_b) = follow(Client::new(&b.url, Some(app_token)).unwrap(), "alpha");
    assert!(until_seen(&mut seen_a, 1, Duration::from_secs(10)).await);
    assert!(until_seen(&mut seen_b, 1, Duration::from_secs(10)).await);

    // The outage: every connection cut every 50 ms for 2 s, while both servers take saves.
    let stop = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(Outcomes::default()));
    let writers = start_writers(&[on_a.clone(), on_b.clone()], 0, &stop, &out);
    let outage = Instant::now();
    let mut cut = 0;
    while outage.elapsed() < Duration::from_secs(2) {
        cut += pg.terminate_connections();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in writers {
        task.await.unwrap();
    }

    // Both servers recover by themselves.
    let recovering = Instant::now();
    for (name, client) in [("A", &on_a), ("B", &on_b)] {
        let saved = save_when_possible(
            client,
            "beta",
            &format!("recovered = \"{name}\"\n"),
            Duration::from_secs(30),
        )
        .await;
        assert!(saved.is_some(), "server {name} did not recover within 30 s");
    }
    let recovered_in = recovering.elapsed();

    // Both watchers catch up with the newest version saved during the outage.
    let newest = on_a.secrets("alpha").await.unwrap().version;
    assert!(
        until_seen(&mut seen_a, newest, Duration::from_secs(10)).await,
        "watcher on A stays behind {newest}: {}",
        *seen_a.borrow()
    );
    assert!(
        until_seen(&mut seen_b, newest, Duration::from_secs(10)).await,
        "watcher on B stays behind {newest}: {}",
        *seen_b.borrow()
    );

    // Every version saved from now on reaches both watchers, whichever server took it.
    let mut base = newest;
    for i in 0..6 {
        let through = if i % 2 == 0 { &on_a } else { &on_b };
        let saved = through
            .save_secrets("alpha", &format!("after = {i}\n"), base, None)
            .await
            .unwrap();
        base = saved.version;
        for (name, seen) in [("A", &mut seen_a), ("B", &mut seen_b)] {
            assert!(
                until_seen(seen, base, Duration::from_secs(5)).await,
                "the watcher on {name} did not get version {base}"
            );
        }
    }
    watcher_a.abort();
    watcher_b.abort();

    let stored = read_back(&on_b).await;
    let mut out = std::mem::take(&mut *out.lock().unwrap());
    // The saves made after recovery are acknowledged too.
    for ((app, v), text) in &stored {
        if text.starts_with("recovered") || text.starts_with("after") {
            out.acknowledged.push((app.clone(), *v, text.clone()));
        }
    }
    eprintln!(
        "FIGURES connections cut: {cut} connections terminated over 2 s; both servers took saves again {recovered_in:?} after the cuts stopped"
    );
    check("connections cut, PostgreSQL, two servers", &out, &stored);
    let report = ok(admin("verify", Url(&pg.url), &[], &db.envs()));
    assert!(report.contains("Verified 4 apps"), "{report}");
}

/// A store's event stream whose listening connection was cut listens again *before* it says
/// that events may have been missed (sqlx's listener reconnects eagerly): a server catches up
/// when told so, and a save committed right after that catch-up must still be heard.
#[tokio::test]
async fn postgres_events_listen_again_before_the_catch_up() {
    use hush_store::{ActorKind, AuditEvent, NewApp, NewVersion, Open, Outcome, StoreEvent};
    let Some(pg) = PgDatabase::create("listen_again") else {
        return;
    };
    let server_a = hush_store::open(&pg.url, Open::CreateIfMissing)
        .await
        .unwrap();
    let server_b = hush_store::open(&pg.url, Open::Existing).await.unwrap();
    let audit = || AuditEvent {
        at: 1,
        actor_kind: ActorKind::System,
        actor_id: None,
        actor_name: None,
        action: "secrets.update".into(),
        app_id: Some(7),
        app_name: Some("web".into()),
        ip: None,
        outcome: Outcome::Ok,
        detail: serde_json::json!({ "version": 1 }),
    };
    let app = NewApp {
        id: 7,
        name: "web".into(),
        wrapped_key: vec![1; 57],
        key_id: "0123456789abcdef".into(),
        created_by: None,
        created_at: 1,
        launch: None,
    };
    server_b.create_app(app, audit()).await.unwrap();
    let mut events = server_a.events().unwrap().subscribe().await.unwrap();

    pg.terminate_connections();
    let told = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the stream says the connection was lost");
    assert!(matches!(told, Some(Err(_))), "{told:?}");

    // Server A has caught up by now; B saves (its own connections were cut too: retry).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let version = NewVersion {
            version: 1,
            author_id: None,
            created_at: 2,
            message: None,
            ciphertext: vec![2; 60],
            summary: serde_json::json!({}),
            restored_from: None,
        };
        match server_b.create_version(7, 0, version, audit()).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => eprintln!("saving again after: {e}"),
            Err(e) => panic!("B cannot save: {e}"),
        }
    }
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.next().await {
                Some(Ok(event)) => return Some(event),
                Some(Err(_)) => continue,
                None => return None,
            }
        }
    })
    .await
    .expect("a save made after the catch-up is heard");
    assert_eq!(
        heard,
        Some(StoreEvent::NewVersion {
            app_id: 7,
            version: 1
        })
    );
}
