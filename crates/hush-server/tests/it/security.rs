//! The attacks a hostile user tried (issue 11), each reproduced and shown refused. Another
//! loopback source address (127.0.0.2) stands for another client.

use crate::common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{PASSWORD, SEED, TestServer, invite_token};
use hush_client::api::ClientError;
use serde_json::Value;

const ATTACKER: &str = "127.0.0.2";

fn status_of<T>(r: &Result<T, ClientError>) -> Option<u16> {
    match r {
        Ok(_) => Some(200),
        Err(e) => e.status(),
    }
}

/// A raw HTTP client that talks from `source`.
fn http_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

fn addr(server: &TestServer) -> SocketAddr {
    server.url.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to the server from `source`.
fn connect_from(server: &TestServer, source: &str) -> TcpStream {
    connect_to(addr(server), source)
}

/// A TCP connection to `address` from `source`.
fn connect_to(address: SocketAddr, source: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&address.into()).unwrap();
    socket.into()
}

/// Server state on a SQLite database in `dir`, for tests that serve it themselves.
async fn state_in(
    dir: &tempfile::TempDir,
    limits: impl FnOnce(&mut hush_server::Limits),
) -> hush_server::AppState {
    let store = hush_store::connect(&format!("sqlite://{}", dir.path().join("h.db").display()))
        .await
        .unwrap();
    let mut config = hush_server::ServerConfig::default();
    limits(&mut config.limits);
    hush_server::AppState::new(
        store,
        hush_server::Keyring::from_keys(vec![hush_crypto::MasterKey::generate()]),
        config,
    )
    .await
    .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes); what it sent.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

// ---- 1. setup links ----

#[tokio::test]
async fn only_the_newest_setup_link_works_and_none_once_an_owner_exists() {
    let server = TestServer::start().await;
    // Two starts with no members: two links printed; the first died when the second was made.
    let first = server.state.first_run_link().await.unwrap().unwrap();
    let second = server.state.first_run_link().await.unwrap().unwrap();
    let token = |link: &str| link.split_once('#').unwrap().1.to_string();
    let anon = server.anonymous();
    let stale = anon
        .accept_invite(&token(&first), "mallory", PASSWORD)
        .await;
    assert_eq!(status_of(&stale), Some(404), "the earlier link is dead");
    anon.accept_invite(&token(&second), "olivia", PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        status_of(&anon.accept_invite(&token(&second), "trent", PASSWORD).await),
        Some(404)
    );
    assert!(server.state.first_run_link().await.unwrap().is_none());
    let members = server.login("olivia").await.members().await.unwrap();
    assert_eq!(members.len(), 1, "exactly one owner");
}

#[tokio::test]
async fn a_setup_link_printed_before_create_owner_stops_working() {
    let server = TestServer::start().await;
    let link = server.state.first_run_link().await.unwrap().unwrap();
    // `hush admin create-owner` on the same database.
    server
        .store
        .create_first_owner(
            hush_store::NewUser {
                name: "admin".into(),
                role: hush_store::Role::Owner,
                password_hash: hush_crypto::password::hash(PASSWORD),
                created_at: 0,
            },
            system_event("setup.owner_created"),
        )
        .await
        .unwrap();
    let token = link.split_once('#').unwrap().1;
    let used = server
        .anonymous()
        .accept_invite(token, "mallory", PASSWORD)
        .await;
    assert_eq!(status_of(&used), Some(404));
}

fn system_event(action: &str) -> hush_store::AuditEvent {
    hush_store::AuditEvent {
        at: 0,
        actor_kind: hush_store::ActorKind::System,
        actor_id: None,
        actor_name: None,
        action: action.into(),
        app_id: None,
        app_name: None,
        ip: None,
        outcome: hush_store::Outcome::Ok,
        detail: serde_json::json!({}),
    }
}

// ---- 2. throttling under concurrency, 3. nobody locks the owner out ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_are_not_all_evaluated() {
    let server = TestServer::start().await;
    let _owner = server.owner().await;
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let anon = server.anonymous();
            tokio::spawn(async move { anon.login("olivia", "wrong password!", "t").await })
        })
        .collect();
    let mut evaluated = 0;
    let mut refused = 0;
    for attempt in attempts {
        match status_of(&attempt.await.unwrap()) {
            Some(401) => evaluated += 1,
            Some(429) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    eprintln!("FIGURES: 40 concurrent wrong passwords: {evaluated} evaluated, {refused} refused");
    assert!(evaluated <= 5, "{evaluated} of 40 were evaluated");
    assert_eq!(evaluated + refused, 40);
    // After the free tries, one more try only after a wait that doubles.
    let next = server.anonymous().login("olivia", PASSWORD, "t").await;
    assert_eq!(status_of(&next), Some(429), "the account must wait now");
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_does_not_lock_out_a_known_browser() {
    let server = TestServer::start().await;
    let _owner = server.owner().await;
    // Olivia signs in from her browser once: it gets a device cookie.
    let http = reqwest::Client::new();
    let login = |name: &str, password: &str, cookie: Option<&str>| {
        let request = http
            .post(format!("{}/api/v1/auth/login", server.url))
            .json(&serde_json::json!({ "name": name, "password": password }));
        match cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        }
        .send()
    };
    let first = login("olivia", PASSWORD, None).await.unwrap();
    assert_eq!(first.status(), 200);
    let device = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("hush_device="))
        .expect("a device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Strict"),
        "{device}"
    );
    let device = device.split(';').next().unwrap().to_string();

    // Someone else guesses at her account, in another case, from another address.
    let attacker = http_from(ATTACKER);
    let mut refused = false;
    for _ in 0..12 {
        let status = attacker
            .post(format!("{}/api/v1/auth/login", server.url))
            .json(&serde_json::json!({ "name": "OLIVIA", "password": "guess-guess-guess" }))
            .send()
            .await
            .unwrap()
            .status();
        refused |= status == 429;
    }
    assert!(refused, "the guessing is throttled");
    // A browser that never signed in is throttled for that account…
    let fresh = login("olivia", PASSWORD, None).await.unwrap();
    assert_eq!(fresh.status(), 429);
    let body: Value = fresh.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // …but hers still signs in, with the right password.
    let hers = login("olivia", PASSWORD, Some(&device)).await.unwrap();
    assert_eq!(hers.status(), 200, "the owner is not locked out");
    // A forged device cookie is no way around the throttle.
    let forged = device.replace(|c: char| c.is_ascii_hexdigit(), "0");
    let faked = login("olivia", PASSWORD, Some(&forged)).await.unwrap();
    assert_eq!(faked.status(), 429);
}

#[tokio::test]
async fn a_restart_keeps_the_wait_and_the_counters_do_not_say_who_tried() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hush.db").display());
    let key = hush_crypto::MasterKey::generate().to_encoded();
    let keyring = || {
        hush_server::Keyring::from_keys(vec![hush_crypto::MasterKey::from_encoded(&key).unwrap()])
    };
    let server = TestServer::start_on(hush_store::connect(&url).await.unwrap(), keyring()).await;
    let _owner = server.owner().await;
    let login = |server: &TestServer, password: &'static str| {
        let anon = server.anonymous();
        async move { status_of(&anon.login("olivia", password, "t").await) }
    };
    for _ in 0..5 {
        assert_eq!(login(&server, "wrong password!").await, Some(401));
    }
    assert_eq!(login(&server, PASSWORD).await, Some(429));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(&server, "wrong password!").await, Some(401));
    // Now a 2 s wait; the server restarts within it.
    server.stop().await;
    let server = TestServer::start_on(hush_store::connect(&url).await.unwrap(), keyring()).await;
    assert_eq!(
        login(&server, PASSWORD).await,
        Some(429),
        "the restarted server remembers the wait"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(login(&server, PASSWORD).await, Some(200), "and it ends");

    // The counters are keyed by keyed hashes: neither the name nor the address, nor their
    // plain hashes. (The account started over at the sign-in; the address's count is left.)
    let keys: Vec<Vec<u8>> = {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT key_hash FROM sign_in_throttle")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(keys.len(), 1, "the address's counter");
    for plain in ["olivia", "127.0.0.1"] {
        for key in &keys {
            assert!(!key.windows(plain.len()).any(|w| w == plain.as_bytes()));
            assert_ne!(key.as_slice(), hush_crypto::token_hash(plain).as_slice());
        }
    }
}

// ---- 4. connections without credentials ----

async fn server_with_limits(configure: impl FnOnce(&mut hush_server::Limits)) -> TestServer {
    TestServer::start_with(|config| configure(&mut config.limits)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_finish_are_cut_off() {
    let server = server_with_limits(|l| l.header_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let (closed, elapsed) = tokio::task::spawn_blocking({
        let mut stream = connect_from(&server, ATTACKER);
        move || {
            stream
                .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
            (closed, started.elapsed())
        }
    })
    .await
    .unwrap();
    assert!(closed, "the connection was closed");
    assert!(
        elapsed < Duration::from_secs(5),
        "after the header timeout: {elapsed:?}"
    );
}

/// Whether the server has closed `stream`, waiting at most `wait` for it to say so.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => !matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// One whole response with a `content-length` (head and body), however it arrives.
fn read_one_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|n| n.trim().parse::<usize>().unwrap())
                })
                .expect("a content-length");
            if body.len() >= length {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return text,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_dripped_a_byte_at_a_time_is_cut_at_the_deadline() {
    let server = server_with_limits(|l| l.header_timeout = Duration::from_secs(1)).await;
    let (closed, elapsed) = tokio::task::spawn_blocking({
        let started = Instant::now();
        let mut stream = connect_from(&server, ATTACKER);
        move || {
            // Eight seconds of head, a byte every 100 ms: never idle, never finished.
            let head = format!(
                "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
                "a".repeat(60)
            );
            for byte in head.bytes() {
                if stream.write_all(&[byte]).is_err()
                    || closed_within(&mut stream, Duration::from_millis(100))
                {
                    return (true, started.elapsed());
                }
            }
            (false, started.elapsed())
        }
    })
    .await
    .unwrap();
    assert!(
        closed,
        "a head still unfinished after {elapsed:?} was not cut"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4),
        "cut after {elapsed:?}, the header timeout is 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_gets_the_header_timeout_for_each_next_request() {
    let server = server_with_limits(|l| l.header_timeout = Duration::from_secs(2)).await;
    let (answers, idle_until_closed) = tokio::task::spawn_blocking({
        let mut stream = connect_from(&server, ATTACKER);
        move || {
            let mut answers = Vec::new();
            // Three requests 1.2 s apart: 2.4 s in all, more than the timeout, but each
            // next head arrives within it.
            for pause in [0, 1200, 1200] {
                std::thread::sleep(Duration::from_millis(pause));
                stream
                    .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                answers.push(read_one_response(&mut stream));
            }
            // Then silence: closed once the timeout has passed since the last answer.
            let idle = Instant::now();
            let closed = closed_within(&mut stream, Duration::from_secs(10));
            (answers, closed.then(|| idle.elapsed()))
        }
    })
    .await
    .unwrap();
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answers:?}");
    }
    let idle = idle_until_closed.expect("an idle kept-alive connection is closed");
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(5),
        "closed after {idle:?} of silence, the header timeout is 2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_outlives_the_header_timeout() {
    let server = server_with_limits(|l| l.header_timeout = Duration::from_secs(1)).await;
    let owner = server.owner_with_app("web", SEED).await;
    let mut stream = common::watch_stream(&owner, "web", 1, Duration::from_secs(30)).await;
    // An answer in progress is not a late head, however long it streams.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    owner.save_secrets("web", "a = 2\n", 1, None).await.unwrap();
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        futures::StreamExt::next(&mut stream),
    )
    .await
    .expect("the stream delivers the new version");
    assert!(matches!(next, Some(Ok(2))), "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_halfway_gets_408_and_changes_nothing() {
    let server = server_with_limits(|l| l.body_idle_timeout = Duration::from_millis(800)).await;
    let owner = server.owner_with_app("web", SEED).await;
    let token = common::personal_token(&owner, "attack").await;
    let response = tokio::task::spawn_blocking({
        let mut stream = connect_from(&server, ATTACKER);
        move || {
            let head = format!(
                "PUT /api/v1/apps/web/secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"toml\": \"a = 1\","
            );
            stream.write_all(head.as_bytes()).unwrap();
            read_until_closed(&mut stream, Duration::from_secs(10)).0
        }
    })
    .await
    .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 408") || response.starts_with("HTTP/1.1 400"),
        "{response}"
    );
    assert!(
        response.contains("\"error\""),
        "hush's error shape: {response}"
    );
    assert_eq!(
        owner.versions("web").await.unwrap().len(),
        1,
        "nothing saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_declared_body_gets_413_at_once() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let response = tokio::task::spawn_blocking({
        let mut stream = connect_from(&server, ATTACKER);
        move || {
            stream
                .write_all(
                    b"PUT /api/v1/apps/web/secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                      Content-Length: 999999999\r\n\r\n{",
                )
                .unwrap();
            read_until_closed(&mut stream, Duration::from_secs(10)).0
        }
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("too_large"), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let server = server_with_limits(|l| {
        l.max_connections = 40;
        l.max_connections_per_address = 10;
        l.header_timeout = Duration::from_secs(30);
    })
    .await;
    // The attacker holds its share with requests that never finish.
    let held: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect_from(&server, ATTACKER);
            s.write_all(b"GET /api/v1/health HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One more from the same address: a clear 503, at once.
    let refused = tokio::task::spawn_blocking({
        let mut s = connect_from(&server, ATTACKER);
        move || read_until_closed(&mut s, Duration::from_secs(5)).0
    })
    .await
    .unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    // Everyone else is served, quickly.
    let started = Instant::now();
    let health = reqwest::get(format!("{}/api/v1/health", server.url))
        .await
        .unwrap();
    let latency = started.elapsed();
    assert_eq!(health.status(), 200);
    eprintln!(
        "FIGURES: {} stalled connections held; /health answered in {latency:?}",
        held.len()
    );
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshakes_and_idle_tls_connections_time_out() {
    let (dir, cert, tls) = common::self_signed_tls();
    let state = state_in(&dir, |limits| {
        limits.handshake_timeout = Duration::from_secs(1);
        limits.header_timeout = Duration::from_secs(1);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(hush_server::http::serve_with(
        listener,
        state,
        Some(tls),
        async {
            let _ = stopped.await;
        },
    ));
    // No handshake at all.
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(address).unwrap();
        read_until_closed(&mut s, Duration::from_secs(10)).1
    })
    .await
    .unwrap();
    assert!(
        closed && started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A finished handshake, then nothing: the header timeout applies under TLS too.
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert.cert.der().clone()).unwrap();
            roots
        })
        .with_no_client_auth(),
    ));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut tls_stream = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut tls_stream, &mut buf),
    )
    .await
    .expect("the server closes an idle TLS connection");
    assert!(matches!(read, Ok(0) | Err(_)), "closed: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_has_the_same_limits_as_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir, |limits| {
        limits.header_timeout = Duration::from_secs(1)
    })
    .await;
    let listener = hush_server::http::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(hush_server::http::serve_metrics(listener, state));
    // One address takes its share (a quarter) with heads that never finish.
    let share = hush_server::http::METRICS_CONNECTIONS / 4;
    let held: Vec<TcpStream> = (0..share)
        .map(|_| {
            let mut s = connect_to(address, ATTACKER);
            s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::task::spawn_blocking(move || {
        read_until_closed(&mut connect_to(address, ATTACKER), Duration::from_secs(5)).0
    })
    .await
    .unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // The scraper, from another address, is served.
    let scraped = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("hush_"));
    // And the held connections are cut at the header timeout.
    let cut = tokio::task::spawn_blocking(move || {
        held.into_iter()
            .map(|mut s| closed_within(&mut s, Duration::from_secs(5)))
            .filter(|&closed| closed)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(cut, share, "every unfinished head is cut");
}

// ---- 5. two owners demoting each other ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_demoting_each_other_leave_an_owner() {
    let server = TestServer::start().await;
    let olivia = server.owner().await;
    for trial in 0..10 {
        let name = format!("owner{trial}");
        let other = server.member(&olivia, &name, "owner").await;
        let members = olivia.members().await.unwrap();
        let id = |n: &str| {
            members.iter().find(|m| m["name"] == n).unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let (a, b) = (id("olivia"), id(&name));
        let (x, y) = tokio::join!(olivia.set_role(b, "viewer"), other.set_role(a, "viewer"));
        let owners = olivia
            .members()
            .await
            .or(other.members().await)
            .unwrap()
            .into_iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert!(owners >= 1, "trial {trial}: {x:?} {y:?} left no owner");
        // The second change is checked against the first: its sender is no longer an owner.
        assert!(
            x.is_ok() != y.is_ok(),
            "trial {trial}: exactly one demotion goes through: {x:?} {y:?}"
        );
        if y.is_ok() {
            other.set_role(a, "owner").await.unwrap();
        }
    }
}

// ---- 7. a watch stream opened with a personal token ----

#[tokio::test]
async fn revoking_a_personal_token_ends_its_watch_stream_at_once() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let created = owner.create_personal_token("watcher", None).await.unwrap();
    let watcher = server.anonymous().with_token(created.token.clone());
    let mut stream = common::watch_stream(&watcher, "web", 1, Duration::from_secs(5)).await;
    owner.revoke_token(created.id).await.unwrap();
    owner.save_secrets("web", "a = 2\n", 1, None).await.unwrap();
    let why = "a revoked token's stream delivered a new version";
    common::assert_stream_ends_without(&mut stream, 2, why).await;
}

// ---- 9. invitations ----

#[tokio::test]
async fn invitations_can_be_listed_revoked_and_say_who_invited() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let token = invite_token(&owner, "editor").await;
    let info = server.anonymous().link_info(&token).await.unwrap();
    assert_eq!(info["role"], "editor");
    assert_eq!(info["invited_by"], "olivia");
    assert_eq!(info["kind"], "invite");

    let pending = owner.invites().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].get("url").is_none(),
        "the link is shown once, at creation"
    );
    let id = pending[0]["id"].as_i64().unwrap();
    owner.revoke_invite(id).await.unwrap();
    let used = server
        .anonymous()
        .accept_invite(&token, "eve", PASSWORD)
        .await;
    assert_eq!(status_of(&used), Some(404), "a revoked link is dead");
    let again = owner.revoke_invite(id).await;
    assert_eq!(status_of(&again), Some(404));
    // A viewer may not list them.
    let viewer = server.member(&owner, "vera", "viewer").await;
    assert_eq!(status_of(&viewer.invites().await), Some(403));
}

// ---- 11. refusals are audited, and a flood of them stays small ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_audited_without_filling_the_log() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let viewer = server.member(&owner, "vera", "viewer").await;
    assert_eq!(
        status_of(&viewer.save_secrets("web", "a = 1\n", 1, None).await),
        Some(403)
    );
    let stranger = http_from(ATTACKER);
    for _ in 0..300 {
        let r = stranger
            .get(format!("{}/api/v1/apps/web/secrets", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    common::audit_eventually(&owner, "action=request.refused&limit=1000", |e| {
        e["ip"] == ATTACKER && common::folded_count(e) >= 1
    })
    .await;
    // Another second: what went over the budget is counted in the next recorded refusal.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let _ = stranger
        .get(format!("{}/api/v1/apps/web/secrets", server.url))
        .send()
        .await
        .unwrap();
    // Every refusal is counted: folded rows from the attacker plus what went over the budget.
    // The rows arrive in batches, a second apart; wait (bounded) for the last one.
    let count = |events: &[Value]| -> u64 {
        let folded: u64 = events
            .iter()
            .filter(|e| e["ip"] == ATTACKER)
            .map(common::folded_count)
            .sum();
        let unrecorded: u64 = events
            .iter()
            .filter_map(|e| e["detail"]["unrecorded"].as_u64())
            .sum();
        folded + unrecorded
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let events = owner
            .audit("action=request.refused&limit=1000")
            .await
            .unwrap();
        if count(&events) >= 301 || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let from_attacker: Vec<&Value> = refused.iter().filter(|e| e["ip"] == ATTACKER).collect();
    let counted = count(&refused);
    eprintln!(
        "FIGURES: 300 refused requests from one address became {} audit rows counting {counted}",
        from_attacker.len()
    );
    assert!(from_attacker.len() <= 20, "{} rows", from_attacker.len());
    assert!(counted >= 300, "every refusal is counted: {counted}");
    assert!(
        refused
            .iter()
            .any(|e| e["actor_name"] == "vera" && e["detail"]["status"] == 403),
        "a refused member is named: {refused:?}"
    );
}

// ---- 12. look-alike names ----

#[tokio::test]
async fn look_alike_member_names_are_refused() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    for name in ["OLIVIA", "\u{043e}livia", "o1ivia"] {
        let token = invite_token(&owner, "viewer").await;
        let joined = server
            .anonymous()
            .accept_invite(&token, name, PASSWORD)
            .await;
        assert_eq!(status_of(&joined), Some(409), "{name:?} was accepted");
    }
    assert_eq!(owner.members().await.unwrap().len(), 1);
}

// ---- 13. a conflict's answer is bounded ----

#[tokio::test]
async fn a_stale_save_gets_a_small_conflict() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 0\n").await;
    let mut base = 1;
    for n in 0..25 {
        let doc: String = (0..400).map(|k| format!("key_{n}_{k} = {k}\n")).collect();
        base = owner
            .save_secrets("web", &doc, base, None)
            .await
            .unwrap()
            .version;
    }
    let raw = reqwest::Client::new()
        .put(format!("{}/api/v1/apps/web/secrets", server.url))
        .bearer_auth(common::personal_token(&owner, "raw").await)
        .json(&serde_json::json!({ "toml": "a = 1\n", "base_version": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 409);
    let body = raw.text().await.unwrap();
    eprintln!(
        "FIGURES: a stale save after 25 big versions: a {}-byte 409",
        body.len()
    );
    assert!(body.len() < 32 * 1024, "{} bytes", body.len());
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["latest_version"], base);
    assert_eq!(parsed["since"][0]["changes"]["truncated"], true);
}

// ---- 14. one error shape ----

#[tokio::test]
async fn every_error_has_the_one_json_shape() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let token = common::personal_token(&owner, "raw").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/api/v1{p}", server.url);
    let cases = [
        (http.get(url("/apps/web/versions/abc")), 400),
        (http.get(url("/apps/web/versions?limit=abc")), 400),
        (http.delete(url("/health")), 405),
        (http.get(url("/no/such/thing")), 404),
        (
            http.put(url("/apps/web/secrets"))
                .header("content-type", "text/plain")
                .body("a = 1"),
            415,
        ),
        (
            http.put(url("/apps/web/secrets"))
                .header("content-type", "application/json")
                .body(vec![b' '; 3 * 1024 * 1024]),
            413,
        ),
        (http.get(url("/apps/web/diff?from=x")), 400),
    ];
    for (request, expected) in cases {
        let response = request.bearer_auth(&token).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{status}: {body}"
        );
    }
}

#[tokio::test]
async fn a_burst_of_connections_waits_in_the_accept_queue_instead_of_being_dropped() {
    // 300 connections arrive before the server accepts any (it is busy, as when a shared save
    // sends a thousand runners to read at once): all must be there to accept at once. With
    // the usual queue of 128, those beyond it are dropped by the kernel and come back only
    // after the client's retransmission, a second later.
    const BURST: usize = 300;
    let listener = hush_server::http::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..BURST)
        .map(|i| {
            let mut c = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .unwrap_or_else(|e| panic!("connection {i} was dropped by the kernel: {e}"));
            c.write_all(b"x").unwrap();
            c
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut accepted = 0;
    while accepted < BURST {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, listener.accept()).await {
            Ok(Ok(_)) => accepted += 1,
            _ => break,
        }
    }
    assert_eq!(
        accepted, BURST,
        "connections were dropped from the accept queue"
    );
    drop(clients);
}
