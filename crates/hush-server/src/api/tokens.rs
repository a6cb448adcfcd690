//! Personal access tokens (the CLI) and app tokens (delivery). A token is shown once, at
//! creation; the server keeps only its hash.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hush_crypto::{new_token, token_hash};
use hush_store::{NewToken, Role, StoreError, StoreEvent, TokenFilter, TokenKind, TokenRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Json, audit_event, find_app};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_millis};

#[derive(Deserialize)]
pub struct CreateBody {
    kind: TokenKind,
    name: String,
    /// The app an app token reads.
    app: Option<String>,
    expires_in_days: Option<u32>,
}

pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<CreateBody>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let app = match (body.kind, body.app.as_deref()) {
        (TokenKind::App, Some(name)) => {
            who.require(Role::Editor)?;
            Some(find_app(&state, name).await?)
        }
        (TokenKind::App, None) => {
            return Err(ApiError::bad_request(
                "app: an app token needs the app's name",
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
pub async fn issue(
    state: &AppState,
    who: &Principal,
    kind: TokenKind,
    name: String,
    app: Option<&hush_store::App>,
    expires_in_days: Option<u32>,
) -> ApiResult<Value> {
    let user = who.user()?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "name: give the token a name of 1 to 100 characters",
        ));
    }
    if expires_in_days == Some(0) {
        return Err(ApiError::bad_request(
            "expires_in_days: use at least 1, or leave it out for no expiry",
        ));
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
                app_id: app.map(|a| a.id),
                created_at: now,
                expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            },
            audit_event(who, "token.create", app, json!({ "kind": kind })),
        )
        .await?;
    let mut body = token_json(&record, app.map(|a| a.name.as_str()));
    body["token"] = json!(token.as_str());
    if let Some(app) = app {
        body["run_command"] = json!(format!(
            "HUSH_SERVER={} HUSH_TOKEN={} hush run --app {} -- streamlit run streamlit_app.py",
            state.config.public_url,
            token.as_str(),
            app.name
        ));
    }
    Ok(body)
}

fn token_json(record: &TokenRecord, app: Option<&str>) -> Value {
    json!({
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        "prefix": record.prefix,
        "app": app,
        "user_id": record.user_id,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    app: Option<String>,
}

/// An app's tokens (`?app=NAME`, any member), or else the caller's own personal tokens.
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<Value>> {
    let user = who.user()?;
    let (filter, app_name) = match query.app.as_deref() {
        Some(name) => {
            let app = find_app(&state, name).await?;
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
    let items: Vec<Value> = tokens
        .iter()
        .map(|t| token_json(t, app_name.as_deref()))
        .collect();
    Ok(axum::Json(json!({ "tokens": items })))
}

/// Revokes a token at once on every server. Your own personal tokens, app tokens with the
/// editor role, anything as an owner.
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
    let allowed = user.role == Role::Owner
        || (token.kind == TokenKind::Personal && token.user_id == Some(user.id))
        || (token.kind == TokenKind::App && user.role >= Role::Editor);
    if !allowed {
        return Err(ApiError::forbidden(
            "you may revoke only your own tokens, or app tokens as an editor",
        ));
    }
    if token.revoked_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    let app = match token.app_id {
        Some(app_id) => state.store.get_app(app_id).await.ok(),
        None => None,
    };
    state
        .store
        .revoke_token(
            id,
            now_millis(),
            audit_event(
                &who,
                "token.revoke",
                app.as_ref(),
                json!({ "token_id": id, "kind": token.kind }),
            ),
        )
        .await?;
    state.apply_event(&StoreEvent::TokenRevoked { token_id: id });
    Ok(StatusCode::NO_CONTENT)
}
