//! Two `hush serve` processes on one PostgreSQL database: a save made through one reaches a
//! runner watching the other well under a second (LISTEN/NOTIFY); sign-in tries are counted
//! once for both, and a restart keeps the wait. Also the metrics listener.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

use common::Server;
use futures::StreamExt;
use hush_client::api::Client;

const PASSWORD: &str = "a long enough password 42";

fn serve(args: &[&str], envs: &[(&str, &str)]) -> (Server, String) {
    let server = Server::start(["--listen", "127.0.0.1:0"].iter().chain(args), envs, None);
    let url = server.url.clone();
    (server, url)
}

fn new_master_key() -> String {
    let key = Command::new("python3")
        .args([
            "-c",
            "import os, base64; print(base64.b64encode(os.urandom(32)).decode())",
        ])
        .output()
        .unwrap();
    String::from_utf8(key.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn postgres_two_server_processes_share_saves_at_once() {
    let Ok(admin_url) = std::env::var("HUSH_TEST_DATABASE_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED (PostgreSQL): set HUSH_TEST_DATABASE_URL to run postgres_two_server_processes_share_saves_at_once"
        );
        return;
    };
    let db = format!("hush_cluster_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .arg(&admin_url)
            .args(["-qc", sql])
            .output()
            .unwrap();
        common::assert_success(&out);
    };
    psql(&format!("DROP DATABASE IF EXISTS {db}"));
    psql(&format!("CREATE DATABASE {db}"));
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url.as_str(), ""), |(b, q)| (b, q));
    let url = format!(
        "{}/{db}{}",
        base.rsplit_once('/').unwrap().0,
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let key = new_master_key();
    let envs = [
        ("HUSH_MASTER_KEY", key.as_str()),
        ("HUSH_DATABASE_URL", url.as_str()),
    ];

    common::create_owner(std::iter::empty::<&str>(), &envs, PASSWORD);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let (a, url_a) = serve(&["--metrics-listen", "off", "--data-dir", dir], &envs);
    let (b, url_b) = serve(&["--metrics-listen", "off", "--data-dir", dir], &envs);

    let (on_a, _) = common::sign_in_owner(&url_a, PASSWORD).await;
    on_a.create_app("web", Some("a = 1\n"), None).await.unwrap();
    let token = on_a
        .create_app_token("web", "runner", None)
        .await
        .unwrap()
        .token;
    let runner_on_b = Client::new(&url_b, Some(token)).unwrap();
    let mut watch = Box::pin(
        runner_on_b
            .watch("web", 1, Duration::from_secs(30))
            .await
            .unwrap(),
    );
    let mut delays = Vec::new();
    for v in 2..=11 {
        // From sending the save to B's event: B usually has it before A has even answered.
        let sent = Instant::now();
        on_a.save_secrets("web", &format!("a = {v}\n"), v - 1, None)
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("B hears of A's save");
        assert_eq!(seen.unwrap().unwrap(), v);
        delays.push(sent.elapsed());
        assert_eq!(
            runner_on_b.secrets("web").await.unwrap().toml,
            format!("a = {v}\n")
        );
    }
    delays.sort();
    eprintln!(
        "save sent to A -> event on B, 10 saves: min {:?}, median {:?}, max {:?}",
        delays[0], delays[5], delays[9]
    );
    assert!(
        delays[9] < Duration::from_secs(1),
        "well under a second: {delays:?}"
    );
    drop((a, b));
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let (_server, url) = serve(
        &[
            "--metrics-listen",
            &metrics,
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[],
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/api/v1/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "hush_http_requests_total",
        "hush_secret_reads_total",
        "hush_watchers",
        "hush_audit_healthy 1",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let not_on_api = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_ne!(
        not_on_api.status(),
        200,
        "metrics are not on the public listener"
    );
}

/// A panel sign-in: the status and the `Retry-After` seconds.
async fn sign_in(url: &str, name: &str, password: &str) -> (u16, Option<u64>) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry)
}

/// How many of `attempts` concurrent wrong passwords for `name` were checked (401) rather
/// than refused (429), sent round-robin to `servers`.
async fn wrong_passwords_checked(servers: &[&str], name: &str, attempts: usize) -> usize {
    let tries = (0..attempts).map(|i| {
        let url = servers[i % servers.len()].to_string();
        let name = name.to_string();
        tokio::spawn(async move { sign_in(&url, &name, "not the password").await.0 })
    });
    let mut checked = 0;
    for status in futures::future::join_all(tries).await {
        match status.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sign_in_tries_are_counted_once_across_servers_and_restarts() {
    let test = "postgres_sign_in_tries_are_counted_once_across_servers_and_restarts";
    let Some(pg) = hush_testkit::PgDatabase::create(test) else {
        return;
    };
    let key = new_master_key();
    let envs = [
        ("HUSH_MASTER_KEY", key.as_str()),
        ("HUSH_DATABASE_URL", pg.url.as_str()),
    ];
    common::create_owner(std::iter::empty::<&str>(), &envs, PASSWORD);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let args = ["--metrics-listen", "off", "--data-dir", dir];
    let (a, url_a) = serve(&args, &envs);
    let (b, url_b) = serve(&args, &envs);

    // 40 wrong passwords at once: to one server, then spread over both.
    let one = wrong_passwords_checked(&[&url_a], "nobody", 40).await;
    let both = wrong_passwords_checked(&[&url_a, &url_b], "olivia", 40).await;
    eprintln!(
        "FIGURES: 40 concurrent wrong passwords checked: {one} on one server, {both} over two"
    );
    assert_eq!(one, 5, "the free tries, no more");
    assert_eq!(both, one, "two servers give no more tries than one");
    // Now each further try waits twice as long; on either server. The first wait is 1 s
    // from the fifth failure; on a busy machine the burst's last answers can arrive after
    // it ran out, and then this try is the sixth failure, with a 2 s wait after it.
    let mut wait = match sign_in(&url_b, "olivia", "not the password").await {
        (429, Some(1)) => 1,
        (401, None) => 2,
        other => panic!("a try right after the burst: {other:?}"),
    };
    for turn in 0..3 {
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
        let url = if turn == 1 { &url_b } else { &url_a };
        assert_eq!(sign_in(url, "olivia", "not the password").await.0, 401);
        wait *= 2;
        assert_eq!(sign_in(&url_a, "olivia", PASSWORD).await, (429, Some(wait)));
    }

    // Both restart: the wait holds, the right password waits too; then it is over.
    drop((a, b));
    let (_a, url_a) = serve(&args, &envs);
    let (status, retry) = sign_in(&url_a, "olivia", PASSWORD).await;
    assert_eq!(status, 429, "a restart keeps the wait");
    let retry = retry.unwrap();
    assert!((1..=wait).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(retry * 1000 + 100)).await;
    assert_eq!(sign_in(&url_a, "olivia", PASSWORD).await.0, 200);
}
