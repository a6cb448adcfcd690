//! `hush login --sso` end to end: the built binary against a real `hush serve` with single
//! sign-on and a real OpenID provider on loopback (oidc-provider from npm). The printed address
//! is driven like a browser would (redirects followed, cookies kept); the provider sends the
//! browser back to hush, hush to the CLI's loopback listener with a one-time code, and the CLI
//! saves a personal token — replacing the one it saved last time. Skips without node.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use hush_client::api::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

use common::{HUSH, Server};
use hush_testkit::oidc::{
    Browser, CLIENT_ID, CLIENT_SECRET, free_port, provider_ready, start_provider,
};

const PASSWORD: &str = "correct horse battery staple";

/// Runs `hush login --sso --no-browser`, signs in as `email` through the address it prints,
/// and returns the token it saved.
async fn login_through_browser(home: &std::path::Path, server: &str, email: &str) -> String {
    let mut child = Command::new(HUSH)
        .args(["login", "--sso", "--no-browser", "--server", server])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "hush login printed no address"
        );
        if let Some(url) = line.trim().strip_prefix("http://") {
            break format!("http://{url}");
        }
    };
    assert!(url.contains("/api/v1/auth/sso/start?cli_port="), "{url}");
    // Another local process connects to the login's listener first and sends nothing: the
    // browser's return is answered all the same.
    let port: u16 = url
        .split("cli_port=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap()
        .parse()
        .unwrap();
    let _stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut browser = Browser::new();
    let first = browser
        .send(browser.http.get(format!("{url}&login_hint={email}")))
        .await;
    let (_, to_cli) = browser
        .follow(first, |u| {
            u.contains("/callback?code=") && !u.contains("/api/v1/")
        })
        .await;
    let to_cli = to_cli.expect("hush sends the browser to the CLI");
    assert!(!to_cli.starts_with(server), "{to_cli}");
    // The return's request line arrives in two pieces, as a slow network may deliver it.
    let path = to_cli.split_once("127.0.0.1").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n");
    let (head, tail) = request.split_at(path.len() / 2);
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    conn.write_all(tail.as_bytes()).await.unwrap();
    let mut answered = String::new();
    conn.read_to_string(&mut answered).await.unwrap();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(answered.contains("you can close this tab"), "{answered}");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "hush login --sso failed: {stdout}");
    assert!(stdout.contains(&format!("as {email}")), "{stdout}");
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join(".config/hush/login.json")).unwrap(),
    )
    .unwrap();
    saved["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hush_login_sso_signs_in_through_the_browser_and_replaces_its_token() {
    if !provider_ready("hush_login_sso_signs_in_through_the_browser_and_replaces_its_token") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    common::create_owner([OsStr::new("--data-dir"), data.as_os_str()], &[], PASSWORD);
    let provider_port = free_port();
    let hush_port = free_port();
    let hush_url = format!("http://127.0.0.1:{hush_port}");
    let _provider = start_provider(
        provider_port,
        &format!("{hush_url}/api/v1/auth/sso/callback"),
        "",
    )
    .await;
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let listen = format!("127.0.0.1:{hush_port}");
    let server = Server::start(
        [
            "--listen",
            &listen,
            "--metrics-listen",
            "off",
            "--data-dir",
            data.to_str().unwrap(),
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-allowed-domains",
            "example.com",
            "--oidc-role-claim",
            "groups",
            "--oidc-role",
            "devs=editor",
            "--oidc-create-users",
            "true",
            "--password-login",
            "off",
        ],
        &[("HUSH_OIDC_CLIENT_SECRET", CLIENT_SECRET)],
        None,
    );
    assert_eq!(server.url, hush_url);

    let first = login_through_browser(&home, &server.url, "alice@example.com").await;
    let alice = Client::new(&server.url, Some(first.clone())).unwrap();
    let me = alice.me().await.unwrap();
    assert_eq!(me["user"]["name"], "alice@example.com");
    assert_eq!(me["user"]["role"], "editor");

    // Signing in again replaces the saved token: the first stops working.
    let second = login_through_browser(&home, &server.url, "alice@example.com").await;
    assert_ne!(first, second);
    assert!(alice.me().await.is_err(), "the replaced token is revoked");
    let alice = Client::new(&server.url, Some(second)).unwrap();
    assert_eq!(
        alice.me().await.unwrap()["user"]["name"],
        "alice@example.com"
    );
    let tokens = alice.tokens(None).await.unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");

    // Names and passwords are off here: `hush login` says so before asking for anything.
    let out = Command::new(HUSH)
        .args(["login", "--server", &server.url, "--name", "olivia"])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("HUSH_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("single sign-on only; run hush login --sso"),
        "{said}"
    );
}

/// Without a browser return to wait for, `hush login --sso` says why at once: a server with
/// no single sign-on, or no server at all.
#[test]
fn hush_login_sso_says_at_once_when_there_is_nothing_to_sign_in_with() {
    let (dir, server) = common::served_workspace(&["home", "work"], PASSWORD);
    let login = |url: &str| {
        let mut child = common::isolated_hush(dir.path(), url, "")
            .env_remove("HUSH_TOKEN")
            .args(["login", "--sso", "--no-browser", "--server", url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("hush login --sso against {url} is still waiting after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = login(&server.url);
    assert!(said.contains("has no single sign-on set up"), "{said}");
    assert!(said.contains("hush login"), "{said}");
    assert!(
        !said.contains("/auth/sso/start"),
        "no address to open: {said}"
    );
    let away = format!("http://127.0.0.1:{}", free_port());
    let said = login(&away);
    assert!(
        said.contains(&format!("cannot sign in to {away}")),
        "{said}"
    );
    assert!(said.contains("refused the connection"), "{said}");
}
