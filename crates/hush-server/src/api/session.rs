//! Signing in and out, first-run setup and invitations, personal access tokens.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hush_crypto::{new_token, token_hash};
use hush_store::{
    ActorKind, AuditEvent, InviteKind, NewSession, NewUser, Outcome, StoreError, StoreEvent,
    TokenKind, User,
};
use serde::Deserialize;
use serde_json::json;

use super::Json;
use crate::auth::{self, ClientIp, Principal, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::{AppState, now_millis};

/// The longest member name (see [`check_user_name`]).
const MAX_NAME_CHARS: usize = 64;

#[derive(Deserialize)]
pub struct LoginBody {
    name: String,
    password: String,
}

pub async fn setup_status(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let users = state.store.user_count().await?;
    Ok(axum::Json(json!({ "needs_setup": users == 0 })))
}

/// Checks a name and password, with rate limits and the same answer (and work) for an unknown
/// name as for a wrong password.
async fn verify_login(
    state: &AppState,
    name: &str,
    password: String,
    ip: Option<String>,
) -> ApiResult<User> {
    // No member has a longer name; such a request only fills the limiter and the audit log.
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong name or password",
        ));
    }
    state.limiter.check(name, ip.as_deref())?;
    let found = match state.store.find_user_credentials(name).await {
        Ok((user, hash)) => Some((user, hash)),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
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
        ip: ip.clone(),
        outcome: Outcome::Ok,
        detail: json!({}),
    };
    match user {
        Some(user) if ok => {
            state.limiter.succeeded(name);
            state.audit.record_durably(event).await?;
            Ok(user)
        }
        _ => {
            state.limiter.failed(name, ip.as_deref());
            Metrics::inc(&state.metrics.logins_failed);
            event.outcome = Outcome::Failed;
            event.actor_kind = ActorKind::Anonymous;
            state.audit.record_durably(event).await?;
            if state.store.user_count().await? == 0 {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "no_owner",
                    "this server has no members yet: open the one-time setup link `hush serve` \
                     printed at its first start, or run `hush admin create-owner`",
                ));
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong name or password",
            ))
        }
    }
}

async fn start_session(state: &AppState, user: &User) -> ApiResult<Response> {
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
    let cookie = auth::session_cookie(
        &token,
        state.config.secure_cookies,
        state.config.session_absolute,
    );
    let body = json!({ "user": user, "csrf_token": auth::csrf_for(&token) });
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let user = verify_login(&state, &body.name, body.password, ip).await?;
    start_session(&state, &user).await
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Principal,
) -> ApiResult<Response> {
    if let Some(token) = auth::cookie_value(&headers, SESSION_COOKIE) {
        state.store.delete_session(&token_hash(token)).await?;
    }
    state
        .audit
        .record(super::audit_event(&who, "auth.logout", None, json!({})))
        .await?;
    Ok((
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(state.config.secure_cookies),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// Ends every session of the caller, on every device.
pub async fn logout_all(State(state): State<AppState>, who: Principal) -> ApiResult<Response> {
    let user = who.user()?;
    state
        .store
        .delete_user_sessions(
            user.id,
            super::audit_event(&who, "auth.logout_all", None, json!({})),
        )
        .await?;
    state.apply_event(&StoreEvent::SessionsRevoked { user_id: user.id });
    Ok((
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(state.config.secure_cookies),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

pub async fn me(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<axum::Json<serde_json::Value>> {
    match &who {
        Principal::User { user, csrf, .. } => Ok(axum::Json(json!({
            "user": user,
            "csrf_token": csrf,
            "server": {
                "version": env!("CARGO_PKG_VERSION"),
                "launch_apps": state.config.apps_dir.is_some(),
                "public_url": state.config.public_url,
            },
        }))),
        Principal::App {
            app_id, token_id, ..
        } => Ok(axum::Json(
            json!({ "app_token": { "id": token_id, "app_id": app_id } }),
        )),
    }
}

#[derive(Deserialize)]
pub struct TokenLoginBody {
    name: String,
    password: String,
    token_name: Option<String>,
    expires_in_days: Option<u32>,
}

/// `hush login`: trades a name and password for a personal access token, shown once.
pub async fn create_personal_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<TokenLoginBody>,
) -> ApiResult<Response> {
    let user = verify_login(&state, &body.name, body.password, ip.clone()).await?;
    let name = body.token_name.unwrap_or_else(|| "hush login".into());
    let who = Principal::User {
        user: user.clone(),
        csrf: None,
        ip,
    };
    let created = super::tokens::issue(
        &state,
        &who,
        TokenKind::Personal,
        name,
        None,
        body.expires_in_days,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

#[derive(Deserialize)]
pub struct AcceptBody {
    token: String,
    name: String,
    password: String,
}

/// Uses a one-time link: the first-run setup link creates the owner; an invitation creates a
/// member with the role it was made for. Signs the new person in.
pub async fn accept_invite(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<AcceptBody>,
) -> ApiResult<Response> {
    check_user_name(&body.name)?;
    auth::check_password_rules(&body.password)?;
    let hash = token_hash(body.token.trim());
    let now = now_millis();
    let gone = || ApiError::not_found("this link is unknown, used or expired; ask for a new one");
    // Check before hashing the password, so a dead link costs no Argon2 work.
    let invite = state
        .store
        .find_invite(&hash, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => gone(),
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
    let (_, user) = state
        .store
        .accept_invite(
            &hash,
            now,
            NewUser {
                name: body.name.clone(),
                role: invite.role,
                password_hash,
                created_at: now,
            },
            event,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => gone(),
            StoreError::Conflict(_) => ApiError::conflict(format!(
                "the name {:?} is taken, or too like a member's name; choose another",
                body.name
            )),
            e => e.into(),
        })?;
    start_session(&state, &user).await
}

pub fn check_user_name(name: &str) -> ApiResult<()> {
    let ok = (1..=MAX_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "name: use 1 to 64 letters, digits or . _ @ + - (an email address works)",
        )
        .with_code("bad_name"))
    }
}
