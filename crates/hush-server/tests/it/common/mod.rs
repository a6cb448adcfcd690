//! Spawns a real `hush serve` (the library, on 127.0.0.1:0) and signs people in through hush's
//! own client, so every server test is also a client test.
#![allow(dead_code)]

use std::sync::Arc;

use hush_client::api::{Client, ClientError};
use hush_crypto::MasterKey;
use hush_server::{AppState, Keyring, ServerConfig};
use hush_store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A server on a fresh SQLite database in a temporary directory.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with settings changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hush.db").display());
        let store = hush_store::connect(&url).await.unwrap();
        let keyring = Keyring::from_keys(vec![MasterKey::generate()]);
        let mut server = TestServer::start_configured(store, keyring, configure).await;
        server.dir = Some(dir);
        server
    }

    pub async fn start_on(store: Arc<dyn Store>, keyring: Keyring) -> TestServer {
        TestServer::start_configured(store, keyring, |_| {}).await
    }

    /// A server on `store` with `keyring`, with settings changed by `configure`.
    pub async fn start_configured(
        store: Arc<dyn Store>,
        keyring: Keyring,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = ServerConfig {
            public_url: url.clone(),
            heartbeat: std::time::Duration::from_millis(500),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let state = AppState::new(store.clone(), keyring, config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(hush_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            task.await.unwrap().unwrap();
        });
        TestServer {
            url,
            state,
            store,
            dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None).unwrap()
    }

    /// Creates the owner through the first-run link and returns a client with their personal token.
    pub async fn owner(&self) -> Client {
        let link = self
            .state
            .first_run_link()
            .await
            .unwrap()
            .expect("a fresh server offers a setup link");
        let token = link.split_once('#').unwrap().1;
        self.anonymous()
            .accept_invite(token, "olivia", PASSWORD)
            .await
            .unwrap();
        self.login("olivia").await
    }

    /// [`TestServer::owner`], once they have made the app `name` holding `toml`.
    pub async fn owner_with_app(&self, name: &str, toml: &str) -> Client {
        let owner = self.owner().await;
        owner.create_app(name, Some(toml), None).await.unwrap();
        owner
    }

    pub async fn login(&self, name: &str) -> Client {
        let created = self
            .anonymous()
            .login(name, PASSWORD, "tests")
            .await
            .unwrap();
        self.anonymous().with_token(created.token)
    }

    /// A runner of `app` in the environment `env`: a client holding a new app token for that
    /// environment, made by `owner`.
    pub async fn env_runner(&self, owner: &Client, app: &str, env: &str) -> Client {
        let token = owner
            .with_env(Some(env))
            .create_app_token(app, "runner", None)
            .await
            .unwrap();
        self.anonymous().with_token(token.token).with_env(Some(env))
    }

    /// Invites a member with `role`, lets them join, and signs them in.
    pub async fn member(&self, owner: &Client, name: &str, role: &str) -> Client {
        let token = invite_token(owner, role).await;
        self.anonymous()
            .accept_invite(&token, name, PASSWORD)
            .await
            .unwrap();
        self.login(name).await
    }

    /// [`TestServer::member`], with the new member's id (for changing their roles).
    pub async fn member_with_id(&self, owner: &Client, name: &str, role: &str) -> (Client, i64) {
        let member = self.member(owner, name, role).await;
        (member, member_id(owner, name).await)
    }

    /// Makes every audit insert fail, as a broken database would: a trigger on the SQLite
    /// file, created through a connection of its own, which is returned (drop the trigger
    /// `audit_down` through it to repair the log).
    pub async fn break_audit_log(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        let db = self.dir.as_ref().unwrap().path().join("hush.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit BEGIN SELECT RAISE(FAIL, 'audit down'); END")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The status, code, message and body of an API refusal; fails the test on success or on any
/// other error.
#[track_caller]
pub fn api_refusal<T: std::fmt::Debug>(
    r: Result<T, ClientError>,
) -> (u16, String, String, serde_json::Value) {
    match r.expect_err("expected an error") {
        ClientError::Api {
            status,
            code,
            message,
            body,
        } => (status, code, message, body),
        other => panic!("expected an API error, got {other}"),
    }
}

/// [`api_refusal`] without the body: status, code and message.
#[track_caller]
pub fn api_err<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String, String) {
    let (status, code, message, _) = api_refusal(r);
    (status, code, message)
}

/// Asserts that `r` is a refusal with `status` and `code`; its message, for further checks.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    r: Result<T, ClientError>,
    status: u16,
    code: &str,
) -> String {
    let (got_status, got_code, message) = api_err(r);
    assert_eq!((got_status, got_code.as_str()), (status, code), "{message}");
    message
}

/// A new personal token of `client`'s member, for raw HTTP requests.
pub async fn personal_token(client: &Client, name: &str) -> String {
    client
        .create_personal_token(name, None)
        .await
        .unwrap()
        .token
}

/// The id of the member called `name`, as `owner` sees the member list.
pub async fn member_id(owner: &Client, name: &str) -> i64 {
    owner
        .members()
        .await
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// The `name` of each listed item (members, apps), in list order.
pub fn names(items: &[serde_json::Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_string())
        .collect()
}

/// Creates the shared document `doc` holding `toml` and makes `app`'s environment `env`
/// include it (and only it).
pub async fn share_into(owner: &Client, doc: &str, toml: &str, app: &str, env: &str) {
    owner.create_shared(doc, Some(toml)).await.unwrap();
    owner.set_includes(app, env, &[doc]).await.unwrap();
}

/// Creates the app `app` holding `production` and its second environment `staging`, which
/// includes the shared documents `includes` (made already); the owner's client for staging.
pub async fn app_with_staging(
    owner: &Client,
    app: &str,
    production: &str,
    includes: &[&str],
) -> Client {
    owner.create_app(app, Some(production), None).await.unwrap();
    owner.create_env(app, "staging").await.unwrap();
    if !includes.is_empty() {
        owner.set_includes(app, "staging", includes).await.unwrap();
    }
    owner.with_env(Some("staging"))
}

/// Opens `client`'s watch stream of `app` after `last_seen`, pinned for `.next()`.
pub async fn watch_stream(
    client: &Client,
    app: &str,
    last_seen: i64,
    idle: std::time::Duration,
) -> std::pin::Pin<Box<impl futures::Stream<Item = hush_client::api::Result<i64>> + use<>>> {
    Box::pin(client.watch(app, last_seen, idle).await.unwrap())
}

/// Asserts that `stream` ends within two seconds (`why` names whose stream it is).
pub async fn assert_stream_ends<S: futures::Stream + Unpin>(stream: &mut S, why: &str)
where
    S::Item: std::fmt::Debug,
{
    use futures::StreamExt;
    let end = tokio::time::timeout(std::time::Duration::from_secs(2), stream.next())
        .await
        .unwrap();
    assert!(end.is_none(), "{why}: {end:?}");
}

/// Asserts that `stream` does not announce `version`, ending (or erring) within three seconds
/// instead; `why` says what announcing it would mean.
pub async fn assert_stream_ends_without<S>(stream: &mut S, version: i64, why: &str)
where
    S: futures::Stream<Item = hush_client::api::Result<i64>> + Unpin,
{
    use futures::StreamExt;
    let next = tokio::time::timeout(std::time::Duration::from_secs(3), stream.next())
        .await
        .expect("the stream ends, it does not hang");
    assert!(
        !matches!(next, Some(Ok(v)) if v == version),
        "{why}: {next:?}"
    );
}

/// The `hush_session` cookie (name=value) that `response` sets, if any.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("hush_session="))
}

/// A self-signed certificate for `localhost` and the TLS settings serving it, with the
/// temporary directory holding its files (a test can keep its database there too).
pub fn self_signed_tls() -> (
    tempfile::TempDir,
    rcgen::CertifiedKey,
    Arc<tokio_rustls::rustls::ServerConfig>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = hush_server::tls::load(&cert_path, &key_path).unwrap();
    (dir, cert, tls)
}

/// The one-time token of a new invitation with `role`: what follows '#' in its link.
pub async fn invite_token(owner: &Client, role: &str) -> String {
    let invite = owner.invite(role).await.unwrap();
    let url = invite["url"].as_str().unwrap();
    url.split_once('#').unwrap().1.to_string()
}

/// Audit events matching `query`, once at least one satisfies `found` (reads and refusals are
/// written within about a second: they are gathered and folded).
pub async fn audit_eventually(
    client: &Client,
    query: &str,
    found: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let events = client.audit(query).await.unwrap();
        if events.iter().any(&found) || std::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// How many events a folded audit row stands for.
pub fn folded_count(event: &serde_json::Value) -> u64 {
    event["detail"]["count"].as_u64().unwrap_or(1)
}

/// The answer to a panel sign-in (a session cookie and a CSRF token when it worked).
pub async fn panel_login(server: &TestServer, name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap()
}

/// A panel session: (status of the sign-in, cookie header, CSRF token).
pub async fn panel_session(
    server: &TestServer,
    name: &str,
    password: &str,
) -> (u16, String, String) {
    let response = panel_login(server, name, password).await;
    let status = response.status().as_u16();
    let cookie = session_cookie(&response).unwrap_or_default();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_string();
    (status, cookie, csrf)
}

/// A panel request's answer: `POST {path}` under `/api/v1` with a session cookie and its CSRF
/// token, as the panel sends a change.
pub async fn panel_post(url: &str, path: &str, cookie: &str, csrf: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1{path}"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap()
}

/// A watch stream opened with a panel session cookie, as the panel's `EventSource` opens it.
pub async fn panel_watch(url: &str, app: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{url}/api/v1/apps/{app}/watch"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// `GET {path}` under `/api/v1` with a bearer token, as JSON.
pub async fn get_json(url: &str, path: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{url}/api/v1{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The seed's own example document.
pub const SEED: &str = r#"# Everything in this section will be available as an environment variable
db_username = "Jane"
db_password = "12345qwerty"

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]
"#;
