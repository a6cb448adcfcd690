//! Signing in and out, first-run setup and invitation links, personal access tokens, `/me`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use hush_crypto::{new_token, token_hash};
use hush_store::{
    ActorKind, AuditEvent, InviteKind, MAX_NAME_CHARS, NewSession, NewUser, Outcome, StoreError,
    StoreEvent, TokenKind, User, check_member_name, name_key, now_millis,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::extract::Json;
use super::views::{
    AppTokenInfo, CreatedToken, LinkInfo, Me, Member, ServerInfo, SessionView, SetupStatus,
};
use crate::AppState;
use crate::auth::limiter::DEVICE_COOKIE;
use crate::auth::{self, ClientIp, Principal, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    password: String,
}

/// Whether the first owner still has to be created.
#[utoipa::path(get, path = "/setup", tag = "session", security(()),
    responses((status = 200, body = SetupStatus)))]
pub async fn setup_status(State(state): State<AppState>) -> ApiResult<axum::Json<SetupStatus>> {
    let users = state.store.user_count().await?;
    Ok(axum::Json(SetupStatus {
        needs_setup: users == 0,
    }))
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_credentials",
        "wrong name or password",
    )
}

/// Checks a name and password: throttled per account and per address (a browser that signed in
/// before keeps its own count), with the same answer (and work) for an unknown name as for a
/// wrong password.
pub(super) async fn verify_login(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    password: String,
    ip: Option<String>,
) -> ApiResult<User> {
    if !state.config.password_login {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "password_login_off",
            "this server signs people in through single sign-on only; use the SSO button or `hush login --sso`",
        ));
    }
    // No member has a longer name; such a request only fills the limiter and the audit log.
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_credentials());
    }
    let found = match state.store.find_user_credentials(name).await {
        Ok(pair) => Some(pair),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let device = match (&found, auth::cookie_value(headers, DEVICE_COOKIE)) {
        (Some((user, _)), Some(cookie)) => state.limiter.known_device(cookie, user.id),
        _ => None,
    };
    let attempt = state
        .limiter
        .begin(&name_key(name), device, ip.as_deref())
        .await?;
    let (user, hash) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
    let ok = state.passwords.verify(password, hash).await?;
    let mut event = AuditEvent {
        at: now_millis(),
        actor_kind: ActorKind::User,
        actor_id: user.as_ref().map(|u| u.id),
        actor_name: Some(name.to_string()),
        action: "auth.login".into(),
        app_id: None,
        app_name: None,
        ip,
        outcome: Outcome::Ok,
        detail: json!({ "known_device": device.is_some() }),
    };
    match user {
        Some(user) if ok => {
            attempt.succeeded().await?;
            state.audit.record_durably(event).await?;
            Ok(user)
        }
        _ => {
            attempt.failed();
            Metrics::inc(&state.metrics.logins_failed);
            event.outcome = Outcome::Failed;
            event.actor_kind = ActorKind::Anonymous;
            // Queued, so that a flood of wrong passwords folds into few rows.
            state.audit.record(event).await?;
            if state.store.user_count().await? == 0 {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "no_owner",
                    "this server has no members yet: open the one-time setup link `hush serve` \
                     printed at its first start, or run `hush admin create-owner`",
                ));
            }
            Err(bad_credentials())
        }
    }
}

/// A new panel session for `user`, with the session and device cookies.
pub(super) async fn start_session(state: &AppState, user: &User) -> ApiResult<Response> {
    let token = new_token("hush_s_");
    let now = now_millis();
    state
        .store
        .create_session(NewSession {
            token_hash: token_hash(&token).to_vec(),
            user_id: user.id,
            created_at: now,
            expires_at: now + state.config.session_absolute.as_millis() as i64,
        })
        .await?;
    let secure = state.config.secure_cookies;
    let cookies = AppendHeaders([
        (
            header::SET_COOKIE,
            auth::session_cookie(&token, secure, state.config.session_absolute),
        ),
        (
            header::SET_COOKIE,
            state.limiter.device_cookie(user.id, secure),
        ),
    ]);
    let body = SessionView {
        user: Member::from(user),
        csrf_token: auth::csrf_for(&token),
    };
    Ok((cookies, axum::Json(body)).into_response())
}

/// Signs in to the panel: a session cookie (HttpOnly, SameSite=Strict) and the CSRF token.
#[utoipa::path(post, path = "/auth/login", tag = "session", security(()), request_body = LoginBody,
    responses((status = 200, body = SessionView), (status = "default", description = "401 bad_credentials or no_owner, 429 rate_limited (with Retry-After)")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let user = verify_login(&state, &headers, &body.name, body.password, ip).await?;
    start_session(&state, &user).await
}

/// Ends this panel session.
#[utoipa::path(post, path = "/auth/logout", tag = "session",
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Principal,
) -> ApiResult<Response> {
    if let Some(token) = auth::cookie_value(&headers, SESSION_COOKIE) {
        auth::end_session(&state, &token_hash(token)).await?;
    }
    state
        .audit
        .record(super::audit_event(&who, "auth.logout", None, json!({})))
        .await?;
    Ok(signed_out(&state))
}

/// The answer to a sign-out: no content, and the browser forgets its session cookie.
fn signed_out(state: &AppState) -> Response {
    (
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(state.config.secure_cookies),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response()
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogoutAllQuery {
    /// Also revoke every personal access token of yours (the CLI's, scripts').
    #[serde(default)]
    revoke_tokens: bool,
}

/// Ends every session of the caller, on every device; their watch streams end too. With
/// `revoke_tokens=true`, every personal token of theirs is revoked as well.
#[utoipa::path(post, path = "/auth/logout-all", tag = "session", params(LogoutAllQuery),
    responses((status = 204, description = "Signed out everywhere")))]
pub async fn logout_all(
    State(state): State<AppState>,
    who: Principal,
    super::extract::Query(query): super::extract::Query<LogoutAllQuery>,
) -> ApiResult<Response> {
    let user = who.user()?;
    let revoked = if query.revoke_tokens {
        super::account::revoke_personal_tokens(&state, &who).await?
    } else {
        0
    };
    state
        .store
        .delete_user_sessions(
            user.id,
            super::audit_event(
                &who,
                "auth.logout_all",
                None,
                json!({ "tokens_revoked": revoked }),
            ),
        )
        .await?;
    state.apply_event(&StoreEvent::SessionsRevoked { user_id: user.id });
    Ok(signed_out(&state))
}

/// Who the caller is.
#[utoipa::path(get, path = "/me", tag = "session",
    responses((status = 200, body = Me)))]
pub async fn me(State(state): State<AppState>, who: Principal) -> axum::Json<Me> {
    axum::Json(match &who {
        Principal::User { user, .. } => Me {
            user: Some(Member::from(user)),
            csrf_token: who.csrf().map(String::from),
            server: Some(ServerInfo {
                version: env!("CARGO_PKG_VERSION"),
                launch_apps: state.config.apps_dir.is_some(),
                public_url: state.config.public_url.clone(),
            }),
            app_token: None,
        },
        Principal::App {
            app_id, token_id, ..
        } => Me {
            user: None,
            csrf_token: None,
            server: None,
            app_token: Some(AppTokenInfo {
                id: *token_id,
                app_id: *app_id,
            }),
        },
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLoginBody {
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    password: String,
    #[schema(min_length = 1, max_length = 100)]
    token_name: Option<String>,
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
    /// The token this sign-in replaces (the one `hush login` saved last time): it is revoked
    /// once the new one exists, if it is one of this member's personal tokens.
    replaces: Option<String>,
}

/// `hush login`: trades a name and password for a personal access token, shown once.
#[utoipa::path(post, path = "/auth/token", tag = "session", security(()), request_body = TokenLoginBody,
    responses((status = 201, body = CreatedToken), (status = "default", description = "401 bad_credentials or no_owner, 429 rate_limited")))]
pub async fn create_personal_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<TokenLoginBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let user = verify_login(&state, &headers, &body.name, body.password, ip.clone()).await?;
    let token = LoginToken {
        name: body.token_name,
        expires_in_days: body.expires_in_days,
        replaces: body.replaces,
    };
    login_token(&state, user, ip, token).await
}

/// The personal token `hush login` asks for (by password or single sign-on).
pub(super) struct LoginToken {
    /// "hush login" when not given.
    pub name: Option<String>,
    pub expires_in_days: Option<u32>,
    /// The token it replaces, revoked once the new one exists (if it is one of the member's
    /// personal tokens).
    pub replaces: Option<String>,
}

/// Issues `token` to `user`, who has just signed in from `ip`.
pub(super) async fn login_token(
    state: &AppState,
    user: User,
    ip: Option<String>,
    token: LoginToken,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let who = Principal::User {
        user,
        via: auth::Credential::Token { id: 0 },
        ip,
    };
    let name = token.name.unwrap_or_else(|| "hush login".into());
    let created = super::tokens::issue(
        state,
        &who,
        TokenKind::Personal,
        name,
        None,
        token.expires_in_days,
    )
    .await?;
    if let Some(old) = token.replaces.as_deref() {
        super::account::revoke_replaced(state, &who, old, created.record.id).await?;
    }
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The token from the link's fragment.
    token: String,
}

fn dead_link() -> ApiError {
    ApiError::not_found("this link is unknown, used or expired; ask for a new one")
}

/// What a one-time link is for (the join page shows it before the form is sent). The token
/// travels in the body, never in a URL.
#[utoipa::path(post, path = "/auth/link", tag = "session", security(()), request_body = LinkBody,
    responses((status = 200, body = LinkInfo), (status = "default", description = "404 when the link is unknown, used or expired")))]
pub async fn link_info(
    State(state): State<AppState>,
    Json(body): Json<LinkBody>,
) -> ApiResult<axum::Json<LinkInfo>> {
    let invite = state
        .store
        .find_invite(&token_hash(body.token.trim()), now_millis())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => dead_link(),
            e => e.into(),
        })?;
    Ok(axum::Json(LinkInfo {
        kind: match invite.kind {
            InviteKind::Setup => "setup",
            InviteKind::Invite => "invite",
        },
        role: invite.role,
        invited_by: invite.created_by_name,
        expires_at: invite.expires_at,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    token: String,
    /// Letters, digits and . _ @ + - (an email address works).
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    #[schema(min_length = 10, max_length = 1024)]
    password: String,
}

/// Uses a one-time link: the first-run setup link creates the owner; an invitation creates a
/// member with the role it was made for. Signs the new person in.
#[utoipa::path(post, path = "/auth/accept", tag = "session", security(()), request_body = AcceptBody,
    responses((status = 200, body = SessionView), (status = "default", description = "400 bad_name or password rules, 404 dead link, 409 name taken")))]
pub async fn accept_invite(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<AcceptBody>,
) -> ApiResult<Response> {
    check_user_name(&body.name)?;
    hush_crypto::password::check_rules(&body.password).map_err(ApiError::bad_request)?;
    let hash = token_hash(body.token.trim());
    let now = now_millis();
    // Check before hashing the password, so a dead link costs no Argon2 work.
    let invite = state
        .store
        .find_invite(&hash, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => dead_link(),
            e => e.into(),
        })?;
    let password_hash = state.passwords.hash(body.password).await?;
    let action = match invite.kind {
        InviteKind::Setup => "setup.owner_created",
        InviteKind::Invite => "member.joined",
    };
    let event = AuditEvent {
        at: now,
        actor_kind: ActorKind::User,
        actor_id: None,
        actor_name: Some(body.name.clone()),
        action: action.into(),
        app_id: None,
        app_name: None,
        ip,
        outcome: Outcome::Ok,
        detail: json!({ "role": invite.role, "invite_id": invite.id }),
    };
    let new_user = NewUser {
        name: body.name.clone(),
        role: invite.role,
        password_hash,
        created_at: now,
    };
    let (_, user) = state
        .store
        .accept_invite(&hash, now, new_user, event)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => dead_link(),
            StoreError::Conflict(_) => ApiError::conflict(format!(
                "the name {:?} is taken, or too like a member's name; choose another",
                body.name
            )),
            e => e.into(),
        })?;
    start_session(&state, &user).await
}

pub fn check_user_name(name: &str) -> ApiResult<()> {
    check_member_name(name).map_err(|rule| ApiError::bad_request(rule).with_code("bad_name"))
}
