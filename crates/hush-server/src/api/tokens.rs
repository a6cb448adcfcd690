//! Personal access tokens (the CLI) and app tokens (delivery). A token is shown once, at
//! creation; the server keeps only its hash.

use axum::extract::State;
use axum::http::StatusCode;
use hush_crypto::{new_token, token_hash};
use hush_store::{App, NewToken, Role, StoreError, StoreEvent, TokenFilter, TokenKind, now_millis};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::audit_event;
use super::extract::{Json, Path, Query, member_app, role_on_app};
use super::views::{CreatedToken, TokenView, Tokens};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// Ten years: a longer expiry is no expiry, and says so.
const MAX_EXPIRY_DAYS: u32 = 3650;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    kind: TokenKind,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The app an app token reads.
    app: Option<String>,
    /// The app's environment the token reads (`production` when absent).
    env: Option<String>,
    /// No expiry when absent; at most ten years.
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
}

/// Creates a token: your own personal token, or an app token (editors).
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = CreateTokenBody,
    responses((status = 201, body = CreatedToken)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<CreateTokenBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let app = match (body.kind, body.app.as_deref()) {
        (TokenKind::App, Some(name)) => {
            let app = member_app(&state, &who, name, Role::Editor).await?;
            Some(super::extract::in_env(&state, app, body.env.as_deref()).await?)
        }
        (TokenKind::App, None) => {
            return Err(ApiError::bad_request(
                "app: an app token needs the app's name",
            ));
        }
        (TokenKind::Personal, _) if body.env.is_some() => {
            return Err(ApiError::bad_request(
                "env: only an app token reads an environment",
            ));
        }
        (TokenKind::Personal, _) => None,
    };
    let created = issue(
        &state,
        &who,
        body.kind,
        body.name,
        app.as_ref(),
        body.expires_in_days,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Creates a token and returns it (the only time it is shown) with its record.
pub(super) async fn issue(
    state: &AppState,
    who: &Principal,
    kind: TokenKind,
    name: String,
    app: Option<&App>,
    expires_in_days: Option<u32>,
) -> ApiResult<CreatedToken> {
    let user = who.user()?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "name: give the token a name of 1 to 100 characters",
        ));
    }
    if expires_in_days.is_some_and(|days| !(1..=MAX_EXPIRY_DAYS).contains(&days)) {
        return Err(ApiError::bad_request(format!(
            "expires_in_days: use 1 to {MAX_EXPIRY_DAYS}, or leave it out for no expiry"
        )));
    }
    let token = new_token(match kind {
        TokenKind::App => "hush_app_",
        TokenKind::Personal => "hush_pat_",
    });
    let now = now_millis();
    let record = state
        .store
        .create_token(
            NewToken {
                kind,
                name,
                token_hash: token_hash(&token).to_vec(),
                prefix: token.chars().take(13).collect(),
                user_id: Some(user.id),
                app_id: app.map(|a| a.env_id),
                created_at: now,
                expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            },
            audit_event(who, "token.create", app, json!({ "kind": kind })),
        )
        .await?;
    let run_command = app.map(|app| {
        let env = if app.is_production() {
            String::new()
        } else {
            format!(" --env {}", app.env)
        };
        format!(
            "HUSH_SERVER={} HUSH_TOKEN={} hush run --app {}{env} -- streamlit run streamlit_app.py",
            state.config.public_url,
            token.as_str(),
            app.name
        )
    });
    Ok(CreatedToken {
        record: TokenView::new(
            &record,
            app.map(|a| a.name.as_str()),
            app.map(|a| a.env.as_str()),
        ),
        token: token.to_string(),
        run_command,
    })
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// An app's tokens; the caller's own personal tokens when absent.
    app: Option<String>,
}

/// An app's tokens (`?app=NAME`, any member), or else the caller's own personal tokens; only
/// tokens that still work (not revoked, not expired).
#[utoipa::path(get, path = "/tokens", tag = "tokens", params(ListQuery),
    responses((status = 200, body = Tokens)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Tokens>> {
    let user = who.user()?;
    // An app token belongs to one of the app's environments, by the environment's id.
    let mut env_names = std::collections::HashMap::new();
    let (filter, app_name) = match query.app.as_deref() {
        Some(name) => {
            let app = member_app(&state, &who, name, Role::Viewer).await?;
            for env in state.store.list_environments(app.id).await? {
                env_names.insert(env.id, env.name);
            }
            (
                TokenFilter {
                    app_id: Some(app.id),
                    kind: Some(TokenKind::App),
                    ..Default::default()
                },
                Some(app.name),
            )
        }
        None => (
            TokenFilter {
                user_id: Some(user.id),
                kind: Some(TokenKind::Personal),
                ..Default::default()
            },
            None,
        ),
    };
    let tokens = state.store.list_tokens(filter).await?;
    // Revoked and expired tokens no longer do anything: they leave the list (the audit log
    // keeps their story).
    let now = now_millis();
    Ok(axum::Json(Tokens {
        tokens: tokens
            .iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now))
            .map(|t| {
                let env = t.app_id.and_then(|id| env_names.get(&id));
                TokenView::new(t, app_name.as_deref(), env.map(String::as_str))
            })
            .collect(),
    }))
}

/// Revokes a token at once on every server, ending its watch streams: your own personal
/// tokens, app tokens as an editor, anything as an owner.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let user = who.user()?;
    let token = state.store.get_token(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found(format!("no token with id {id}")),
        e => e.into(),
    })?;
    let app = match token.app_id {
        Some(env_id) => app_of_environment(&state, env_id).await?,
        None => None,
    };
    let owner = user.role == Role::Owner;
    // Another member's personal token, or an app token of an app the member cannot see, is
    // to them no token at all (a 403 would confirm that the id exists).
    let role_on_app = match &app {
        Some(app) => role_on_app(&state, &who, app).await?,
        None => owner.then_some(Role::Owner),
    };
    let visible = match token.kind {
        TokenKind::Personal => owner || token.user_id == Some(user.id),
        TokenKind::App => role_on_app.is_some(),
    };
    if !visible {
        return Err(ApiError::not_found(format!("no token with id {id}")));
    }
    if token.kind == TokenKind::App && role_on_app < Some(Role::Editor) {
        return Err(ApiError::forbidden(
            "you may revoke only your own tokens, or app tokens as an editor of their app",
        )
        .by(&who));
    }
    if token.revoked_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    let event = audit_event(
        &who,
        "token.revoke",
        app.as_ref(),
        json!({ "token_id": id, "kind": token.kind, "name": token.name }),
    );
    state.store.revoke_token(id, now_millis(), event).await?;
    state.apply_event(&StoreEvent::TokenRevoked { token_id: id });
    Ok(StatusCode::NO_CONTENT)
}

/// The app, in its environment, that an app token reads (the token holds the environment's
/// id: the app's own for production); `None` when either is gone.
async fn app_of_environment(state: &AppState, env_id: i64) -> ApiResult<Option<App>> {
    let env = match state.store.get_environment(env_id).await {
        Ok(env) => env,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match state.store.get_app(env.app_id).await {
        Ok(app) => Ok(Some(app.in_env(&env))),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
