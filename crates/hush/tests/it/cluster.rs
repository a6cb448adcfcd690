//! Two `hush serve` processes on one PostgreSQL database: a save made through one reaches a
//! runner watching the other well under a second (LISTEN/NOTIFY). Also the metrics listener.

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
    let key = Command::new("python3")
        .args([
            "-c",
            "import os, base64; print(base64.b64encode(os.urandom(32)).decode())",
        ])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let envs = [
        ("HUSH_MASTER_KEY", key.as_str()),
        ("HUSH_DATABASE_URL", url.as_str()),
    ];

    common::create_owner(std::iter::empty::<&str>(), &envs, PASSWORD);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let (a, url_a) = serve(&["--metrics-listen", "off", "--data-dir", dir], &envs);
    let (b, url_b) = serve(&["--metrics-listen", "off", "--data-dir", dir], &envs);

    let pat = Client::new(&url_a, None)
        .unwrap()
        .login("olivia", PASSWORD, "t")
        .await
        .unwrap()
        .token;
    let on_a = Client::new(&url_a, Some(pat)).unwrap();
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
