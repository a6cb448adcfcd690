//! The signed-in member's own account: changing the password (re-authenticating with the
//! current one; every other session ends), and the helpers behind signing out everywhere with
//! personal tokens revoked and `hush login` replacing the token it made last time.
//! Personal tokens themselves are listed, created and revoked through `/tokens`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hush_crypto::token_hash;
use hush_store::{StoreError, StoreEvent, TokenFilter, TokenKind, now_millis};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::extract::Json;
use super::{audit_event, session};
use crate::AppState;
use crate::auth::{ClientIp, Credential, Principal};
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    current_password: String,
    #[schema(min_length = 10, max_length = 1024)]
    new_password: String,
}

/// Changes your password. The current one is checked again (throttled like a sign-in);
/// every session of yours ends, and a panel session gets a fresh one in the answer. Personal
/// tokens keep working (revoke them on the account page or with sign-out-everywhere).
#[utoipa::path(post, path = "/account/password", tag = "session", request_body = ChangePasswordBody,
    responses((status = 200, description = "Changed; a panel session gets a new session cookie and CSRF token (SessionView)"),
        (status = 204, description = "Changed (token callers)"),
        (status = "default", description = "400 password rules, 401 bad_credentials (the current password is wrong), 429 rate_limited")))]
pub async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Response> {
    let user = who.user()?.clone();
    hush_crypto::password::check_rules(&body.new_password)
        .map_err(|rule| ApiError::bad_request(format!("new_password: {rule}")))?;
    if body.new_password == body.current_password {
        return Err(ApiError::bad_request(
            "new_password: choose a password different from the current one",
        ));
    }
    // The same check (and throttle) as signing in: a stolen session alone cannot change it.
    session::verify_login(&state, &headers, &user.name, body.current_password, ip).await?;
    let hash = state.passwords.hash(body.new_password).await?;
    state
        .store
        .set_user_password(
            user.id,
            &hash,
            audit_event(&who, "account.password", None, json!({})),
        )
        .await?;
    state
        .store
        .delete_user_sessions(
            user.id,
            audit_event(
                &who,
                "auth.logout_all",
                None,
                json!({ "why": "password changed" }),
            ),
        )
        .await?;
    state.apply_event(&StoreEvent::SessionsRevoked { user_id: user.id });
    match who {
        Principal::User {
            via: Credential::Session { .. },
            ..
        } => session::start_session(&state, &user).await,
        _ => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Revokes every working personal token of the caller; returns how many.
pub(super) async fn revoke_personal_tokens(state: &AppState, who: &Principal) -> ApiResult<usize> {
    let user = who.user()?;
    let tokens = state
        .store
        .list_tokens(TokenFilter {
            user_id: Some(user.id),
            kind: Some(TokenKind::Personal),
            ..Default::default()
        })
        .await?;
    let now = now_millis();
    let mut revoked = 0;
    for token in tokens.iter().filter(|t| t.revoked_at.is_none()) {
        let event = audit_event(
            who,
            "token.revoke",
            None,
            json!({ "token_id": token.id, "kind": token.kind, "name": token.name, "why": "signed out everywhere" }),
        );
        state.store.revoke_token(token.id, now, event).await?;
        state.apply_event(&StoreEvent::TokenRevoked { token_id: token.id });
        revoked += 1;
    }
    Ok(revoked)
}

/// `hush login` sends the token it saved last time: once the new one exists, the old one is
/// revoked, if it is a working personal token of the same member. Anything else is ignored
/// (a token of someone else must not be revocable by knowing it and signing in).
pub(super) async fn revoke_replaced(
    state: &AppState,
    who: &Principal,
    old: &str,
    new_id: i64,
) -> ApiResult<()> {
    let user = who.user()?;
    let token = match state.store.find_token(&token_hash(old.trim())).await {
        Ok(token) => token,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if token.kind != TokenKind::Personal
        || token.user_id != Some(user.id)
        || token.revoked_at.is_some()
        || token.id == new_id
    {
        return Ok(());
    }
    let event = audit_event(
        who,
        "token.revoke",
        None,
        json!({ "token_id": token.id, "kind": token.kind, "name": token.name, "replaced_by": new_id }),
    );
    state
        .store
        .revoke_token(token.id, now_millis(), event)
        .await?;
    state.apply_event(&StoreEvent::TokenRevoked { token_id: token.id });
    Ok(())
}
