//! Single sign-on against a real OpenID provider on loopback: `oidc-provider` from npm
//! (e2e/oidc/provider.js), driven through the real redirects (hush → provider → hush) with a
//! cookie-keeping client. New members by domain, group → role, invitation-only servers, the
//! CLI's one-time code, and each refusal (with nothing created). Skips, saying so, without node.

use hush_server::auth::sso::SsoConfig;
use hush_store::Role;
use reqwest::StatusCode;

use crate::common::{TestServer, invite_token};

#[path = "common/oidc.rs"]
mod oidc;

use oidc::{
    Browser, CLIENT_ID, CLIENT_SECRET, Provider, free_port, provider_ready, start_provider,
};

fn sso_config(issuer: &str) -> SsoConfig {
    SsoConfig {
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        display_name: "Test provider".into(),
        allowed_domains: vec!["example.com".into()],
        role_claim: Some("groups".into()),
        role_map: vec![
            ("owners".into(), Role::Owner),
            ("devs".into(), Role::Editor),
        ],
        create_users: true,
    }
}

/// A hush server with single sign-on and the provider it trusts.
async fn world(change: impl FnOnce(&mut SsoConfig)) -> (TestServer, Provider) {
    world_tampered(change, "").await
}

/// Like [`world`], with a provider that breaks its ID tokens as `tamper` says.
async fn world_tampered(
    change: impl FnOnce(&mut SsoConfig),
    tamper: &str,
) -> (TestServer, Provider) {
    let port = free_port();
    let mut sso = sso_config(&format!("http://127.0.0.1:{port}"));
    change(&mut sso);
    let server = TestServer::start_with(|c| c.sso = Some(sso)).await;
    let provider = start_provider(
        port,
        &format!("{}/api/v1/auth/sso/callback", server.url),
        tamper,
    )
    .await;
    (server, provider)
}

/// Starts a sign-in from an invitation (as the join page does) and goes to the provider.
async fn start_invited(
    browser: &mut Browser,
    server: &TestServer,
    invite: &str,
    email: &str,
) -> reqwest::Response {
    let started = browser
        .send(
            browser
                .http
                .post(start_url(server))
                .json(&serde_json::json!({ "invite": invite, "login_hint": email })),
        )
        .await;
    assert_eq!(started.status(), StatusCode::OK);
    let url = started.json::<serde_json::Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    browser.send(browser.http.get(url)).await
}

fn start_url(server: &TestServer) -> String {
    format!("{}/api/v1/auth/sso/start", server.url)
}

/// The refusal page's code and text.
async fn refusal(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let page = response.text().await.unwrap();
    let code = page
        .split("data-code=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("a refusal page, got {status}: {page}"))
        .to_string();
    (status, code, page)
}

/// Signs in as `email` through the server's start page and reads the refusal page it ends on.
async fn refused_sign_in(
    browser: &mut Browser,
    server: &TestServer,
    email: &str,
) -> (StatusCode, String, String) {
    refusal(browser.sign_in(&start_url(server), email).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_members_by_domain_get_the_role_their_groups_map_to() {
    if !provider_ready("new_members_by_domain_get_the_role_their_groups_map_to") {
        return;
    }
    let (server, _provider) = world(|_| {}).await;
    let owner = server.owner().await;
    for (email, role) in [
        ("alice@example.com", "editor"),
        ("owen@example.com", "owner"),
        ("carol@example.com", "viewer"),
    ] {
        let mut browser = Browser::new();
        let landed = browser.sign_in(&start_url(&server), email).await;
        assert_eq!(landed.url().path(), "/", "{email} lands on the panel");
        assert_eq!(landed.status(), StatusCode::OK);
        let me = browser.me(&server.url).await;
        assert_eq!(me["user"]["name"], email);
        assert_eq!(me["user"]["role"], role, "{email}");
        assert!(me["csrf_token"].as_str().is_some_and(|t| !t.is_empty()));
        // Signing in again is the same member.
        let mut again = Browser::new();
        again.sign_in(&start_url(&server), email).await;
        assert_eq!(again.me(&server.url).await["user"]["id"], me["user"]["id"]);
    }
    assert_eq!(owner.members().await.unwrap().len(), 4);

    // The account shows the linked identity; another account with alice's email is refused.
    let mut alice = Browser::new();
    alice
        .sign_in(&start_url(&server), "alice@example.com")
        .await;
    let linked = alice
        .send(alice.http.get(format!("{}/api/v1/account/sso", server.url)))
        .await;
    let linked: serde_json::Value = linked.json().await.unwrap();
    assert_eq!(
        linked["issuer"],
        server.state.config.sso.as_ref().unwrap().issuer
    );
    assert_eq!(linked["subject"], "alice@example.com");
    assert_eq!(linked["email"], "alice@example.com");
    let mut impostor = Browser::new();
    let (status, code, _) =
        refusal(impostor.sign_in(&start_url(&server), "alice.again").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "sso_identity_mismatch")
    );
    // olivia signed up with a password: no linked identity.
    let token = server
        .anonymous()
        .login("olivia", crate::common::PASSWORD, "tests")
        .await
        .unwrap()
        .token;
    let olivia: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/account/sso", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(olivia.is_null(), "{olivia}");
    let events = crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
        e["actor_name"] == "alice@example.com"
    })
    .await;
    assert!(events.iter().any(|e| e["outcome"] == "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_are_audited_and_create_nothing() {
    if !provider_ready("refusals_say_why_are_audited_and_create_nothing") {
        return;
    }
    let (server, _provider) = world(|_| {}).await;
    let owner = server.owner().await;

    // An email outside the allowed domains.
    let mut browser = Browser::new();
    let (status, code, page) = refused_sign_in(&mut browser, &server, "eve@elsewhere.test").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "sso_domain_not_allowed")
    );
    assert!(page.contains("only addresses at example.com"), "{page}");
    assert!(
        browser
            .cookie(&Browser::host(&server.url.parse().unwrap()), "hush_session")
            .is_none()
    );

    // An email the provider has not verified.
    let mut browser = Browser::new();
    let (status, code, _) = refused_sign_in(&mut browser, &server, "uma@example.com").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "sso_email_unverified")
    );

    // A replayed state: the callback works once.
    let mut browser = Browser::new();
    let callback = browser
        .until_callback(&server.url, "alice@example.com")
        .await;
    let first = browser.send(browser.http.get(&callback)).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let (status, code, _) = refusal(browser.send(browser.http.get(&callback)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "sso_unknown_state")
    );

    // An unknown state, and a state started in another browser.
    let mut browser = Browser::new();
    let forged = format!(
        "{}/api/v1/auth/sso/callback?code=x&state=made-up",
        server.url
    );
    let (_, code, _) = refusal(browser.send(browser.http.get(&forged)).await).await;
    assert_eq!(code, "sso_unknown_state");
    let mut victim = Browser::new();
    let callback = victim
        .until_callback(&server.url, "carol@example.com")
        .await;
    let mut attacker = Browser::new();
    let (_, code, _) = refusal(attacker.send(attacker.http.get(&callback)).await).await;
    assert_eq!(code, "sso_state_mismatch");
    // A code for another sign-in's verifier: the provider refuses it (PKCE).
    let mut browser = Browser::new();
    let other = browser
        .until_callback(&server.url, "carol@example.com")
        .await;
    let stolen_code = callback
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let state = other
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mixed = format!(
        "{}/api/v1/auth/sso/callback?code={stolen_code}&state={state}",
        server.url
    );
    let (_, code, _) = refusal(browser.send(browser.http.get(&mixed)).await).await;
    assert_eq!(code, "sso_code_refused");

    // Nothing was created: olivia and alice only.
    let names: Vec<String> = owner
        .members()
        .await
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("eve") || n.contains("uma") || n.contains("carol"))
    );
    let events = crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
        e["detail"]["reason"] == "sso_code_refused"
    })
    .await;
    for reason in [
        "sso_domain_not_allowed",
        "sso_email_unverified",
        "sso_unknown_state",
        "sso_state_mismatch",
        "sso_code_refused",
    ] {
        assert!(
            events
                .iter()
                .any(|e| e["detail"]["reason"] == reason && e["outcome"] == "failed"),
            "{reason} audited: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_only_servers_take_people_through_their_invitation() {
    if !provider_ready("invitation_only_servers_take_people_through_their_invitation") {
        return;
    }
    let (server, _provider) = world(|s| s.create_users = false).await;
    let owner = server.owner().await;
    let mut browser = Browser::new();
    let (status, code, page) = refused_sign_in(&mut browser, &server, "bob@example.com").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "sso_not_invited")
    );
    assert!(page.contains("invitation"), "{page}");
    assert_eq!(owner.members().await.unwrap().len(), 1);

    // Through the invitation: the member is made with its role, named by the email.
    let token = invite_token(&owner, "editor").await;
    let mut browser = Browser::new();
    let first = start_invited(&mut browser, &server, &token, "bob@example.com").await;
    let (landed, _) = browser.follow(first, |_| false).await;
    assert_eq!(landed.url().path(), "/");
    let me = browser.me(&server.url).await;
    assert_eq!(
        (me["user"]["name"].as_str(), me["user"]["role"].as_str()),
        (Some("bob@example.com"), Some("editor"))
    );
    // The invitation is used; bob signs in again without it.
    let mut again = Browser::new();
    again.sign_in(&start_url(&server), "bob@example.com").await;
    assert_eq!(again.me(&server.url).await["user"]["id"], me["user"]["id"]);
    let mut carol = Browser::new();
    let first = start_invited(&mut carol, &server, &token, "carol@example.com").await;
    let (_, code, _) = refusal(carol.follow(first, |_| false).await.0).await;
    assert_eq!(code, "sso_dead_invite");
    assert_eq!(owner.members().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_is_a_clear_refusal() {
    // No provider at all on this port: no node needed.
    let port = free_port();
    let server =
        TestServer::start_with(|c| c.sso = Some(sso_config(&format!("http://127.0.0.1:{port}"))))
            .await;
    let owner = server.owner().await;
    let mut browser = Browser::new();
    let response = browser.send(browser.http.get(start_url(&server))).await;
    let (status, code, page) = refusal(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_GATEWAY, "sso_provider_unreachable")
    );
    assert!(
        page.contains(&format!("127.0.0.1:{port} cannot be reached")),
        "{page}"
    );
    let events = crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
        e["detail"]["reason"] == "sso_provider_unreachable"
    })
    .await;
    assert!(!events.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hush_login_sso_trades_a_one_time_code_for_a_personal_token() {
    if !provider_ready("hush_login_sso_trades_a_one_time_code_for_a_personal_token") {
        return;
    }
    let (server, _provider) = world(|_| {}).await;
    let _owner = server.owner().await;
    let mut browser = Browser::new();
    let start = format!("{}?cli_port=45678&cli_state=abc123", start_url(&server));
    let first = browser
        .send(
            browser
                .http
                .get(format!("{start}&login_hint=alice@example.com")),
        )
        .await;
    let (_, to_cli) = browser
        .follow(first, |u| u.starts_with("http://127.0.0.1:45678/"))
        .await;
    let to_cli = to_cli.expect("sent to the CLI's listener");
    assert!(to_cli.contains("state=abc123"), "{to_cli}");
    let code = to_cli
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let exchange = format!("{}/api/v1/auth/sso/exchange", server.url);
    let created: serde_json::Value = http
        .post(&exchange)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let client = server.anonymous().with_token(token.clone());
    assert_eq!(
        client.me().await.unwrap()["user"]["name"],
        "alice@example.com"
    );
    // The code works once.
    let again = http
        .post(&exchange)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_can_be_turned_off() {
    let server = TestServer::start().await;
    let _owner = server.owner().await;
    assert!(server.state.config.password_login, "on by default");
    let server2 = TestServer::start_with(|c| c.password_login = false).await;
    let link = server2.state.first_run_link().await.unwrap().unwrap();
    let token = link.split_once('#').unwrap().1;
    server2
        .anonymous()
        .accept_invite(token, "olivia", crate::common::PASSWORD)
        .await
        .unwrap();
    let err = server2
        .anonymous()
        .login("olivia", crate::common::PASSWORD, "tests")
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("password_login_off"), "{err:?}");
    let info: serde_json::Value = reqwest::get(format!("{}/api/v1/auth/sso", server2.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["password_login"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_misaddressed_id_tokens_are_refused() {
    if !provider_ready("forged_expired_and_misaddressed_id_tokens_are_refused") {
        return;
    }
    for (tamper, says) in [
        ("sig", "its signature does not verify"),
        ("aud", "wrong audience"),
        ("exp", "it has expired"),
        ("iss", "another issuer"),
    ] {
        let (server, _provider) = world_tampered(|_| {}, tamper).await;
        let owner = server.owner().await;
        let mut browser = Browser::new();
        let (status, code, page) =
            refused_sign_in(&mut browser, &server, "alice@example.com").await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "sso_bad_token"),
            "{tamper}"
        );
        assert!(page.contains(says), "{tamper}: {page}");
        assert_eq!(
            owner.members().await.unwrap().len(),
            1,
            "{tamper}: nothing created"
        );
        let events = crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
            e["detail"]["reason"] == "sso_bad_token"
        })
        .await;
        assert!(!events.is_empty(), "{tamper} audited");
    }
}
