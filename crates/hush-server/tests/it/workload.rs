//! Workload identity against a real issuer on loopback (keys made with rcgen, tokens signed
//! with jsonwebtoken, the key set served by axum): a good token becomes a short-lived app
//! token that reads the app; every refusal says why, is audited and creates nothing; keys
//! rotate; trusts are for owners and must hold a condition.

use crate::common;

use std::sync::atomic::Ordering;

use common::{SEED, TestServer, api_err};
use hush_client::api::Client;
use hush_testkit::issuer::{TestIssuer, forged};
use serde_json::{Value, json};

/// A server with the app `web`, trusting `issuer` for acme/web on main.
async fn world(issuer: &TestIssuer, discovery: bool) -> (TestServer, Client) {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    owner.create_app("api", Some(SEED), None).await.unwrap();
    let mut trust = json!({
        "issuer": issuer.url,
        "audience": "hush-test",
        "conditions": { "repository": "acme/*", "ref": "refs/heads/main" },
    });
    if !discovery {
        trust["jwks_url"] = json!(issuer.jwks_url());
    }
    owner.add_workload_trust("web", trust).await.unwrap();
    (server, owner)
}

async fn app_tokens(owner: &Client, app: &str) -> usize {
    owner.tokens(Some(app)).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_token_becomes_a_short_lived_app_token() {
    let issuer = TestIssuer::start().await;
    let (server, owner) = world(&issuer, true).await;
    let jwt = issuer.sign(
        "k1",
        &issuer.claims("hush-test", "acme/web", "refs/heads/main"),
    );
    let anon = server.anonymous();
    let got = anon.exchange_workload_token("web", &jwt).await.unwrap();
    let now = hush_store::now_millis();
    let minutes = (got.expires_at - now) as f64 / 60_000.0;
    assert!((14.0..=15.1).contains(&minutes), "lives {minutes} minutes");
    assert!(got.token.starts_with("hush_app_"));
    let app = anon.with_token(got.token.clone());
    assert_eq!(app.secrets("web").await.unwrap().version, 1);
    // It is a token of web only.
    assert_eq!(app.secrets("api").await.unwrap_err().status(), Some(403));
    let listed = owner.tokens(Some("web")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]["name"]
            .as_str()
            .unwrap()
            .contains("repo:acme/web"),
        "{listed:?}"
    );
    let events = owner.audit("action=workload.exchange").await.unwrap();
    assert_eq!(events[0]["app_name"], "web");
    assert_eq!(events[0]["detail"]["issuer"], issuer.url.as_str());
    assert!(!serde_json::to_string(&events).unwrap().contains(&jwt));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_refused_with_its_reason_audited_and_creates_nothing() {
    let issuer = TestIssuer::start().await;
    let stranger = TestIssuer::start().await;
    let (server, owner) = world(&issuer, false).await;
    let anon = server.anonymous();
    let good = || issuer.claims("hush-test", "acme/web", "refs/heads/main");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good();
        change(&mut claims);
        claims
    };

    let replayed = issuer.sign("k1", &good());
    anon.exchange_workload_token("web", &replayed)
        .await
        .unwrap();
    let before = app_tokens(&owner, "web").await;

    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good(),
        &jsonwebtoken::EncodingKey::from_secret(b"shared"),
    )
    .unwrap();
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "unknown issuer",
            stranger.sign(
                "k1",
                &stranger.claims("hush-test", "acme/web", "refs/heads/main"),
            ),
            "web",
            "workload_unknown_issuer",
        ),
        (
            "no such app",
            issuer.sign("k1", &good()),
            "ghost",
            "workload_unknown_issuer",
        ),
        (
            "app that does not trust the issuer",
            issuer.sign("k1", &good()),
            "api",
            "workload_unknown_issuer",
        ),
        (
            "forged signature",
            forged("k1", &good()),
            "web",
            "workload_bad_signature",
        ),
        (
            "unknown key",
            forged("k9", &good()),
            "web",
            "workload_bad_signature",
        ),
        (
            "symmetric algorithm",
            hs256,
            "web",
            "workload_bad_signature",
        ),
        (
            "expired",
            issuer.sign("k1", &with(&|c| c["exp"] = json!(now - 3600))),
            "web",
            "workload_expired",
        ),
        (
            "not yet valid",
            issuer.sign("k1", &with(&|c| c["nbf"] = json!(now + 3600))),
            "web",
            "workload_expired",
        ),
        (
            "wrong audience",
            issuer.sign("k1", &with(&|c| c["aud"] = json!("someone-else"))),
            "web",
            "workload_wrong_audience",
        ),
        (
            "another repository",
            issuer.sign("k1", &with(&|c| c["repository"] = json!("evil/web"))),
            "web",
            "workload_claims_mismatch",
        ),
        (
            "another branch",
            issuer.sign("k1", &with(&|c| c["ref"] = json!("refs/heads/feature"))),
            "web",
            "workload_claims_mismatch",
        ),
        (
            "missing claim",
            issuer.sign(
                "k1",
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("ref");
                }),
            ),
            "web",
            "workload_claims_mismatch",
        ),
        ("replayed", replayed.clone(), "web", "workload_replayed"),
        (
            "not a JWT",
            "not-a-token".into(),
            "web",
            "workload_bad_token",
        ),
    ];
    for (what, jwt, app, expected) in &cases {
        let (status, code, message) = api_err(anon.exchange_workload_token(app, jwt).await);
        assert_eq!(
            (status, code.as_str()),
            (401, *expected),
            "{what}: {message}"
        );
        assert!(
            !message.contains(jwt.as_str()),
            "{what}: the message repeats the token"
        );
    }
    assert_eq!(
        app_tokens(&owner, "web").await,
        before,
        "nothing was created"
    );
    assert_eq!(app_tokens(&owner, "api").await, 0);
    // The wrong-claim answer names the claim and what it must match.
    let (_, _, message) = api_err(
        anon.exchange_workload_token(
            "web",
            &issuer.sign("k1", &with(&|c| c["repository"] = json!("evil/web"))),
        )
        .await,
    );
    assert!(
        message.contains("\"repository\"") && message.contains("acme/*"),
        "{message}"
    );

    let refused = common::audit_eventually(&owner, "action=workload.refused&limit=100", |e| {
        e["detail"]["reason"] == "replayed"
    })
    .await;
    for reason in [
        "unknown_issuer",
        "bad_signature",
        "expired",
        "wrong_audience",
        "claims_mismatch",
        "replayed",
        "bad_token",
    ] {
        assert!(
            refused.iter().any(|e| e["detail"]["reason"] == reason),
            "no audited refusal for {reason}"
        );
    }
}

/// A token is exchanged once for as long as it is accepted at all: also in the clock-skew
/// minute after its `exp` (its use was once forgotten at `exp`, so each replay then worked), and
/// also when its issuer sends no `jti`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_exchanged_once_after_its_expiry_and_without_a_jti() {
    let issuer = TestIssuer::start().await;
    let (server, owner) = world(&issuer, false).await;
    let anon = server.anonymous();
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut just_expired = issuer.claims("hush-test", "acme/web", "refs/heads/main");
    just_expired["exp"] = json!(now - 10);
    let mut without_jti = issuer.claims("hush-test", "acme/web", "refs/heads/main");
    without_jti.as_object_mut().unwrap().remove("jti");
    for claims in [just_expired, without_jti] {
        let token = issuer.sign("k1", &claims);
        anon.exchange_workload_token("web", &token).await.unwrap();
        let before = app_tokens(&owner, "web").await;
        for _ in 0..2 {
            let refused = anon.exchange_workload_token("web", &token).await;
            let message = refused.expect_err("a replay is refused").to_string();
            assert!(message.contains("exchanged already"), "{message}");
        }
        assert_eq!(app_tokens(&owner, "web").await, before, "nothing created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_when_a_token_names_it_and_keys_are_cached() {
    let issuer = TestIssuer::start().await;
    let (server, _owner) = world(&issuer, false).await;
    let anon = server.anonymous();
    let claims = || issuer.claims("hush-test", "acme/web", "refs/heads/main");
    anon.exchange_workload_token("web", &issuer.sign("k1", &claims()))
        .await
        .unwrap();
    anon.exchange_workload_token("web", &issuer.sign("k1", &claims()))
        .await
        .unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "keys are cached");
    // The issuer rotates: a token signed with the new key makes hush fetch the keys again
    // (once the cache is a few seconds old, so a flood of unknown ids cannot hammer the issuer).
    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await;
    issuer.add_key("k2");
    anon.exchange_workload_token("web", &issuer.sign("k2", &claims()))
        .await
        .unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusts_are_for_owners_and_need_a_real_condition() {
    let issuer = TestIssuer::start().await;
    let (server, owner) = world(&issuer, false).await;
    let editor = server.member(&owner, "edith", "editor").await;
    let base =
        json!({ "issuer": issuer.url, "audience": "hush", "conditions": { "sub": "repo:acme/*" } });
    let (status, _, _) = api_err(editor.add_workload_trust("web", base.clone()).await);
    assert_eq!(status, 403);
    assert_eq!(
        editor.workload_trusts("web").await.unwrap_err().status(),
        Some(403)
    );
    for (field, change) in [
        ("conditions", json!({ "conditions": {} })),
        ("conditions", json!({ "conditions": { "sub": "*" } })),
        ("issuer", json!({ "issuer": "http://issuer.example" })),
        ("jwks_url", json!({ "jwks_url": "ftp://x" })),
        ("audience", json!({ "audience": " " })),
        ("token_minutes", json!({ "token_minutes": 0 })),
    ] {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, _, message) = api_err(owner.add_workload_trust("web", body).await);
        assert_eq!(status, 400, "{field}: {message}");
        assert!(message.starts_with(field), "{field}: {message}");
    }
    assert_eq!(owner.workload_trusts("web").await.unwrap().len(), 1);
    let trust = owner.add_workload_trust("web", base).await.unwrap();
    assert_eq!(trust["token_minutes"], 15);
    assert_eq!(owner.workload_trusts("web").await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_is_down_gets_a_clear_answer_and_nothing_is_created() {
    let issuer = TestIssuer::start().await;
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    // Keys at an address where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    owner
        .add_workload_trust(
            "web",
            json!({ "issuer": issuer.url, "jwks_url": dead, "audience": "hush-test",
                    "conditions": { "repository": "acme/*" } }),
        )
        .await
        .unwrap();
    let jwt = issuer.sign(
        "k1",
        &issuer.claims("hush-test", "acme/web", "refs/heads/main"),
    );
    let message = common::assert_refused(
        server
            .anonymous()
            .exchange_workload_token("web", &jwt)
            .await,
        502,
        "workload_issuer_unavailable",
    );
    assert!(message.contains("try again later"), "{message}");
    assert_eq!(app_tokens(&owner, "web").await, 0);
}

/// Tokens come without credentials: however many name an issuer whose keys cannot be read, the
/// server asks it once, not once a token (that would make hush a free amplifier against it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_tokens_for_an_issuer_that_is_down_asks_it_once() {
    let issuer = TestIssuer::start().await;
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    // Keys at an address that answers 503, counting the requests.
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}/jwks", listener.local_addr().unwrap());
    let counter = asked.clone();
    let app = axum::Router::new().fallback(move || async move {
        counter.fetch_add(1, Ordering::SeqCst);
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    owner
        .add_workload_trust(
            "web",
            json!({ "issuer": issuer.url, "jwks_url": down, "audience": "hush-test",
                    "conditions": { "repository": "acme/*" } }),
        )
        .await
        .unwrap();

    let anon = server.anonymous();
    let tries = (0..40).map(|_| {
        let jwt = issuer.sign(
            "k1",
            &issuer.claims("hush-test", "acme/web", "refs/heads/main"),
        );
        let anon = anon.clone();
        async move { anon.exchange_workload_token("web", &jwt).await }
    });
    for answer in futures::future::join_all(tries).await {
        common::assert_refused(answer, 502, "workload_issuer_unavailable");
    }
    let asked = asked.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&asked),
        "the issuer was asked {asked} times for 40 tokens"
    );
    assert_eq!(app_tokens(&owner, "web").await, 0);
}
