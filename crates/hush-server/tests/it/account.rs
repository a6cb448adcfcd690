//! The account: changing the password (re-authenticating; other sessions end), signing out
//! everywhere with or without personal tokens, lists that show only working tokens, and
//! `hush login` replacing the token it made last time. Driven through hush's own client.

use crate::common;

use common::{PASSWORD, TestServer, panel_session};
use hush_store::{NewToken, TokenKind, now_millis};
use serde_json::{Value, json};

fn status<T>(r: &Result<T, hush_client::api::ClientError>) -> Option<u16> {
    r.as_ref().err().and_then(|e| e.status())
}

async fn me_with_cookie(server: &TestServer, cookie: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const NEW_PASSWORD: &str = "a much newer passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let (_, other_device, _) = panel_session(&server, "olivia", PASSWORD).await;
    assert_eq!(me_with_cookie(&server, &other_device).await, 200);

    // A wrong current password: refused, nothing changes.
    let wrong = owner.change_password("not my password", NEW_PASSWORD).await;
    assert_eq!(status(&wrong), Some(401), "{wrong:?}");
    assert_eq!(me_with_cookie(&server, &other_device).await, 200);
    // The rules for new passwords hold; the answer says which field.
    let short = owner.change_password(PASSWORD, "short").await;
    assert_eq!(status(&short), Some(400));
    assert!(short.unwrap_err().to_string().contains("new_password"));
    let same = owner.change_password(PASSWORD, PASSWORD).await;
    assert_eq!(status(&same), Some(400));
    assert_eq!(panel_session(&server, "olivia", PASSWORD).await.0, 200);

    owner.change_password(PASSWORD, NEW_PASSWORD).await.unwrap();
    assert_eq!(
        me_with_cookie(&server, &other_device).await,
        401,
        "the other device's session ended"
    );
    assert_eq!(panel_session(&server, "olivia", PASSWORD).await.0, 401);
    assert_eq!(panel_session(&server, "olivia", NEW_PASSWORD).await.0, 200);
    // The personal token that made the change keeps working.
    owner.me().await.unwrap();
    let events = owner.audit("action=account.password").await.unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_session_changing_its_password_gets_a_fresh_session() {
    let server = TestServer::start().await;
    server.owner().await;
    let (_, cookie, csrf) = panel_session(&server, "olivia", PASSWORD).await;
    let http = reqwest::Client::new();
    let change = |csrf: &str| {
        http.post(format!("{}/api/v1/account/password", server.url))
            .header("cookie", &cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
            .send()
    };
    // Without the CSRF token: refused, and the password is unchanged.
    assert_eq!(change("").await.unwrap().status(), 403);
    assert_eq!(panel_session(&server, "olivia", PASSWORD).await.0, 200);
    let response = change(&csrf).await.unwrap();
    assert_eq!(response.status(), 200);
    let fresh = common::session_cookie(&response).expect("a new session cookie");
    assert_ne!(fresh, cookie);
    assert_eq!(me_with_cookie(&server, &cookie).await, 401);
    assert_eq!(me_with_cookie(&server, &fresh).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_can_revoke_personal_tokens_too() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let app_token = owner.create_app_token("web", "prod", None).await.unwrap();
    let second = owner.create_personal_token("ci", None).await.unwrap();
    let ci = server.anonymous().with_token(second.token.clone());
    let (_, cookie, _) = panel_session(&server, "olivia", PASSWORD).await;

    // Without the choice: sessions end, tokens keep working.
    owner.logout_all(false).await.unwrap();
    assert_eq!(me_with_cookie(&server, &cookie).await, 401);
    ci.me().await.unwrap();

    // With it: every personal token is revoked, and leaves the list.
    let (_, cookie, _) = panel_session(&server, "olivia", PASSWORD).await;
    ci.logout_all(true).await.unwrap();
    assert_eq!(me_with_cookie(&server, &cookie).await, 401);
    assert_eq!(status(&ci.me().await), Some(401));
    assert_eq!(status(&owner.me().await), Some(401));
    // App tokens are the app's, not the person's: they keep working.
    let app = server.anonymous().with_token(app_token.token);
    assert_eq!(app.secrets("web").await.unwrap().version, 1);
    let fresh = server.login("olivia").await;
    let mine = fresh.tokens(None).await.unwrap();
    assert_eq!(
        mine.len(),
        1,
        "only the new sign-in's token is listed: {mine:?}"
    );
    let events = fresh.audit("action=auth.logout_all").await.unwrap();
    assert_eq!(events[0]["detail"]["tokens_revoked"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_tokens_leave_the_lists() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let kept = owner.create_app_token("web", "kept", None).await.unwrap();
    let gone = owner.create_app_token("web", "gone", None).await.unwrap();
    owner.revoke_token(gone.id).await.unwrap();
    let me = owner.me().await.unwrap()["user"]["id"].as_i64().unwrap();
    for (kind, app_id) in [
        (TokenKind::App, Some(web_id(&server).await)),
        (TokenKind::Personal, None),
    ] {
        server
            .store
            .create_token(
                NewToken {
                    kind,
                    name: "expired".into(),
                    token_hash: hush_crypto::token_hash(&format!("expired-{kind:?}")).to_vec(),
                    prefix: "hush_expired".into(),
                    user_id: Some(me),
                    app_id,
                    created_at: now_millis() - 10_000,
                    expires_at: Some(now_millis() - 1),
                },
                hush_server::api::audit_event(
                    &hush_server::auth::Principal::App {
                        token_id: 0,
                        token_name: "test".into(),
                        app_id: 0,
                        ip: None,
                    },
                    "token.create",
                    None,
                    json!({}),
                ),
            )
            .await
            .unwrap();
    }
    let names = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(owner.tokens(Some("web")).await.unwrap()), ["kept"]);
    assert_eq!(names(owner.tokens(None).await.unwrap()), ["tests"]);
    assert!(kept.id > 0);
}

async fn web_id(server: &TestServer) -> i64 {
    server.store.find_app("web").await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_again_replaces_the_token_of_the_last_sign_in() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let editor = server.member(&owner, "edith", "editor").await;
    let anon = server.anonymous();
    let first = anon.login("olivia", PASSWORD, "laptop").await.unwrap();
    let second = anon
        .login_replacing("olivia", PASSWORD, "laptop", Some(&first.token))
        .await
        .unwrap();
    assert_eq!(
        status(&anon.with_token(first.token.clone()).me().await),
        Some(401),
        "the replaced token is revoked"
    );
    anon.with_token(second.token.clone()).me().await.unwrap();
    let laptops = owner
        .tokens(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t["name"] == "laptop")
        .count();
    assert_eq!(laptops, 1, "sign-ins do not pile up tokens");

    // Someone else's token is not revoked by naming it in one's own sign-in.
    let edith_token = editor
        .create_personal_token("edith-ci", None)
        .await
        .unwrap();
    anon.login_replacing("olivia", PASSWORD, "laptop", Some(&edith_token.token))
        .await
        .unwrap();
    anon.with_token(edith_token.token).me().await.unwrap();
    // A wrong password replaces nothing.
    let refused = anon
        .login_replacing("olivia", "wrong password!", "laptop", Some(&second.token))
        .await;
    assert_eq!(status(&refused), Some(401));
    anon.with_token(second.token).me().await.unwrap();
}
