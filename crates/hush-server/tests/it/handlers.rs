//! Handler logic in-process: `router(state).oneshot(request)`, no socket. For what needs a real
//! connection (streams, timeouts, TLS, limits) see the tests that start the server.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hush_crypto::MasterKey;
use hush_server::{AppState, Keyring, ServerConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = hush_store::connect(&format!("sqlite://{}", dir.path().join("h.db").display()))
            .await
            .unwrap();
        let state = AppState::new(
            store,
            Keyring::from_keys(vec![MasterKey::generate()]),
            ServerConfig::default(),
        )
        .await
        .unwrap();
        Harness { state, _dir: dir }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = hush_server::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A JSON POST to `path`, with `token` as its bearer when given.
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(json_request("POST", path, token, body)).await
    }

    /// The owner's personal token.
    async fn owner_token(&self) -> String {
        let link = self.state.first_run_link().await.unwrap().unwrap();
        let token = link.split_once('#').unwrap().1;
        let (status, _) = self
            .post(
                "/api/v1/auth/accept",
                None,
                json!({
                    "token": token, "name": "olivia", "password": "correct horse battery"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, created) = self
            .post(
                "/api/v1/auth/token",
                None,
                json!({
                    "name": "olivia", "password": "correct horse battery"
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        created["token"].as_str().unwrap().to_string()
    }
}

fn json_request(method: &str, path: &str, token: Option<&str>, body: Value) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn validation_says_what_and_where_and_stores_nothing() {
    let h = Harness::new().await;
    let token = h.owner_token().await;
    let (status, body) = h
        .post(
            "/api/v1/validate",
            Some(&token),
            json!({
                "toml": "ok = 1\nbroken = \"no end\n"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], false);
    assert_eq!(body["error"]["code"], "invalid_toml");
    assert_eq!(body["error"]["line"], 2);
    let (_, body) = h
        .post(
            "/api/v1/validate",
            Some(&token),
            json!({
                "toml": "PATH = \"/evil\"\nname = \"x\"\n[section]\nk = 1\n"
            }),
        )
        .await;
    assert_eq!(body["valid"], true);
    assert_eq!(body["env"]["exported"], json!(["name"]));
    let skipped: Vec<&str> = body["env"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert!(
        skipped.contains(&"PATH") && skipped.contains(&"section"),
        "{skipped:?}"
    );
    let (_, apps) = h
        .send(
            Request::builder()
                .uri("/api/v1/apps")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(apps["apps"], json!([]), "validating creates nothing");
}

#[tokio::test]
async fn request_bodies_with_unknown_or_mistyped_fields_are_refused_without_echoing_them() {
    let h = Harness::new().await;
    let token = h.owner_token().await;
    let (status, body) = h
        .post(
            "/api/v1/apps",
            Some(&token),
            json!({
                "name": "web", "tomll": "a = 1"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("tomll"),
        "{body}"
    );
    let (status, body) = h
        .post(
            "/api/v1/apps",
            Some(&token),
            json!({
                "name": "web", "toml": 12345678
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !body["message"].as_str().unwrap().contains("12345678"),
        "{body}"
    );
    let (status, _) = h
        .post("/api/v1/apps", Some(&token), json!({ "name": "Web App" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_panel_session_needs_its_csrf_token_for_changes() {
    let h = Harness::new().await;
    let link = h.state.first_run_link().await.unwrap().unwrap();
    let response = hush_server::router(h.state.clone())
        .oneshot(json_request("POST", "/api/v1/auth/accept", None, json!({
            "token": link.split_once('#').unwrap().1, "name": "olivia", "password": "correct horse battery"
        })))
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("hush_session="))
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let csrf = serde_json::from_slice::<Value>(&body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let create = |csrf: Option<&str>| {
        let mut builder = Request::builder()
            .method("POST")
            .uri("/api/v1/apps")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &cookie);
        if let Some(csrf) = csrf {
            builder = builder.header("x-csrf-token", csrf);
        }
        builder
            .body(Body::from(json!({ "name": "web" }).to_string()))
            .unwrap()
    };
    let (status, body) = h.send(create(None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    let (status, _) = h.send(create(Some("0000"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.send(create(Some(&csrf))).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_with_an_error_answer() {
    let h = Harness::new().await;
    let (status, doc) = h
        .send(
            Request::builder()
                .uri("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["responses"]["default"]["content"]["application/json"].is_object(),
                "{method} {path} does not document its error answer"
            );
        }
    }
    // The same document the library hands out, so generated clients see what is served.
    assert_eq!(
        doc,
        serde_json::to_value(hush_server::api::openapi()).unwrap()
    );
}
