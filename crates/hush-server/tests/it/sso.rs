//! Single sign-on against a real OpenID provider on loopback: `oidc-provider` from npm
//! (e2e/oidc/provider.js), driven through the real redirects (hush → provider → hush) with a
//! cookie-keeping client. New members by domain, group → role, invitation-only servers, the
//! CLI's one-time code, and each refusal (with nothing created). Skips, saying so, without node.

use hush_server::auth::sso::SsoConfig;
use hush_store::Role;
use reqwest::StatusCode;

use crate::common::{TestServer, invite_token};

use hush_testkit::PgDatabase;
use hush_testkit::oidc::{
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

/// The servers of one deployment: one database, one master key and one single sign-on setup
/// whose provider is to listen on `port`, as across a restart or behind a load balancer.
struct Deployment {
    url: String,
    key: hush_crypto::MasterKey,
    port: u16,
    sso: SsoConfig,
}

impl Deployment {
    fn new(url: String) -> Deployment {
        let port = free_port();
        Deployment {
            url,
            key: hush_crypto::MasterKey::generate(),
            port,
            sso: sso_config(&format!("http://127.0.0.1:{port}")),
        }
    }

    /// A server of the deployment; `public_url`, when given, is the address it is reached at
    /// (another server's, for the one callback the provider knows).
    async fn start(&self, public_url: Option<&str>) -> TestServer {
        let key = hush_crypto::MasterKey::from_encoded(&self.key.to_encoded()).unwrap();
        let store = hush_store::connect(&self.url).await.unwrap();
        TestServer::start_configured(store, hush_server::Keyring::from_keys(vec![key]), |c| {
            c.sso = Some(self.sso.clone());
            if let Some(url) = public_url {
                c.public_url = url.to_string();
            }
        })
        .await
    }
}

/// For `test`: a hush server with single sign-on (changed by `change`), its owner, and the
/// provider it trusts; `None`, the test skipping and saying so, where the provider cannot run.
async fn world(
    test: &str,
    change: impl FnOnce(&mut SsoConfig),
) -> Option<(TestServer, hush_client::api::Client, Provider)> {
    if !provider_ready(test) {
        return None;
    }
    let (server, provider) = world_tampered(change, "").await;
    let owner = server.owner().await;
    Some((server, owner, provider))
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
    let provider = provider_for(port, &server, tamper).await;
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

/// The provider on `port`, sending people back to `server`'s callback, breaking its ID tokens
/// as `tamper` says ("" for none).
async fn provider_for(port: u16, server: &TestServer, tamper: &str) -> Provider {
    start_provider(
        port,
        &format!("{}/api/v1/auth/sso/callback", server.url),
        tamper,
    )
    .await
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

/// Asserts that `response` is the refusal page with `status` and `code`; the page.
async fn assert_refusal(response: reqwest::Response, (status, code): (StatusCode, &str)) -> String {
    let (got_status, got_code, page) = refusal(response).await;
    assert_eq!((got_status, got_code.as_str()), (status, code), "{page}");
    page
}

/// Signs in as `email` in a fresh browser through the server's start page, asserts that it
/// ends on the refusal page with `status` and `code`; the browser and that page.
async fn refused_sign_in(
    server: &TestServer,
    email: &str,
    refused: (StatusCode, &str),
) -> (Browser, String) {
    let mut browser = Browser::new();
    let page = assert_refusal(browser.sign_in(&start_url(server), email).await, refused).await;
    (browser, page)
}

/// `hush login --sso` up to the CLI's loopback listener: signs in as `email` from `server`'s
/// start page with the CLI's port and state; the one-time code the listener is sent.
async fn cli_code(server: &TestServer, email: &str) -> String {
    let mut browser = Browser::new();
    let start = format!(
        "{}?cli_port=45678&cli_state=abc123&login_hint={email}",
        start_url(server)
    );
    let first = browser.send(browser.http.get(start)).await;
    let (_, to_cli) = browser
        .follow(first, |u| u.starts_with("http://127.0.0.1:45678/"))
        .await;
    let to_cli = to_cli.expect("sent to the CLI's listener");
    assert_eq!(param(&to_cli, "state"), "abc123", "{to_cli}");
    param(&to_cli, "code")
}

/// The single sign-on identity the member `name` (with the tests' password) is linked to.
async fn linked_identity(server: &TestServer, name: &str) -> serde_json::Value {
    let token = server
        .anonymous()
        .login(name, crate::common::PASSWORD, "tests")
        .await
        .unwrap()
        .token;
    crate::common::get_json(&server.url, "/account/sso", &token).await
}

/// Trades a CLI code for a personal token at `server`, as `hush login --sso` does.
async fn exchange(server: &TestServer, code: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/sso/exchange", server.url))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_members_by_domain_get_the_role_their_groups_map_to() {
    let Some((server, owner, _provider)) = world(
        "new_members_by_domain_get_the_role_their_groups_map_to",
        |_| {},
    )
    .await
    else {
        return;
    };
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
    refused_sign_in(
        &server,
        "alice.again",
        (StatusCode::FORBIDDEN, "sso_identity_mismatch"),
    )
    .await;
    // olivia signed up with a password: no linked identity.
    let olivia = linked_identity(&server, "olivia").await;
    assert!(olivia.is_null(), "{olivia}");
    let events = crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
        e["actor_name"] == "alice@example.com"
    })
    .await;
    assert!(events.iter().any(|e| e["outcome"] == "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_are_audited_and_create_nothing() {
    let Some((server, owner, _provider)) =
        world("refusals_say_why_are_audited_and_create_nothing", |_| {}).await
    else {
        return;
    };

    // An email outside the allowed domains.
    let (browser, page) = refused_sign_in(
        &server,
        "eve@elsewhere.test",
        (StatusCode::FORBIDDEN, "sso_domain_not_allowed"),
    )
    .await;
    assert!(page.contains("only addresses at example.com"), "{page}");
    assert!(
        browser
            .cookie(&Browser::host(&server.url.parse().unwrap()), "hush_session")
            .is_none()
    );

    // An email the provider has not verified.
    refused_sign_in(
        &server,
        "uma@example.com",
        (StatusCode::FORBIDDEN, "sso_email_unverified"),
    )
    .await;

    // A replayed state: the callback works once.
    let mut browser = Browser::new();
    let callback = browser
        .until_callback(&server.url, "alice@example.com")
        .await;
    let first = browser.send(browser.http.get(&callback)).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_refusal(
        browser.send(browser.http.get(&callback)).await,
        (StatusCode::BAD_REQUEST, "sso_unknown_state"),
    )
    .await;

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
    let mixed = format!(
        "{}/api/v1/auth/sso/callback?code={}&state={}",
        server.url,
        param(&callback, "code"),
        param(&other, "state")
    );
    let (_, code, _) = refusal(browser.send(browser.http.get(&mixed)).await).await;
    assert_eq!(code, "sso_code_refused");

    // Nothing was created: olivia and alice only.
    let names = crate::common::names(&owner.members().await.unwrap());
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

/// Member names are unique by a look-alike-proof key, so `rnary@example.com` finds the member
/// `mary@example.com`: a provider account with that address must not be linked to her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_alike_address_does_not_sign_in_as_the_member_it_resembles() {
    let Some((server, owner, _provider)) = world(
        "a_look_alike_address_does_not_sign_in_as_the_member_it_resembles",
        |_| {},
    )
    .await
    else {
        return;
    };
    let (_, mary_id) = server
        .member_with_id(&owner, "mary@example.com", "viewer")
        .await;
    let members = owner.members().await.unwrap().len();

    let (browser, page) = refused_sign_in(
        &server,
        "rnary@example.com",
        (StatusCode::FORBIDDEN, "sso_name_lookalike"),
    )
    .await;
    assert!(
        page.contains("looks like the name of another member"),
        "{page}"
    );
    assert!(
        !page.contains("mary@example.com"),
        "the member is not named: {page}"
    );
    assert!(
        browser
            .cookie(&Browser::host(&server.url.parse().unwrap()), "hush_session")
            .is_none()
    );
    // Mary is as she was: not linked, same role; nobody new; the refusal is audited.
    let linked = linked_identity(&server, "mary@example.com").await;
    assert!(linked.is_null(), "{linked}");
    let now = owner.members().await.unwrap();
    assert_eq!(now.len(), members);
    let row = now.iter().find(|m| m["id"] == mary_id).unwrap();
    assert_eq!(row["role"], "viewer");
    crate::common::audit_eventually(&owner, "action=auth.sso", |e| {
        e["detail"]["reason"] == "sso_name_lookalike" && e["outcome"] == "failed"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_only_servers_take_people_through_their_invitation() {
    let Some((server, owner, _provider)) = world(
        "invitation_only_servers_take_people_through_their_invitation",
        |s| s.create_users = false,
    )
    .await
    else {
        return;
    };
    let (_, page) = refused_sign_in(
        &server,
        "bob@example.com",
        (StatusCode::FORBIDDEN, "sso_not_invited"),
    )
    .await;
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
    // Anything longer than a token is no invitation: refused before a sign-in is kept for it.
    let long = reqwest::Client::new()
        .post(start_url(&server))
        .json(&serde_json::json!({ "invite": "x".repeat(201) }))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), StatusCode::BAD_REQUEST);
    assert!(long.headers().get("set-cookie").is_none());
    assert!(long.text().await.unwrap().contains("invite"));
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
    let page = assert_refusal(
        response,
        (StatusCode::BAD_GATEWAY, "sso_provider_unreachable"),
    )
    .await;
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
    let Some((server, _owner, _provider)) = world(
        "hush_login_sso_trades_a_one_time_code_for_a_personal_token",
        |_| {},
    )
    .await
    else {
        return;
    };
    let code = cli_code(&server, "alice@example.com").await;
    let created: serde_json::Value = exchange(&server, &code).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let client = server.anonymous().with_token(token.clone());
    assert_eq!(
        client.me().await.unwrap()["user"]["name"],
        "alice@example.com"
    );
    // The code works once.
    assert_eq!(
        exchange(&server, &code).await.status(),
        StatusCode::UNAUTHORIZED
    );
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
        let (_, page) = refused_sign_in(
            &server,
            "alice@example.com",
            (StatusCode::BAD_REQUEST, "sso_bad_token"),
        )
        .await;
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

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{name} in {url}"))
        .1
        .into_owned()
}

/// Whether `bytes` hold the PKCE verifier of `challenge` (S256): a run of 43 to 128 URL-safe
/// characters whose SHA-256 is the challenge.
fn holds_verifier(bytes: &[u8], challenge: &str) -> bool {
    use base64::Engine;
    let url_safe = |b: &u8| b.is_ascii_alphanumeric() || b"-._~".contains(b);
    (43..=128).any(|len| {
        bytes.windows(len).any(|w| {
            w.iter().all(url_safe)
                && base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(hush_crypto::token_hash(std::str::from_utf8(w).unwrap()))
                    == challenge
        })
    })
}

/// Moves a callback meant for one server to another (as a load balancer may), with the
/// browser's state cookie.
fn callback_on(
    browser: &Browser,
    callback: &str,
    from: &TestServer,
    to: &TestServer,
) -> reqwest::RequestBuilder {
    let cookie = browser
        .cookie(&Browser::host(&from.url.parse().unwrap()), "hush_sso_state")
        .expect("the state cookie");
    browser
        .http
        .get(callback.replace(&from.url, &to.url))
        .header("cookie", format!("hush_sso_state={cookie}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_under_way_are_sealed_in_the_database_and_survive_a_restart() {
    if !provider_ready("sign_ins_under_way_are_sealed_in_the_database_and_survive_a_restart") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hush.db");
    let url = format!("sqlite://{}", db.display());
    let deployment = Deployment::new(url.clone());
    let first = deployment.start(None).await;
    let _provider = provider_for(deployment.port, &first, "").await;
    let mut browser = Browser::new();
    let started = browser
        .send(browser.http.get(format!(
            "{}?login_hint=alice@example.com",
            start_url(&first)
        )))
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let to_provider = started.headers()["location"].to_str().unwrap().to_string();
    let (state, nonce, challenge) = (
        param(&to_provider, "state"),
        param(&to_provider, "nonce"),
        param(&to_provider, "code_challenge"),
    );

    // What reaches the disk: the state's hash (the control: the search sees the row), never
    // the state, the nonce or the PKCE verifier.
    let mut files = Vec::new();
    for name in ["hush.db", "hush.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            files.push((name, bytes));
        }
    }
    let state_hash = hush_crypto::token_hash(&state);
    assert!(
        files
            .iter()
            .any(|(_, b)| b.windows(32).any(|w| w == state_hash)),
        "the sign-in under way is in the database"
    );
    for (name, bytes) in &files {
        for (what, plain) in [("state", &state), ("nonce", &nonce)] {
            assert!(
                !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
                "{name} holds the {what}"
            );
        }
        assert!(
            !holds_verifier(bytes, &challenge),
            "{name} holds the verifier"
        );
    }
    // Control: the verifier search finds a verifier where there is one.
    let verifier = "x".repeat(50);
    let control = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hush_crypto::token_hash(&verifier))
    };
    assert!(holds_verifier(
        format!("{{\"verifier\":\"{verifier}\"}}").as_bytes(),
        &control
    ));

    // The server restarts while the person is at the provider; the new one finishes it.
    let at_provider = browser.send(browser.http.get(&to_provider)).await;
    let (_, callback) = browser
        .follow(at_provider, |u| u.contains("/api/v1/auth/sso/callback"))
        .await;
    let callback = callback.expect("the provider sends the browser back");
    let old_url = first.url.clone();
    first.stop().await;
    let restarted = deployment.start(Some(&old_url)).await;
    let host = |s: &str| Browser::host(&s.parse().unwrap());
    let cookie = browser.cookie(&host(&old_url), "hush_sso_state").unwrap();
    let finished = browser
        .send(
            browser
                .http
                .get(callback.replace(&old_url, &restarted.url))
                .header("cookie", format!("hush_sso_state={cookie}")),
        )
        .await;
    assert_eq!(
        finished.status(),
        StatusCode::SEE_OTHER,
        "signed in after the restart"
    );
    assert!(
        browser
            .cookie(&host(&restarted.url), "hush_session")
            .is_some()
    );
    // Taken: not in the database any more.
    let pending: i64 = {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM sso_pending")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_sign_in_started_on_one_server_finishes_on_another_once() {
    let test = "postgres_a_sign_in_started_on_one_server_finishes_on_another_once";
    if !provider_ready(test) {
        return;
    }
    let Some(pg) = PgDatabase::create(test) else {
        return;
    };
    let deployment = Deployment::new(pg.url.clone());
    let a = deployment.start(None).await;
    // Behind one address, as behind a load balancer: the provider knows one callback.
    let b = deployment.start(Some(&a.url)).await;
    let _provider = provider_for(deployment.port, &a, "").await;

    // Started on A, finished on B; replayed on A: refused.
    let mut browser = Browser::new();
    let callback = browser.until_callback(&a.url, "alice@example.com").await;
    let on_b = browser.send(callback_on(&browser, &callback, &a, &b)).await;
    assert_eq!(
        on_b.status(),
        StatusCode::SEE_OTHER,
        "B finishes A's sign-in"
    );
    assert_eq!(on_b.headers()["location"], "/");
    assert!(
        browser
            .cookie(&Browser::host(&b.url.parse().unwrap()), "hush_session")
            .is_some()
    );
    assert_eq!(
        browser.me(&b.url).await["user"]["name"],
        "alice@example.com"
    );
    // A replay on A is refused.
    assert_refusal(
        browser.send(browser.http.get(&callback)).await,
        (StatusCode::BAD_REQUEST, "sso_unknown_state"),
    )
    .await;

    // The same callback on both at once: one sign-in.
    let mut browser = Browser::new();
    let callback = browser.until_callback(&a.url, "bob@example.com").await;
    let (on_a, on_b) = tokio::join!(
        callback_on(&browser, &callback, &a, &a).send(),
        callback_on(&browser, &callback, &a, &b).send()
    );
    let mut statuses = [on_a.unwrap().status(), on_b.unwrap().status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::SEE_OTHER, StatusCode::BAD_REQUEST],
        "exactly one server takes it"
    );

    // `hush login --sso`: the one-time code made on A is traded on B, once.
    let code = cli_code(&a, "carol@example.com").await;
    assert_eq!(exchange(&b, &code).await.status(), StatusCode::CREATED);
    assert_eq!(exchange(&a, &code).await.status(), StatusCode::UNAUTHORIZED);
    a.stop().await;
    b.stop().await;
}
