//! `hush_client::Secrets::from_server` against the real server: the newest version with
//! st.secrets lookups, a watcher that follows saves, and what a revoked or wrong token gets.
//! (The Python binding's direct mode is this code; crates/hush-py/tests drive it end to end.)

use crate::common;

use std::time::Duration;

use common::TestServer;
use hush_client::api::{Client, CreatedToken};
use hush_client::secrets::{Secrets, SecretsError, WatchEvent};

const WAIT: Duration = Duration::from_secs(20);

/// Waits on the watcher's channel (never a sleep), without blocking the server's threads.
fn next_event(watcher: &hush_client::SecretsWatcher) -> WatchEvent {
    tokio::task::block_in_place(|| {
        watcher
            .recv_timeout(WAIT)
            .expect("no watch event within 20 s")
    })
}

/// `apps` created (name, TOML) by the owner, and an app token for the first.
async fn with_apps(server: &TestServer, apps: &[(&str, &str)]) -> (Client, CreatedToken) {
    let owner = server.owner().await;
    for (name, toml) in apps {
        owner.create_app(name, Some(toml), None).await.unwrap();
    }
    let token = owner.create_app_token(apps[0].0, "t", None).await;
    (owner, token.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn from_server_reads_the_newest_version_and_follows_saves() {
    let server = TestServer::start().await;
    let (owner, token) =
        with_apps(&server, &[("web", "token = \"v1\"\n[db]\nhost = \"h1\"\n")]).await;

    let (url, tok) = (server.url.clone(), token.token.clone());
    let secrets = tokio::task::spawn_blocking(move || Secrets::from_server(&url, "web", &tok))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secrets["token"], "v1");
    assert_eq!(secrets.server_version(), Some(1));
    let err = secrets.root().try_get("nope").unwrap_err().to_string();
    assert!(err.contains("hush read app \"web\" from http://"), "{err}");
    assert!(!err.contains(&token.token));

    let watcher = secrets.watch();
    owner
        .save_secrets("web", "token = \"v2\"\n[db]\nhost = \"h2\"\n", 1, None)
        .await
        .unwrap();
    match next_event(&watcher) {
        WatchEvent::Reloaded(new) => {
            assert_eq!(new["token"], "v2");
            assert_eq!(new.server_version(), Some(2));
        }
        WatchEvent::Invalid(e) => panic!("expected a reload: {e}"),
    }
    assert_eq!(watcher.current()["db"]["host"], "h2");

    // Revoked while watching: reported once, the last secrets stay.
    owner.revoke_token(token.id).await.unwrap();
    match next_event(&watcher) {
        WatchEvent::Invalid(SecretsError::Server(e)) => {
            assert!(!e.to_string().contains(&token.token));
        }
        other => panic!("expected the lost server to be reported: {other:?}"),
    }
    assert_eq!(watcher.current()["token"], "v2");
    server.stop().await;
}

#[tokio::test]
async fn from_server_refuses_wrong_tokens_and_apps() {
    let server = TestServer::start().await;
    let (_, token) = with_apps(&server, &[("web", "a = 1\n"), ("other", "a = 1\n")]).await;
    let token = token.token;
    for (app, tok) in [
        ("web", "hush_app_wrong"),
        ("other", token.as_str()),
        ("missing", token.as_str()),
    ] {
        let (url, app, tok) = (server.url.clone(), app.to_owned(), tok.to_owned());
        let result = tokio::task::spawn_blocking(move || {
            Secrets::from_server(&url, &app, &tok).map(|_| tok)
        })
        .await
        .unwrap();
        match result {
            Err(SecretsError::Server(e)) => {
                assert!(matches!(e.status(), Some(401 | 403 | 404)), "{e}");
                assert!(!e.to_string().contains("hush_app_wrong"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    server.stop().await;
}
