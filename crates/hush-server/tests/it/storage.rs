//! What reaches the disk, and two servers on one PostgreSQL database. (Key rotation while
//! serving is tested end to end with `hush admin rotate-master-key`, in crates/hush/tests.)

use crate::common;

use std::time::{Duration, Instant};

use common::{SEED, TestServer};
use futures::StreamExt;
use hush_crypto::MasterKey;
use hush_server::Keyring;
use hush_testkit::PgDatabase;

const VALUES: [&str; 4] = [
    "12345qwerty",
    "pw-e7d1c0ffee-unique",
    "sk_live_4f8a9b2c3d",
    "only-in-version-two",
];

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_secret_value_reaches_the_database_its_wal_or_a_backup() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let doc = format!(
        "{SEED}api_key = \"{}\"\n[db]\npassword = \"{}\"\n",
        VALUES[2], VALUES[1]
    );
    owner
        .create_app("vault-test", Some(&doc), None)
        .await
        .unwrap();
    owner
        .save_secrets(
            "vault-test",
            &format!("{doc}extra = \"{}\"\n", VALUES[3]),
            1,
            Some("more"),
        )
        .await
        .unwrap();
    let token = owner
        .create_app_token("vault-test", "reader", None)
        .await
        .unwrap();
    let app = server.anonymous().with_token(token.token.clone());
    assert!(
        app.secrets("vault-test")
            .await
            .unwrap()
            .toml
            .contains(VALUES[3])
    );
    owner.rollback("vault-test", 1, 2).await.unwrap();
    owner.audit("").await.unwrap(); // the audit writer has flushed what came before

    let dir = server.dir.as_ref().unwrap().path();
    let backup = dir.join("backup.db");
    hush_store::sqlite::backup(server.store.as_ref(), &backup)
        .await
        .unwrap();
    let files = ["hush.db", "hush.db-wal", "backup.db"];
    let mut names_found = Vec::new();
    for name in files {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        for value in VALUES
            .iter()
            .chain([&token.token.as_str(), &common::PASSWORD])
        {
            assert!(
                !contains(&bytes, value),
                "{name} holds the plaintext {value:?}"
            );
        }
        if contains(&bytes, "vault-test") {
            names_found.push(name);
        }
    }
    // Control: the same search finds what is not secret (the app's name), in the backup and
    // in the live database (its file or its WAL).
    assert!(names_found.contains(&"backup.db"), "{names_found:?}");
    assert!(
        names_found.iter().any(|n| n.starts_with("hush.db")),
        "{names_found:?}"
    );
}

#[tokio::test]
async fn postgres_a_save_on_one_server_reaches_watchers_on_another() {
    let Some(pg) = PgDatabase::create("postgres_a_save_on_one_server_reaches_watchers_on_another")
    else {
        return;
    };
    let url = pg.url.clone();
    let key = MasterKey::generate().to_encoded();
    let keyring = || Keyring::from_keys(vec![MasterKey::from_encoded(&key).unwrap()]);
    let a = TestServer::start_on(hush_store::connect(&url).await.unwrap(), keyring()).await;
    let b = TestServer::start_on(hush_store::connect(&url).await.unwrap(), keyring()).await;
    let on_a = a.owner().await;
    on_a.create_app("web", Some("a = 1\n"), None).await.unwrap();
    let token = on_a.create_app_token("web", "runner", None).await.unwrap();
    let runner_on_b = b.anonymous().with_token(token.token.clone());
    assert_eq!(runner_on_b.secrets("web").await.unwrap().version, 1);

    let mut watch = common::watch_stream(&runner_on_b, "web", 1, Duration::from_secs(5)).await;
    let mut delays = Vec::new();
    for v in 2..=6 {
        let saved = on_a
            .save_secrets("web", &format!("a = {v}\n"), v - 1, None)
            .await
            .unwrap();
        let t0 = Instant::now();
        let seen = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("B hears of A's save");
        assert_eq!(seen.unwrap().unwrap(), saved.version);
        delays.push(t0.elapsed());
        // B serves the new text, not a stale cache.
        assert_eq!(
            runner_on_b.secrets("web").await.unwrap().toml,
            format!("a = {v}\n")
        );
    }
    eprintln!("save on A -> event on B: {delays:?}");
    assert!(
        delays.iter().all(|d| *d < Duration::from_secs(1)),
        "well under a second: {delays:?}"
    );

    // A revocation on A is honoured by B at once, although B had the token cached.
    on_a.revoke_token(token.id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match runner_on_b.secrets("web").await {
            Err(e) if e.status() == Some(401) => break,
            _ if Instant::now() > deadline => panic!("B still accepts a token revoked on A"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    // B's listening connection dies: it reconnects, and later saves still reach B's watchers.
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !killed.is_empty(),
        "the servers' listening connections were found"
    );
    let fresh = b.anonymous().with_token(
        on_a.create_app_token("web", "r2", None)
            .await
            .unwrap()
            .token,
    );
    let mut watch = Box::pin(fresh.watch("web", 6, Duration::from_secs(5)).await.unwrap());
    on_a.save_secrets("web", "a = 7\n", 6, None).await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("B hears of saves after reconnecting");
    assert_eq!(seen.unwrap().unwrap(), 7);
    assert_eq!(fresh.secrets("web").await.unwrap().toml, "a = 7\n");

    // A conflicting save through B is refused: the version check is in the database.
    let stale = b
        .login("olivia")
        .await
        .save_secrets("web", "x = 1\n", 3, None)
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(409));

    // A panel session signed out on A: its watch stream on B ends.
    let (_, cookie, csrf) = common::panel_session(&a, "olivia", common::PASSWORD).await;
    let opened = common::panel_watch(&b.url, "web", &cookie).await;
    assert_eq!(opened.status(), 200);
    let mut on_b = opened.bytes_stream();
    let out = common::panel_post(&a.url, "/auth/logout", &cookie, &csrf).await;
    assert_eq!(out.status(), 204);
    tokio::time::timeout(Duration::from_secs(5), async {
        while on_b.next().await.is_some() {}
    })
    .await
    .expect("B ends the stream of a session signed out on A");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn serves_https_with_secure_cookies() {
    let (dir, cert, tls) = common::self_signed_tls();

    let store = hush_store::connect(&format!(
        "sqlite://{}",
        dir.path().join("hush.db").display()
    ))
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = hush_server::ServerConfig {
        public_url: format!("https://localhost:{port}"),
        secure_cookies: true,
        hsts: true,
        ..Default::default()
    };
    let state = hush_server::AppState::new(
        store,
        Keyring::from_keys(vec![MasterKey::generate()]),
        config,
    )
    .await
    .unwrap();
    let link = state.first_run_link().await.unwrap().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hush_server::http::serve_with(
        listener,
        state,
        Some(tls),
        async move {
            let _ = stopped.await;
        },
    ));

    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}/api/v1");
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_11, "HTTP/1.1 only");
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000",
        "HSTS under TLS"
    );
    let accepted = http
        .post(format!("{base}/auth/accept"))
        .json(&serde_json::json!({ "token": link.split_once('#').unwrap().1, "name": "olivia", "password": common::PASSWORD }))
        .send()
        .await
        .unwrap();
    for cookie in accepted.headers().get_all("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn when_the_audit_log_cannot_be_written_secrets_are_refused_until_it_recovers() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let app = server.anonymous().with_token(token.token);
    app.secrets("web").await.unwrap();

    // A real database failure: a trigger makes every audit insert fail.
    let mut conn = server.break_audit_log().await;
    // The next read is queued; its write fails and from then on reads and saves are refused.
    let _ = app.secrets("web").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match app.secrets("web").await {
            Err(e) if e.status() == Some(503) => break e,
            _ if Instant::now() > deadline => {
                panic!("reads still served while the audit log is down")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(refused.to_string().contains("audit log"), "{refused}");
    assert_eq!(
        owner
            .save_secrets("web", "a = 1\n", 1, None)
            .await
            .unwrap_err()
            .status(),
        Some(503)
    );
    let ready = reqwest::get(format!("{}/api/v1/ready", server.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "not ready while the audit log is down");

    // Repaired: the writer's retry succeeds, nothing queued was dropped, and service resumes.
    sqlx::query("DROP TRIGGER audit_down")
        .execute(&mut conn)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.secrets("web").await.is_err() {
        assert!(Instant::now() < deadline, "service did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reads = common::audit_eventually(&owner, "action=secrets.read", |_| false).await;
    let count: u64 = reads.iter().map(common::folded_count).sum();
    assert!(
        count >= 2,
        "the read queued while the log was down was written after: {count}"
    );
}

/// What a server does when its event stream says events were missed: it re-reads what it had
/// cached and tells its watchers the newest versions.
#[tokio::test]
async fn catching_up_after_missed_events_refreshes_caches_and_watchers() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let token = owner
        .create_app_token("web", "runner", None)
        .await
        .unwrap()
        .token;
    let app = server.anonymous().with_token(token);
    assert_eq!(app.secrets("web").await.unwrap().version, 1);
    let mut watch = Box::pin(app.watch("web", 1, Duration::from_secs(5)).await.unwrap());

    // Another server (a second handle on the same database) saves; this one hears nothing.
    let dir = server.dir.as_ref().unwrap().path();
    let other_store = hush_store::connect(&format!("sqlite://{}", dir.join("hush.db").display()))
        .await
        .unwrap();
    let other =
        TestServer::start_on(other_store, Keyring::from_keys(vec![MasterKey::generate()])).await;
    let app_row = server.store.find_app("web").await.unwrap();
    let sealed = server.state.vault.seal(&app_row, 2, "a = 2\n").unwrap();
    other
        .store
        .create_version(
            app_row.id,
            1,
            hush_store::NewVersion {
                version: 2,
                author_id: None,
                created_at: 0,
                message: None,
                ciphertext: sealed,
                summary: serde_json::json!({}),
                restored_from: None,
            },
            hush_store::AuditEvent {
                at: 0,
                actor_kind: hush_store::ActorKind::System,
                actor_id: None,
                actor_name: None,
                action: "secrets.update".into(),
                app_id: Some(app_row.id),
                app_name: Some("web".into()),
                ip: None,
                outcome: hush_store::Outcome::Ok,
                detail: serde_json::json!({ "version": 2 }),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        app.secrets("web").await.unwrap().version,
        1,
        "the cache has not heard"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), watch.next())
            .await
            .is_err()
    );

    server.state.catch_up().await;
    let seen = tokio::time::timeout(Duration::from_secs(2), watch.next())
        .await
        .expect("the watcher hears of it");
    assert_eq!(seen.unwrap().unwrap(), 2);
    assert_eq!(app.secrets("web").await.unwrap().toml, "a = 2\n");
}
