//! Who is asking: web sessions (cookie + CSRF token), personal access tokens and app tokens;
//! password hashing; sign-in rate limits.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use hush_crypto::{ct_eq, token_hash};
use hush_store::{Millis, Role, StoreError, TokenKind, TokenRecord, User};

use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_millis};

pub const SESSION_COOKIE: &str = "hush_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Clone)]
pub enum Principal {
    /// A person, signed in through the panel (with the session's CSRF token) or with a personal token.
    User {
        user: User,
        csrf: Option<String>,
        ip: Option<String>,
    },
    /// A running app, with a token that can read only its own app.
    App {
        token_id: i64,
        /// The token's name, for the audit log ("prod", "ci"…).
        token_name: String,
        app_id: i64,
        ip: Option<String>,
    },
}

impl Principal {
    pub fn user(&self) -> ApiResult<&User> {
        match self {
            Principal::User { user, .. } => Ok(user),
            Principal::App { .. } => Err(ApiError::forbidden(
                "an app token can only read its own app's secrets",
            )),
        }
    }

    /// The signed-in person, if their role is at least `role`.
    pub fn require(&self, role: Role) -> ApiResult<&User> {
        let user = self.user()?;
        if user.role >= role {
            Ok(user)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; you are {}",
                role.as_str(),
                user.role.as_str()
            )))
        }
    }

    pub fn ip(&self) -> Option<String> {
        match self {
            Principal::User { ip, .. } | Principal::App { ip, .. } => ip.clone(),
        }
    }
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Threads that hash and check passwords (Argon2id), never on the async threads.
const HASHING_THREADS: usize = 2;
/// Sign-ins waiting for a hashing thread before new ones are turned away.
const HASHING_QUEUE: usize = 64;

/// Hashes and checks passwords on a small fixed set of threads: at most [`HASHING_THREADS`]
/// Argon2 computations (each holds megabytes) run at once, so a burst of sign-ins can neither
/// starve the server's CPU nor grow its memory without bound.
pub struct Passwords {
    /// Checked when the user does not exist, so both answers take the same time.
    dummy_hash: String,
    jobs: std::sync::mpsc::SyncSender<HashJob>,
}

impl Passwords {
    pub fn new() -> Passwords {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(HASHING_QUEUE);
        let queue = std::sync::Arc::new(Mutex::new(queue));
        for i in 0..HASHING_THREADS {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("hush-argon2-{i}"))
                .spawn(move || {
                    // Ends when the server's Passwords is dropped.
                    while let Ok(job) = queue
                        .lock()
                        .map_err(|_| ())
                        .and_then(|q| q.recv().map_err(|_| ()))
                    {
                        job();
                    }
                })
                .expect("start a password hashing thread");
        }
        let dummy = hush_crypto::new_token("dummy_");
        Passwords {
            dummy_hash: hash_blocking(&dummy),
            jobs,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.try_send(job).map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins at once; try again in a moment",
            )
        })?;
        result.await.map_err(|_| ApiError::internal())
    }

    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move || hash_blocking(&password)).await
    }

    /// `true` only when `stored` is Some and matches; does the same work when it is None.
    pub async fn verify(&self, password: String, stored: Option<String>) -> ApiResult<bool> {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.clone(), false),
        };
        let ok = self
            .run(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(ok && real)
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

/// Argon2id PHC string for `password` (blocking: call it off the async threads).
pub fn hash_password(password: &str) -> String {
    hash_blocking(password)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::encode_b64(&hush_crypto::random_bytes::<16>())
        .expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters")
        .to_string()
}

/// Argon2id with OWASP's "m = 7 MiB, t = 5, p = 1" (as strong as the crate's default m = 19 MiB,
/// t = 2, with a third of the memory held per sign-in: a burst of sign-ins cannot balloon the
/// server). Existing hashes verify with the parameters stored in them.
fn argon2() -> Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).expect("valid Argon2 parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

pub fn check_password_rules(password: &str) -> ApiResult<()> {
    if password.chars().count() < 10 {
        return Err(ApiError::bad_request(
            "password: use at least 10 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::bad_request("password: use at most 1024 bytes"));
    }
    Ok(())
}

/// How many names and addresses the limiter tracks before it drops those outside the window.
const LIMITER_KEYS: usize = 10_000;

/// Sign-in failures per account and per address in a sliding window.
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Millis>>>,
    window: Duration,
    per_account: usize,
    per_address: usize,
}

impl LoginLimiter {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> Self {
        LoginLimiter {
            failures: Mutex::default(),
            window,
            per_account,
            per_address,
        }
    }

    fn keys(name: &str, ip: Option<&str>) -> [String; 2] {
        [
            format!("user:{}", name.to_lowercase()),
            format!("ip:{}", ip.unwrap_or("-")),
        ]
    }

    pub fn check(&self, name: &str, ip: Option<&str>) -> ApiResult<()> {
        let now = now_millis();
        let window = self.window.as_millis() as i64;
        let mut map = self.failures.lock().expect("limiter lock");
        let [account, address] = Self::keys(name, ip);
        for (key, limit) in [(account, self.per_account), (address, self.per_address)] {
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now - t < window);
                if times.len() >= limit {
                    return Err(ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        format!(
                            "too many failed sign-ins; wait {} minutes and try again",
                            self.window.as_secs().div_ceil(60)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, name: &str, ip: Option<&str>) {
        let now = now_millis();
        let window = self.window.as_millis() as i64;
        let mut map = self.failures.lock().expect("limiter lock");
        for key in Self::keys(name, ip) {
            map.entry(key).or_default().push(now);
        }
        // Names are the caller's to choose: forget what is outside the window before the map
        // grows large.
        if map.len() > LIMITER_KEYS {
            map.retain(|_, times| {
                times.retain(|t| now - t < window);
                !times.is_empty()
            });
        }
    }

    pub fn succeeded(&self, name: &str) {
        let [account, _] = Self::keys(name, None);
        self.failures.lock().expect("limiter lock").remove(&account);
    }
}

/// App tokens seen recently, by hash (the hot read path), and when tokens were last used.
#[derive(Default)]
pub struct TokenCache {
    by_hash: Mutex<HashMap<[u8; 32], TokenRecord>>,
    last_used: Mutex<HashMap<i64, Millis>>,
    /// Bumped by every revocation: a lookup that raced one does not cache what it read.
    revocations: std::sync::atomic::AtomicU64,
}

impl TokenCache {
    fn generation(&self) -> u64 {
        self.revocations.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn forget(&self, token_id: i64) {
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.by_hash
            .lock()
            .expect("token cache lock")
            .retain(|_, t| t.id != token_id);
    }

    pub fn forget_all(&self) {
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.by_hash.lock().expect("token cache lock").clear();
    }

    pub fn forget_app(&self, app_id: i64) {
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.by_hash
            .lock()
            .expect("token cache lock")
            .retain(|_, t| t.app_id != Some(app_id));
    }

    pub fn take_last_used(&self) -> Vec<(i64, Millis)> {
        self.last_used
            .lock()
            .expect("token cache lock")
            .drain()
            .collect()
    }
}

/// The CSRF token of a session: derived from the session token, so it needs no storage and is
/// useless without the (HttpOnly) cookie.
pub fn csrf_for(session_token: &str) -> String {
    hex::encode(token_hash(&format!("hush csrf v1:{session_token}")))
}

pub fn session_cookie(token: &str, secure: bool, max_age: Duration) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The caller's address: the socket peer, or the first `X-Forwarded-For` hop when the server is
/// told it sits behind a proxy.
pub fn client_ip(state: &AppState, parts: &Parts) -> Option<String> {
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        // The trusted proxy appends the address it saw; anything before it is the client's word.
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    if let (true, Some(ip)) = (state.config.trust_forwarded_for, forwarded) {
        return Some(ip.to_string());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// The caller's address, as an extractor.
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(state, parts)))
    }
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(state, parts);
        if let Some(token) = bearer(&parts.headers) {
            return authenticate_token(state, token, ip).await;
        }
        let Some(session_token) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(ApiError::unauthorized());
        };
        let csrf = csrf_for(session_token);
        if !is_safe_method(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !ct_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::forbidden(
                    "missing or wrong CSRF token: reload the page and try again",
                )
                .with_code("csrf"));
            }
        }
        let user = authenticate_session(state, session_token).await?;
        Ok(Principal::User {
            user,
            csrf: Some(csrf),
            ip,
        })
    }
}

/// A valid session's user; expired or idle sessions are deleted.
pub async fn authenticate_session(state: &AppState, session_token: &str) -> ApiResult<User> {
    let hash = token_hash(session_token);
    let session = match state.store.find_session(&hash).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(ApiError::unauthorized()),
        Err(e) => return Err(e.into()),
    };
    let now = now_millis();
    let idle = state.config.session_idle.as_millis() as i64;
    if now >= session.expires_at || now - session.last_seen_at >= idle {
        state.store.delete_session(&hash).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "your session has ended; sign in again",
        ));
    }
    // Record activity often enough for the idle timeout, but not on every request.
    if now - session.last_seen_at > (idle / 4).min(60_000) {
        state.store.touch_session(session.id, now).await?;
    }
    Ok(state.store.get_user(session.user_id).await?)
}

async fn authenticate_token(
    state: &AppState,
    token: &str,
    ip: Option<String>,
) -> ApiResult<Principal> {
    let hash = token_hash(token);
    let cached = state
        .tokens
        .by_hash
        .lock()
        .expect("token cache lock")
        .get(&hash)
        .cloned();
    let generation = state.tokens.generation();
    let record = match cached {
        Some(record) => record,
        None => match state.store.find_token(&hash).await {
            Ok(record) => {
                if record.kind == TokenKind::App && generation == state.tokens.generation() {
                    state
                        .tokens
                        .by_hash
                        .lock()
                        .expect("token cache lock")
                        .insert(hash, record.clone());
                }
                record
            }
            Err(StoreError::NotFound) => return Err(ApiError::unauthorized()),
            Err(e) => return Err(e.into()),
        },
    };
    let now = now_millis();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| now >= e) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "this token was revoked or has expired; create a new one",
        ));
    }
    state
        .tokens
        .last_used
        .lock()
        .expect("token cache lock")
        .insert(record.id, now);
    match (record.kind, record.app_id, record.user_id) {
        (TokenKind::App, Some(app_id), _) => Ok(Principal::App {
            token_id: record.id,
            token_name: record.name.clone(),
            app_id,
            ip,
        }),
        (TokenKind::Personal, _, Some(user_id)) => {
            let user = state.store.get_user(user_id).await.map_err(|e| match e {
                StoreError::NotFound => ApiError::unauthorized(),
                e => e.into(),
            })?;
            Ok(Principal::User {
                user,
                csrf: None,
                ip,
            })
        }
        _ => Err(ApiError::unauthorized()),
    }
}

impl ApiError {
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}
