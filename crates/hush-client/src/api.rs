//! The HTTP API client: what the CLI, the runner and the server's own tests use to talk to
//! `hush serve`. Tokens and secret values never appear in `Debug` output or errors.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
        body: Value,
    },
    /// The server could not be reached, the connection broke, or its address is not a URL;
    /// the text names the server and what happened.
    #[error("cannot reach the hush server: {0}")]
    Transport(String),
    #[error("unexpected answer from the hush server: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A failed exchange with the server at `server`, said in words: which server, and what
/// happened (refused, no answer, cut, unknown host, TLS) instead of reqwest's "error sending
/// request". reqwest's own text is left out: it can include the URL, and says little.
fn transport(server: &str, err: &reqwest::Error) -> ClientError {
    use std::error::Error as _;
    use std::io::ErrorKind;
    let mut io = None;
    let mut deepest = None;
    let mut source = err.source();
    while let Some(cause) = source {
        if io.is_none() {
            io = cause.downcast_ref::<std::io::Error>();
            // An io::Error wrapping another one does not list it as its source.
            while let Some(inner) = io
                .and_then(std::io::Error::get_ref)
                .and_then(|e| e.downcast_ref::<std::io::Error>())
            {
                io = Some(inner);
            }
        }
        deepest = Some(cause);
        source = cause.source();
    }
    let what = match io.map(std::io::Error::kind) {
        Some(ErrorKind::ConnectionRefused) => {
            format!("{server} refused the connection (nothing listens there)")
        }
        Some(ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe)
        | Some(ErrorKind::UnexpectedEof) => format!("the connection to {server} was cut"),
        Some(ErrorKind::TimedOut) => format!("{server} did not answer in time"),
        Some(ErrorKind::InvalidData) if server.starts_with("https:") => format!(
            "the TLS handshake with {server} failed ({}); if that server speaks plain HTTP, \
             write http://",
            without_os_error(&io.map(ToString::to_string).unwrap_or_default())
        ),
        _ if err.is_timeout() => format!("{server} did not answer in time"),
        _ => {
            let detail = deepest.map(|e| without_os_error(&e.to_string()));
            match detail {
                Some(d) if d.contains("lookup address") || d.contains("dns") => {
                    format!("cannot find the host of {server} ({d})")
                }
                Some(d) if err.is_connect() => format!("cannot connect to {server} ({d})"),
                Some(d) => format!("the exchange with {server} failed ({d})"),
                None => format!("the exchange with {server} failed"),
            }
        }
    };
    ClientError::Transport(what)
}

/// "Connection refused (os error 111)" without the code, which says nothing more to a person.
fn without_os_error(text: &str) -> String {
    match text.find(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text.to_string(),
    }
}

/// The server address as the client uses it: `http://` or `https://`, a host, no user name or
/// password (they would show up in messages), trailing slashes dropped.
fn server_url(server: &str) -> Result<String> {
    let trimmed = server.trim().trim_end_matches('/');
    let bad = |why: String| Err(ClientError::Transport(why));
    // Never repeat something that looks like a token given in the wrong place.
    let shown = if trimmed.contains("hush_") {
        "the server address".to_string()
    } else {
        format!("{trimmed:?}")
    };
    match reqwest::Url::parse(trimmed) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if !url.username().is_empty() || url.password().is_some() {
                return bad(
                    "the server address holds a user name or password; give only \
                     http(s)://host:port, and sign in with a token"
                        .into(),
                );
            }
            if url.query().is_some() || url.fragment().is_some() {
                return bad(format!(
                    "{shown} has a ?query or #fragment; give only http(s)://host:port (and a path, \
                     if hush is served under one)"
                ));
            }
            Ok(trimmed.to_string())
        }
        _ if trimmed.is_empty() => {
            bad("no server address given; e.g. http://127.0.0.1:8200".into())
        }
        _ if !trimmed.contains("://") => bad(format!(
            "{shown} is not a URL; write it with http:// or https://, e.g. http://{}",
            if trimmed.contains("hush_") {
                "127.0.0.1:8200"
            } else {
                trimmed
            }
        )),
        _ => bad(format!(
            "{shown} is not an http:// or https:// address, e.g. http://127.0.0.1:8200"
        )),
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// One version of an app's secrets, as the server sends it.
#[derive(Clone, Deserialize)]
pub struct SecretsVersion {
    pub app: String,
    /// The environment (absent from servers before environments: production).
    #[serde(default)]
    pub env: Option<String>,
    /// The newest version of the environment's own document.
    pub version: i64,
    /// The version plus how often its included shared documents changed: what the watch
    /// stream announces. Absent when it equals `version`.
    #[serde(default)]
    pub revision: Option<i64>,
    pub created_at: Option<i64>,
    /// The included shared documents' `{"document", "version"}`, in order.
    #[serde(default)]
    pub includes: Vec<Value>,
    /// The effective document: included shared documents, then the environment's own.
    pub toml: String,
}

impl SecretsVersion {
    /// What a runner applies and reports: the effective revision.
    pub fn revision(&self) -> i64 {
        self.revision.unwrap_or(self.version)
    }

    /// What this revision is made of, as a running copy reports it:
    /// `{"version": own, "shared": [{"name", "version"}, …]}`.
    pub fn parts(&self) -> Value {
        let shared: Vec<Value> = self
            .includes
            .iter()
            .map(|i| json!({ "name": i["document"], "version": i["version"] }))
            .collect();
        json!({ "version": self.version, "shared": shared })
    }
}

impl std::fmt::Debug for SecretsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsVersion")
            .field("app", &self.app)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A version's metadata (history entries, save results).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VersionInfo {
    pub version: i64,
    pub author: Option<String>,
    pub created_at: i64,
    pub message: Option<String>,
    pub changes: Value,
    pub restored_from: Option<i64>,
    /// True when a save changed nothing (the text was the newest version's already): no
    /// version was created and this is the newest one.
    #[serde(default)]
    pub unchanged: bool,
}

/// A token as returned once at creation.
#[derive(Clone, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub token: String,
    pub run_command: Option<String>,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub instance_id: String,
    pub hostname: String,
    pub pid: Option<i64>,
    /// The effective revision applied.
    pub applied_version: i64,
    /// Its parts ([`SecretsVersion::parts`]), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Value>,
    pub status: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    /// The app environment app routes go to; `None` is production (the routes without one).
    env: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the server at `server` (e.g. `http://127.0.0.1:8200`), with an optional token.
    pub fn new(server: &str, token: Option<String>) -> Result<Client> {
        let base = server_url(server)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| transport(&base, &e))?;
        Ok(Client {
            base,
            http,
            token,
            env: None,
        })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    /// The same client with app routes going to environment `env` (`None`: production).
    pub fn with_env(&self, env: Option<&str>) -> Client {
        Client {
            env: env.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The environment app routes go to (`None`: production).
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// `/apps/{app}`, or `/apps/{app}/envs/{env}` in an environment.
    fn app_path(&self, app: &str) -> String {
        match &self.env {
            Some(env) => format!("/apps/{}/envs/{}", enc(app), enc(env)),
            None => format!("/apps/{}", enc(app)),
        }
    }

    pub fn with_token(&self, token: String) -> Client {
        Client {
            token: Some(token),
            ..self.clone()
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}/api/v1{}", self.base, path));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends `req` and hands the whole answer to `read`; an error status becomes the server's
    /// error.
    async fn exchange<T>(
        &self,
        req: RequestBuilder,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let response = req.send().await.map_err(|e| transport(&self.base, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(&self.base, &e))?;
        if !status.is_success() {
            return Err(api_error(&self.base, status, &bytes));
        }
        read(&bytes)
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        self.exchange(req.timeout(Duration::from_secs(30)), |bytes| {
            let bytes = if bytes.is_empty() { b"null" } else { bytes };
            serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
        })
        .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<T> {
        self.send(self.request(method, path).json(&body)).await
    }

    /// The array under `field` of the object at `path`; an absent field is an empty list.
    async fn list(&self, path: &str, field: &str) -> Result<Vec<Value>> {
        let body: Value = self.get(path).await?;
        Ok(body[field].as_array().cloned().unwrap_or_default())
    }

    /// `field` of the object at `path`, decoded as a `T` (absent or mistyped: an error).
    async fn get_field<T: DeserializeOwned>(&self, path: &str, field: &str) -> Result<T> {
        let body: Value = self.get(path).await?;
        serde_json::from_value(body[field].clone()).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Deletes what `path` names; every DELETE route answers 204 without a body.
    async fn delete(&self, path: &str) -> Result<()> {
        self.send(self.request(Method::DELETE, path)).await
    }

    // ---- sign-in ----

    /// Trades a name and password for a personal access token (`hush login`).
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        token_name: &str,
    ) -> Result<CreatedToken> {
        self.login_replacing(name, password, token_name, None).await
    }

    /// What the server's sign-in offers: `enabled` (single sign-on is set up), the provider's
    /// `name`, and `password_login`. Needs no token.
    pub async fn sso_info(&self) -> Result<Value> {
        self.get("/auth/sso").await
    }

    /// `hush login --sso`: trades the one-time code the server's single sign-on sent to the
    /// CLI's loopback listener for a personal token, revoking `replaces` once it exists.
    pub async fn sso_exchange(
        &self,
        code: &str,
        token_name: &str,
        replaces: Option<&str>,
    ) -> Result<CreatedToken> {
        self.call(
            Method::POST,
            "/auth/sso/exchange",
            json!({ "code": code, "token_name": token_name, "replaces": replaces }),
        )
        .await
    }

    /// [`Client::login`], revoking `replaces` (the token this machine saved last time) once
    /// the new token exists.
    pub async fn login_replacing(
        &self,
        name: &str,
        password: &str,
        token_name: &str,
        replaces: Option<&str>,
    ) -> Result<CreatedToken> {
        self.call(
            Method::POST,
            "/auth/token",
            json!({ "name": name, "password": password, "token_name": token_name, "replaces": replaces }),
        )
        .await
    }

    /// Changes your password (the current one is checked again); your sessions end.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        self.send::<Value>(
            self.request(Method::POST, "/account/password")
                .json(&json!({ "current_password": current, "new_password": new })),
        )
        .await
        .map(|_| ())
    }

    /// Ends every session of yours; with `revoke_tokens`, every personal token too.
    pub async fn logout_all(&self, revoke_tokens: bool) -> Result<()> {
        self.send::<Value>(self.request(
            Method::POST,
            &format!("/auth/logout-all?revoke_tokens={revoke_tokens}"),
        ))
        .await
        .map(|_| ())
    }

    pub async fn me(&self) -> Result<Value> {
        self.get("/me").await
    }

    pub async fn health(&self) -> Result<Value> {
        self.get("/health").await
    }

    // ---- apps ----

    pub async fn apps(&self) -> Result<Vec<Value>> {
        self.list("/apps", "apps").await
    }

    pub async fn app(&self, app: &str) -> Result<Value> {
        self.get(&format!("/apps/{}", enc(app))).await
    }

    /// Creates an app, with its first secrets when `toml` is given.
    pub async fn create_app(
        &self,
        name: &str,
        toml: Option<&str>,
        launch: Option<Value>,
    ) -> Result<Value> {
        self.call(
            Method::POST,
            "/apps",
            json!({ "name": name, "toml": toml, "launch": launch }),
        )
        .await
    }

    pub async fn delete_app(&self, app: &str) -> Result<()> {
        self.delete(&format!("/apps/{}", enc(app))).await
    }

    // ---- secrets ----

    /// The newest secrets (an app token for this app, or an editor).
    pub async fn secrets(&self, app: &str) -> Result<SecretsVersion> {
        self.get(&format!("{}/secrets", self.app_path(app))).await
    }

    /// The environment's own document, which an edit starts from: [`Client::secrets`] without
    /// its included shared documents (editors).
    pub async fn document(&self, app: &str) -> Result<SecretsVersion> {
        let secrets = self.secrets(app).await?;
        if secrets.includes.is_empty() {
            return Ok(secrets);
        }
        let toml = if secrets.version == 0 {
            String::new()
        } else {
            self.version(app, secrets.version).await?.toml
        };
        Ok(SecretsVersion { toml, ..secrets })
    }

    /// Saves a new version on top of `base_version`; a stale base is a 409 with what was saved since.
    pub async fn save_secrets(
        &self,
        app: &str,
        toml: &str,
        base_version: i64,
        message: Option<&str>,
    ) -> Result<VersionInfo> {
        self.call(
            Method::PUT,
            &format!("{}/secrets", self.app_path(app)),
            json!({ "toml": toml, "base_version": base_version, "message": message }),
        )
        .await
    }

    pub async fn keys(&self, app: &str) -> Result<Value> {
        self.get(&format!("{}/keys", self.app_path(app))).await
    }

    pub async fn versions(&self, app: &str) -> Result<Vec<VersionInfo>> {
        self.get_field(&format!("{}/versions", self.app_path(app)), "versions")
            .await
    }

    pub async fn version(&self, app: &str, version: i64) -> Result<SecretsVersionWithMeta> {
        self.get(&format!("{}/versions/{version}", self.app_path(app)))
            .await
    }

    pub async fn diff(&self, app: &str, from: i64, to: Option<i64>) -> Result<Value> {
        let to = to.map(|t| format!("&to={t}")).unwrap_or_default();
        self.get(&format!("{}/diff?from={from}{to}", self.app_path(app)))
            .await
    }

    pub async fn rollback(
        &self,
        app: &str,
        version: i64,
        base_version: i64,
    ) -> Result<VersionInfo> {
        self.call(
            Method::POST,
            &format!("{}/rollback", self.app_path(app)),
            json!({ "version": version, "base_version": base_version }),
        )
        .await
    }

    /// The editor's check; with an app, the difference from its newest version in this
    /// client's environment.
    pub async fn validate(&self, toml: &str, app: Option<&str>) -> Result<Value> {
        let env = app.and(self.env.as_deref());
        self.call(
            Method::POST,
            "/validate",
            json!({ "toml": toml, "app": app, "env": env }),
        )
        .await
    }

    // ---- running copies ----

    pub async fn report_instance(&self, app: &str, report: &InstanceReport) -> Result<()> {
        let req = self
            .request(Method::POST, &format!("{}/instances", self.app_path(app)))
            .json(report);
        self.send(req).await
    }

    pub async fn instances(&self, app: &str) -> Result<Vec<Value>> {
        self.list(&format!("{}/instances", self.app_path(app)), "instances")
            .await
    }

    /// Opens the app's watch stream: yields each new version number, starting with the newest
    /// one after `last_seen` (0 = none). Ends with an error when the connection breaks or stays
    /// silent longer than `idle` (the server sends heartbeats well within it); reconnecting is
    /// the caller's choice.
    pub async fn watch(
        &self,
        app: &str,
        last_seen: i64,
        idle: Duration,
    ) -> Result<impl Stream<Item = Result<i64>> + use<>> {
        let mut req = self
            .request(Method::GET, &format!("{}/watch", self.app_path(app)))
            .header("accept", "text/event-stream");
        if last_seen > 0 {
            req = req.header("last-event-id", last_seen.to_string());
        }
        let response = req.send().await.map_err(|e| transport(&self.base, &e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport(&self.base, &e))?;
            return Err(api_error(&self.base, status, &bytes));
        }
        let server = self.base.clone();
        let bytes = futures::stream::unfold(response.bytes_stream(), move |mut body| {
            let server = server.clone();
            async move {
                match tokio::time::timeout(idle, body.next()).await {
                    Ok(Some(chunk)) => Some((chunk.map_err(|e| transport(&server, &e)), body)),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(ClientError::Transport(format!(
                            "the watch stream from {server} went silent"
                        ))),
                        body,
                    )),
                }
            }
        });
        let events = bytes.eventsource().filter_map(|event| async move {
            match event {
                Ok(event) if event.event == "version" => {
                    Some(event.id.parse::<i64>().map_err(|_| {
                        ClientError::Decode("a version event without a number".into())
                    }))
                }
                Ok(_) => None,
                Err(eventsource_stream::EventStreamError::Transport(e)) => Some(Err(e)),
                Err(e) => Some(Err(ClientError::Decode(e.to_string()))),
            }
        });
        // Stop after the first error: the connection is done.
        Ok(events.scan(false, |failed, item| {
            let out = if *failed { None } else { Some(item) };
            if let Some(Err(_)) = &out {
                *failed = true;
            }
            futures::future::ready(out)
        }))
    }

    // ---- environments and shared documents ----

    /// The app's environments (`{"app", "envs": [{name, version, revision, includes}]}`).
    pub async fn envs(&self, app: &str) -> Result<Value> {
        self.get(&format!("/apps/{}/envs", enc(app))).await
    }

    pub async fn create_env(&self, app: &str, env: &str) -> Result<Value> {
        self.call(
            Method::POST,
            &format!("/apps/{}/envs", enc(app)),
            json!({ "name": env }),
        )
        .await
    }

    pub async fn delete_env(&self, app: &str, env: &str) -> Result<()> {
        self.delete(&format!("/apps/{}/envs/{}", enc(app), enc(env)))
            .await
    }

    /// The shared documents environment `env` includes, in order.
    pub async fn includes(&self, app: &str, env: &str) -> Result<Vec<String>> {
        self.get_field(
            &format!("/apps/{}/envs/{}/includes", enc(app), enc(env)),
            "documents",
        )
        .await
    }

    pub async fn set_includes(&self, app: &str, env: &str, documents: &[&str]) -> Result<Value> {
        self.call(
            Method::PUT,
            &format!("/apps/{}/envs/{}/includes", enc(app), enc(env)),
            json!({ "documents": documents }),
        )
        .await
    }

    /// The effective document of `env` with each root key's source.
    pub async fn effective(&self, app: &str, env: &str) -> Result<Value> {
        self.get(&format!("/apps/{}/envs/{}/effective", enc(app), enc(env)))
            .await
    }

    /// Key-level comparison of two environments' effective documents.
    pub async fn compare(&self, app: &str, a: &str, b: &str) -> Result<Value> {
        self.get(&format!(
            "/apps/{}/compare?a={}&b={}",
            enc(app),
            enc(a),
            enc(b)
        ))
        .await
    }

    pub async fn shared_docs(&self) -> Result<Vec<Value>> {
        self.get_field("/shared", "documents").await
    }

    pub async fn create_shared(&self, name: &str, toml: Option<&str>) -> Result<Value> {
        self.call(
            Method::POST,
            "/shared",
            json!({ "name": name, "toml": toml }),
        )
        .await
    }

    /// One shared document: keys and masked values; the text for editors.
    pub async fn shared_doc(&self, name: &str) -> Result<Value> {
        self.get(&format!("/shared/{}", enc(name))).await
    }

    pub async fn save_shared(
        &self,
        name: &str,
        toml: &str,
        base_version: i64,
        message: Option<&str>,
    ) -> Result<VersionInfo> {
        self.call(
            Method::PUT,
            &format!("/shared/{}", enc(name)),
            json!({ "toml": toml, "base_version": base_version, "message": message }),
        )
        .await
    }

    pub async fn delete_shared(&self, name: &str) -> Result<()> {
        self.delete(&format!("/shared/{}", enc(name))).await
    }

    pub async fn shared_versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        self.get_field(&format!("/shared/{}/versions", enc(name)), "versions")
            .await
    }

    /// One version of a shared document: its text for editors, key names and masked values
    /// for everyone.
    pub async fn shared_version(&self, name: &str, version: i64) -> Result<Value> {
        self.get(&format!("/shared/{}/versions/{version}", enc(name)))
            .await
    }

    /// Which keys differ between two versions of a shared document (names only).
    pub async fn shared_diff(&self, name: &str, from: i64, to: Option<i64>) -> Result<Value> {
        let to = to.map(|t| format!("&to={t}")).unwrap_or_default();
        self.get(&format!("/shared/{}/diff?from={from}{to}", enc(name)))
            .await
    }

    /// Saves an old version's text as the shared document's newest version.
    pub async fn shared_rollback(
        &self,
        name: &str,
        version: i64,
        base_version: i64,
    ) -> Result<VersionInfo> {
        self.call(
            Method::POST,
            &format!("/shared/{}/rollback", enc(name)),
            json!({ "version": version, "base_version": base_version }),
        )
        .await
    }

    // ---- tokens ----

    pub async fn create_app_token(
        &self,
        app: &str,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken> {
        self.call(
            Method::POST,
            "/tokens",
            json!({ "kind": "app", "app": app, "env": self.env, "name": name, "expires_in_days": expires_in_days }),
        )
        .await
    }

    pub async fn create_personal_token(
        &self,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedToken> {
        self.call(
            Method::POST,
            "/tokens",
            json!({ "kind": "personal", "name": name, "expires_in_days": expires_in_days }),
        )
        .await
    }

    /// An app's tokens (`Some(app)`) or your own personal tokens (`None`).
    pub async fn tokens(&self, app: Option<&str>) -> Result<Vec<Value>> {
        let path = match app {
            Some(app) => format!("/tokens?app={}", enc(app)),
            None => "/tokens".to_string(),
        };
        self.list(&path, "tokens").await
    }

    pub async fn revoke_token(&self, id: i64) -> Result<()> {
        self.delete(&format!("/tokens/{id}")).await
    }

    // ---- members and audit ----

    pub async fn members(&self) -> Result<Vec<Value>> {
        self.list("/members", "members").await
    }

    /// A one-time link for one person to join with `role`.
    pub async fn invite(&self, role: &str) -> Result<Value> {
        self.call(Method::POST, "/invites", json!({ "role": role }))
            .await
    }

    /// Invitations that can still be used (owners).
    pub async fn invites(&self) -> Result<Vec<Value>> {
        self.list("/invites", "invites").await
    }

    /// Revokes an unused invitation: its link stops working at once (owners).
    pub async fn revoke_invite(&self, id: i64) -> Result<()> {
        self.delete(&format!("/invites/{id}")).await
    }

    /// What a one-time link is for (its role, who invited) without using it.
    pub async fn link_info(&self, token: &str) -> Result<Value> {
        self.call(Method::POST, "/auth/link", json!({ "token": token }))
            .await
    }

    pub async fn set_role(&self, member_id: i64, role: &str) -> Result<()> {
        self.call(
            Method::PATCH,
            &format!("/members/{member_id}"),
            json!({ "role": role }),
        )
        .await
    }

    pub async fn remove_member(&self, member_id: i64) -> Result<()> {
        self.delete(&format!("/members/{member_id}")).await
    }

    /// Sets a member's role on one app: `none`, `viewer` or `editor` (owners).
    pub async fn set_app_role(&self, app: &str, member_id: i64, role: &str) -> Result<Value> {
        self.set_role_on(&format!("/apps/{}", enc(app)), member_id, role)
            .await
    }

    /// Removes a member's role on one app: their workspace role applies there again (owners).
    pub async fn remove_app_role(&self, app: &str, member_id: i64) -> Result<()> {
        self.remove_role_on(&format!("/apps/{}", enc(app)), member_id)
            .await
    }

    /// The per-app roles set on one app (owners).
    pub async fn app_roles(&self, app: &str) -> Result<Vec<Value>> {
        self.roles_on(&format!("/apps/{}", enc(app))).await
    }

    /// Sets a member's role on one shared document: `viewer` or `editor` (owners).
    pub async fn set_shared_role(&self, doc: &str, member_id: i64, role: &str) -> Result<Value> {
        self.set_role_on(&format!("/shared/{}", enc(doc)), member_id, role)
            .await
    }

    /// Removes a member's role on one shared document: their workspace role applies to it
    /// again (owners).
    pub async fn remove_shared_role(&self, doc: &str, member_id: i64) -> Result<()> {
        self.remove_role_on(&format!("/shared/{}", enc(doc)), member_id)
            .await
    }

    /// The roles members have on one shared document (owners).
    pub async fn shared_roles(&self, doc: &str) -> Result<Vec<Value>> {
        self.roles_on(&format!("/shared/{}", enc(doc))).await
    }

    /// `PUT {target}/roles/{member}`: `target` is an app's or a shared document's path.
    async fn set_role_on(&self, target: &str, member_id: i64, role: &str) -> Result<Value> {
        self.call(
            Method::PUT,
            &format!("{target}/roles/{member_id}"),
            json!({ "role": role }),
        )
        .await
    }

    async fn remove_role_on(&self, target: &str, member_id: i64) -> Result<()> {
        self.delete(&format!("{target}/roles/{member_id}")).await
    }

    async fn roles_on(&self, target: &str) -> Result<Vec<Value>> {
        self.list(&format!("{target}/roles"), "roles").await
    }

    /// Trusts an issuer's workload tokens for `app` (owners); `trust` is the body of
    /// `POST /apps/{app}/workload-trusts` (issuer, jwks_url, audience, conditions, token_minutes).
    pub async fn add_workload_trust(&self, app: &str, trust: Value) -> Result<Value> {
        self.call(
            Method::POST,
            &format!("/apps/{}/workload-trusts", enc(app)),
            trust,
        )
        .await
    }

    /// The issuers `app` trusts (owners).
    pub async fn workload_trusts(&self, app: &str) -> Result<Vec<Value>> {
        self.list(&format!("/apps/{}/workload-trusts", enc(app)), "trusts")
            .await
    }

    /// Stops trusting one issuer for `app` (owners).
    pub async fn remove_workload_trust(&self, app: &str, id: i64) -> Result<()> {
        self.delete(&format!("/apps/{}/workload-trusts/{id}", enc(app)))
            .await
    }

    /// Trades a workload's signed JWT for a short-lived app token of `app` (no credentials
    /// needed): `{token, app, expires_at}`.
    pub async fn exchange_workload_token(&self, app: &str, jwt: &str) -> Result<WorkloadToken> {
        self.call(
            Method::POST,
            "/auth/workload",
            json!({ "app": app, "token": jwt }),
        )
        .await
    }

    /// A member's per-app roles (owners, or the member themselves).
    pub async fn member_app_roles(&self, member_id: i64) -> Result<Vec<Value>> {
        self.list(&format!("/members/{member_id}/app-roles"), "roles")
            .await
    }

    /// Audit entries, newest first; `query` is the filter as URL parameters (`action=secrets.&app=web`).
    pub async fn audit(&self, query: &str) -> Result<Vec<Value>> {
        self.list(&format!("/audit?{query}"), "events").await
    }

    /// The audit log as JSON lines.
    pub async fn audit_export(&self, query: &str) -> Result<String> {
        let req = self.request(Method::GET, &format!("/audit?format=jsonl&{query}"));
        self.exchange(req, |bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|e| ClientError::Decode(e.to_string()))
        })
        .await
    }

    /// Uses an invitation or the first-run setup link; returns the new member.
    pub async fn accept_invite(&self, token: &str, name: &str, password: &str) -> Result<Value> {
        self.call(
            Method::POST,
            "/auth/accept",
            json!({ "token": token, "name": name, "password": password }),
        )
        .await
    }
}

/// An app token from a workload token exchange. No `Debug` of the token.
#[derive(Clone, Deserialize)]
pub struct WorkloadToken {
    pub token: String,
    pub app: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

impl std::fmt::Debug for WorkloadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadToken")
            .field("app", &self.app)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One version with its text (history view; editors only).
#[derive(Clone, Deserialize)]
pub struct SecretsVersionWithMeta {
    #[serde(flatten)]
    pub info: VersionInfo,
    pub toml: String,
}

impl std::fmt::Debug for SecretsVersionWithMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsVersionWithMeta")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// An error answer. One without hush's `{"error", "message"}` body most likely came from
/// something else at that address (another server, a proxy), and the message says so.
fn api_error(server: &str, status: StatusCode, bytes: &[u8]) -> ClientError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    ClientError::Api {
        status: status.as_u16(),
        code: body["error"].as_str().unwrap_or("http_error").to_string(),
        message: body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "{server} answered HTTP {status} without saying why; check that this \
                     address is a hush server (a proxy in front of it may have answered)"
                )
            }),
        body,
    }
}

/// App names are `[a-z0-9_-]`, but a typo must not turn into another path.
fn enc(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(server: &str) -> String {
        match server_url(server) {
            Err(ClientError::Transport(why)) => why,
            other => panic!("{server:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn server_addresses_need_a_scheme_and_hold_no_credentials() {
        assert_eq!(
            server_url(" http://127.0.0.1:8200/ ").unwrap(),
            "http://127.0.0.1:8200"
        );
        assert_eq!(
            server_url("https://hush.example.com/base").unwrap(),
            "https://hush.example.com/base"
        );
        // The usual slip, and one that parses as a URL with the scheme "localhost".
        for bare in ["127.0.0.1:8200", "localhost:8200"] {
            let why = refused(bare);
            assert!(why.contains(&format!("e.g. http://{bare}")), "{why}");
        }
        assert!(refused("ftp://host").contains("http://"));
        assert!(refused("").contains("no server address"));
        let why = refused("http://olivia:hunter2@host:8200");
        assert!(
            why.contains("user name or password") && !why.contains("hunter2"),
            "{why}"
        );
        // A token pasted in the wrong place is not repeated.
        assert!(!refused("hush_pat_abcdef").contains("abcdef"));
        assert!(refused("http://host/?x=1").contains("?query"));
    }

    #[test]
    fn os_error_codes_are_dropped() {
        assert_eq!(
            without_os_error("Connection refused (os error 111)"),
            "Connection refused"
        );
        assert_eq!(without_os_error("plain"), "plain");
    }
}
