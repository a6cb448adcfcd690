//! The fast read path (`api/fast_read.rs`) against the router: for every request it answers,
//! the same status, headers and body bytes as the router's; everything else (cold caches, a
//! revoked token, a token of another app or environment, a session cookie, HEAD, unknown apps)
//! is left to the router. Reads answered either way are all in the audit log and the metrics.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::response::Response;
use hush_client::api::Client;
use tower::ServiceExt;

use crate::common::{
    PASSWORD, SEED, TestServer, app_with_staging, folded_count, panel_session, share_into,
};

/// The caller's address, as the socket would give it to both paths.
fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

/// Status, headers in order, and body bytes.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

async fn collect(response: Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

struct Paths {
    server: TestServer,
    router: axum::Router,
}

impl Paths {
    async fn start() -> Paths {
        let server = TestServer::start_with(|c| c.hsts = true).await;
        let router = hush_server::router(server.state.clone());
        Paths { server, router }
    }

    /// The fast path's answer (if it gives one) and the router's, each to its own copy of the
    /// request `method path` with the header `extra`.
    async fn both(
        &self,
        method: Method,
        path: &str,
        extra: Option<(header::HeaderName, &str)>,
    ) -> (Option<Answer>, Answer) {
        let request = || {
            let mut builder = Request::builder().method(method.clone()).uri(path);
            if let Some((name, value)) = &extra {
                builder = builder.header(name, *value);
            }
            builder.body(Body::empty()).unwrap()
        };
        let fast =
            hush_server::api::fast_read::answer(&self.server.state, &request(), Some(peer().ip()))
                .await;
        let fast = match fast {
            Some(response) => Some(collect(response).await),
            None => None,
        };
        let mut routed = request();
        routed
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer()));
        let routed = collect(self.router.clone().oneshot(routed).await.unwrap()).await;
        (fast, routed)
    }

    async fn bearer(&self, path: &str, token: &str) -> (Option<Answer>, Answer) {
        let value = format!("Bearer {token}");
        self.both(Method::GET, path, Some((header::AUTHORIZATION, &value)))
            .await
    }

    /// Asserts that the fast path answers `path` for `token`, exactly as the router does.
    async fn same(&self, path: &str, token: &str) -> Answer {
        let (fast, routed) = self.bearer(path, token).await;
        let fast = fast.unwrap_or_else(|| panic!("the fast path should answer {path}"));
        assert_eq!(fast, routed, "{path}");
        fast
    }

    /// Asserts that the fast path leaves `path` to the router, and returns the router's answer.
    async fn left(&self, path: &str, token: &str) -> Answer {
        let (fast, routed) = self.bearer(path, token).await;
        assert!(fast.is_none(), "{path} should be left to the router");
        routed
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a [u8]> {
    answer
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

/// The owner, the app `web` (production and `staging`, which includes the shared document
/// `common`), the app `other`, and an app token for each of web, web/staging and other.
async fn setup(server: &TestServer) -> (Client, [hush_client::api::CreatedToken; 3]) {
    let owner = server.owner().await;
    let staging = app_with_staging(&owner, "web", SEED, &[]).await;
    owner
        .create_app("other", Some("x = 1\n"), None)
        .await
        .unwrap();
    staging
        .save_secrets("web", "own = \"s\"\n", 0, None)
        .await
        .unwrap();
    let common = "DB_URL = \"postgres://common\"\n";
    share_into(&owner, "common", common, "web", "staging").await;
    let web = owner.create_app_token("web", "prod", None).await.unwrap();
    let web_staging = staging.create_app_token("web", "st", None).await.unwrap();
    let other = owner.create_app_token("other", "o", None).await.unwrap();
    (owner, [web, web_staging, other])
}

const PROD: &str = "/api/v1/apps/web/secrets";
const STAGING: &str = "/api/v1/apps/web/envs/staging/secrets";

#[tokio::test]
async fn the_fast_path_answers_byte_for_byte_what_the_router_does() {
    let paths = Paths::start().await;
    let (owner, [web, staging, other]) = setup(&paths.server).await;

    // Cold caches: the router answers (and fills them); then the fast path answers the same.
    assert_eq!(paths.left(PROD, &web.token).await.status, 200);
    let answer = paths.same(PROD, &web.token).await;
    assert_eq!(
        header(&answer, "content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(header(&answer, "cache-control"), Some(&b"no-store"[..]));
    assert_eq!(
        header(&answer, "x-content-type-options"),
        Some(&b"nosniff"[..])
    );
    assert_eq!(header(&answer, "x-frame-options"), Some(&b"DENY"[..]));
    assert!(header(&answer, "strict-transport-security").is_some());
    assert!(String::from_utf8_lossy(&answer.body).contains("12345qwerty"));

    // An environment with an included shared document: the merged body, built once.
    assert_eq!(paths.left(STAGING, &staging.token).await.status, 200);
    let merged = paths.same(STAGING, &staging.token).await;
    assert!(String::from_utf8_lossy(&merged.body).contains("postgres://common"));

    // A new version: answered at once, with the new body.
    owner
        .save_secrets("web", "db_password = \"rotated\"\n", 1, None)
        .await
        .unwrap();
    let answer = paths.same(PROD, &web.token).await;
    assert!(String::from_utf8_lossy(&answer.body).contains("rotated"));
    // A new version of the included document: the router builds the new merged body first.
    owner
        .save_shared("common", "DB_URL = \"postgres://moved\"\n", 1, None)
        .await
        .unwrap();
    let (fast, routed) = paths.bearer(STAGING, &staging.token).await;
    if let Some(fast) = fast {
        assert_eq!(fast, routed);
    }
    let merged = paths.same(STAGING, &staging.token).await;
    assert!(String::from_utf8_lossy(&merged.body).contains("postgres://moved"));

    // Tokens of another app or environment, and names nobody has: the router refuses.
    // Other spellings of the route: the router's decoding and matching decide.
    let (web_token, staging_token) = (web.token.as_str(), staging.token.as_str());
    for (path, token, status) in [
        (PROD, staging_token, 403),
        (STAGING, web_token, 403),
        ("/api/v1/apps/other/secrets", web_token, 403),
        (PROD, other.token.as_str(), 403),
        ("/api/v1/apps/nope/secrets", web_token, 403),
        ("/api/v1/apps/web/envs/nope/secrets", staging_token, 403),
        (PROD, "hush_app_not-a-token", 401),
        ("/api/v1/apps/w%65b/secrets", web_token, 200),
        ("/api/v1/apps/web/secrets?x=1", web_token, 200),
        ("/api/v1/apps/web/secrets/", web_token, 404),
    ] {
        assert_eq!(paths.left(path, token).await.status, status, "{path}");
    }

    // HEAD and a GET with a body go to the router.
    let value = format!("Bearer {}", web.token);
    let (fast, routed) = paths
        .both(Method::HEAD, PROD, Some((header::AUTHORIZATION, &value)))
        .await;
    assert!(fast.is_none());
    assert_eq!(routed.status, 200);
    let request = Request::get(PROD)
        .header(header::AUTHORIZATION, &value)
        .header(header::CONTENT_LENGTH, "3")
        .body(Body::from("abc"))
        .unwrap();
    let fast = hush_server::api::fast_read::answer(&paths.server.state, &request, None).await;
    assert!(fast.is_none());

    // Panel sessions never take the fast path: an editor reveals, a viewer is refused.
    paths.server.member(&owner, "vic", "viewer").await;
    for (name, status) in [("olivia", 200), ("vic", 403)] {
        let (login, cookie, _) = panel_session(&paths.server, name, PASSWORD).await;
        assert_eq!(login, 200);
        let (fast, routed) = paths
            .both(Method::GET, PROD, Some((header::COOKIE, &cookie)))
            .await;
        assert!(fast.is_none(), "{name}'s session");
        assert_eq!(routed.status, status, "{name}'s session");
    }

    // Revoked: refused at once, by the router, on this request already.
    paths.same(PROD, &web.token).await;
    owner.revoke_token(web.id).await.unwrap();
    let refused = paths.left(PROD, &web.token).await;
    assert_eq!(refused.status, 401);
    assert!(String::from_utf8_lossy(&refused.body).contains("token_expired"));
    let over_http = paths.server.anonymous().with_token(web.token.clone());
    let err = over_http.secrets("web").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn a_deleted_environment_or_app_is_refused_at_once() {
    let paths = Paths::start().await;
    let (owner, [web, staging, _]) = setup(&paths.server).await;
    paths.left(STAGING, &staging.token).await;
    paths.same(STAGING, &staging.token).await;
    owner.delete_env("web", "staging").await.unwrap();
    assert_eq!(paths.left(STAGING, &staging.token).await.status, 401);

    paths.left(PROD, &web.token).await;
    paths.same(PROD, &web.token).await;
    owner.delete_app("web").await.unwrap();
    assert_eq!(paths.left(PROD, &web.token).await.status, 401);
}

#[tokio::test]
async fn reads_on_either_path_are_all_audited_and_counted() {
    let paths = Paths::start().await;
    let (owner, [web, ..]) = setup(&paths.server).await;
    let metrics = &paths.server.state.metrics;
    paths.left(PROD, &web.token).await;

    // Each `same` is one fast read and one routed read.
    let (reads, requests) = (
        metrics.secret_reads.load(Ordering::Relaxed),
        metrics.http_requests.load(Ordering::Relaxed),
    );
    for _ in 0..10 {
        paths.same(PROD, &web.token).await;
    }
    assert_eq!(metrics.secret_reads.load(Ordering::Relaxed) - reads, 20);
    assert_eq!(metrics.http_requests.load(Ordering::Relaxed) - requests, 20);
    // And over HTTP, where the server's connections take the fast path.
    let runner = paths.server.anonymous().with_token(web.token.clone());
    for _ in 0..15 {
        runner.secrets("web").await.unwrap();
    }
    let total = 1 + 20 + 15;
    let counted = |rows: &[serde_json::Value]| rows.iter().map(folded_count).sum::<u64>();
    // Reads are written about once a second, folded.
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = owner.audit("action=secrets.read&app=web").await.unwrap();
        if counted(&rows) >= total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(counted(&rows), total, "{rows:?}");
    assert!(rows.iter().all(|r| r["actor_name"] == "prod"));
}
