//! Who is asking: web sessions (cookie + CSRF token), personal access tokens and app tokens.
//! `passwords` checks passwords off the async threads, `limiter` throttles sign-ins, `tokens`
//! caches app tokens for the hot read path.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use hush_crypto::{ct_eq, token_hash};
use hush_store::{
    ActorKind, Millis, Role, Session, StoreError, StoreEvent, TokenKind, TokenRecord, User,
    now_millis,
};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub mod limiter;
pub mod passwords;
pub mod sso;
pub mod tokens;
pub mod workload;

pub use limiter::SignInLimiter;
pub use passwords::Passwords;
pub use tokens::TokenCache;

pub const SESSION_COOKIE: &str = "hush_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a signed-in person proved who they are.
#[derive(Clone)]
pub enum Credential {
    /// The panel: a session cookie, and the session's CSRF token.
    Session {
        csrf: String,
        id: i64,
        /// When the session ends unless it is used meanwhile (idle), or for good.
        ends_at: Millis,
    },
    /// A personal access token (the CLI, scripts).
    Token { id: i64 },
}

/// An authenticated caller.
#[derive(Clone)]
pub enum Principal {
    /// A person, signed in through the panel or with a personal token.
    User {
        user: User,
        via: Credential,
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
            )
            .by(self)),
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
            ))
            .by(self))
        }
    }

    /// Who this is in the audit log: a member (by user id) or a token (by token id).
    pub fn actor(&self) -> (ActorKind, Option<i64>) {
        match self {
            Principal::User { user, .. } => (ActorKind::User, Some(user.id)),
            Principal::App { token_id, .. } => (ActorKind::Token, Some(*token_id)),
        }
    }

    pub fn ip(&self) -> Option<String> {
        match self {
            Principal::User { ip, .. } | Principal::App { ip, .. } => ip.clone(),
        }
    }

    /// The session's CSRF token, when signed in through the panel.
    pub fn csrf(&self) -> Option<&str> {
        match self {
            Principal::User {
                via: Credential::Session { csrf, .. },
                ..
            } => Some(csrf),
            _ => None,
        }
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

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The caller's address: the socket peer, or the last `X-Forwarded-For` hop when the server is
/// told it sits behind a proxy (the proxy appends the address it saw; anything before it is the
/// client's word).
pub fn client_ip(state: &AppState, parts: &Parts) -> Option<String> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    client_ip_of(state, &parts.headers, peer)
}

/// [`client_ip`] from the headers and the socket peer.
pub(crate) fn client_ip_of(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<String> {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    if let (true, Some(ip)) = (state.config.trust_forwarded_for, forwarded) {
        return Some(ip.to_string());
    }
    peer.map(|ip| ip.to_string())
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
        let (user, session) = authenticate_session(state, session_token).await?;
        let idle = state.config.session_idle.as_millis() as i64;
        Ok(Principal::User {
            user,
            via: Credential::Session {
                csrf,
                id: session.id,
                ends_at: session.expires_at.min(session.last_seen_at + idle),
            },
            ip,
        })
    }
}

/// A valid session's user, and the session as it now is; expired or idle sessions are deleted.
pub async fn authenticate_session(
    state: &AppState,
    session_token: &str,
) -> ApiResult<(User, Session)> {
    let hash = token_hash(session_token);
    let session = match state.store.find_session(&hash).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(ApiError::unauthorized()),
        Err(e) => return Err(e.into()),
    };
    let now = now_millis();
    let idle = state.config.session_idle.as_millis() as i64;
    if now >= session.expires_at || now - session.last_seen_at >= idle {
        end_session(state, &hash).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_expired",
            "your session has ended; sign in again",
        ));
    }
    // Record activity often enough for the idle timeout, but not on every request.
    let mut session = session;
    if now - session.last_seen_at > (idle / 4).min(60_000) {
        state.store.touch_session(session.id, now).await?;
        session.last_seen_at = now;
    }
    Ok((state.store.get_user(session.user_id).await?, session))
}

/// Deletes the session with this token hash here and everywhere; what it opened (watch
/// streams) ends with it.
pub async fn end_session(state: &AppState, hash: &[u8]) -> ApiResult<()> {
    if let Some(session_id) = state.store.delete_session(hash).await? {
        state.apply_event(&StoreEvent::SessionEnded { session_id });
    }
    Ok(())
}

async fn authenticate_token(
    state: &AppState,
    token: &str,
    ip: Option<String>,
) -> ApiResult<Principal> {
    let hash = token_hash(token);
    let record = match state.tokens.get(&hash) {
        Some(record) => record,
        None => {
            let generation = state.tokens.generation();
            match state.store.find_token(&hash).await {
                Ok(record) => {
                    // Personal tokens too: the user is still read on every request (a role
                    // change counts at once), and a removed member's tokens leave the cache.
                    state
                        .tokens
                        .insert_if_current(hash, record.clone(), generation);
                    record
                }
                Err(StoreError::NotFound) => return Err(ApiError::unauthorized()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let now = now_millis();
    if !is_live(&record, now) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "this token was revoked or has expired; create a new one",
        ));
    }
    state.tokens.used(record.id, now);
    if let Some(app) = app_principal(&record, ip.clone()) {
        return Ok(app);
    }
    match (record.kind, record.user_id) {
        (TokenKind::Personal, Some(user_id)) => {
            let user = state.store.get_user(user_id).await.map_err(|e| match e {
                StoreError::NotFound => ApiError::unauthorized(),
                e => e.into(),
            })?;
            Ok(Principal::User {
                user,
                via: Credential::Token { id: record.id },
                ip,
            })
        }
        _ => Err(ApiError::unauthorized()),
    }
}

/// The caller an app token stands for when the token cache knows it and it is live, its use
/// recorded as [`authenticate_token`] does; `None` when only the full check can answer (the
/// fast read path then leaves the request to the router).
pub(crate) fn cached_app_token(
    state: &AppState,
    token: &str,
    ip: Option<String>,
) -> Option<Principal> {
    let record = state.tokens.get(&token_hash(token))?;
    let now = now_millis();
    if !is_live(&record, now) {
        return None;
    }
    let app = app_principal(&record, ip)?;
    state.tokens.used(record.id, now);
    Some(app)
}

fn is_live(record: &TokenRecord, now: i64) -> bool {
    record.revoked_at.is_none() && record.expires_at.is_none_or(|e| now < e)
}

fn app_principal(record: &TokenRecord, ip: Option<String>) -> Option<Principal> {
    match (record.kind, record.app_id) {
        (TokenKind::App, Some(app_id)) => Some(Principal::App {
            token_id: record.id,
            token_name: record.name.clone(),
            app_id,
            ip,
        }),
        _ => None,
    }
}
