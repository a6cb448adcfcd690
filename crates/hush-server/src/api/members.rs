//! Members and roles, invitations, and the audit log: owners only (members may list members).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hush_crypto::{new_token, token_hash};
use hush_store::{AuditFilter, InviteKind, NewInvite, Role, StoreEvent};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Json, audit_event, find_app};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_millis};

const INVITE_TTL_MS: i64 = 7 * 24 * 3_600_000;

pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let users = state.store.list_users().await?;
    Ok(axum::Json(json!({ "members": users })))
}

#[derive(Deserialize)]
pub struct InviteBody {
    role: Role,
}

/// A one-time link that lets one person join with `role`; valid for 7 days.
pub async fn invite(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<InviteBody>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let owner = who.require(Role::Owner)?;
    let token = new_token("hush_inv_");
    let now = now_millis();
    let invite = state
        .store
        .create_invite(
            NewInvite {
                token_hash: token_hash(&token).to_vec(),
                kind: InviteKind::Invite,
                role: body.role,
                created_by: Some(owner.id),
                created_at: now,
                expires_at: now + INVITE_TTL_MS,
            },
            audit_event(&who, "member.invite", None, json!({ "role": body.role })),
        )
        .await?;
    // The token travels in the fragment, which browsers never send to a server or proxy log.
    let url = format!(
        "{}/join#{}",
        state.config.public_url.trim_end_matches('/'),
        token.as_str()
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "url": url, "role": body.role, "expires_at": invite.expires_at })),
    ))
}

#[derive(Deserialize)]
pub struct UpdateBody {
    role: Role,
}

pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let member = state.store.get_user(id).await?;
    state
        .store
        .set_user_role(
            id,
            body.role,
            audit_event(
                &who,
                "member.role",
                None,
                json!({ "member": member.name, "from": member.role, "to": body.role }),
            ),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let member = state.store.get_user(id).await?;
    state
        .store
        .delete_user(
            id,
            audit_event(
                &who,
                "member.remove",
                None,
                json!({ "member": member.name }),
            ),
        )
        .await?;
    state.apply_event(&StoreEvent::SessionsRevoked { user_id: id });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    app: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
    /// `jsonl` for an export as JSON lines.
    format: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    who.require(Role::Owner)?;
    let app_id = match q.app.as_deref() {
        Some(name) => Some(find_app(&state, name).await?.id),
        None => None,
    };
    let jsonl = match q.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: use json or jsonl"
            )));
        }
    };
    let records = state
        .store
        .query_audit(AuditFilter {
            actor_name: q.actor,
            action: q.action,
            app_id,
            since: q.since,
            until: q.until,
            before_id: q.before,
            limit: q
                .limit
                .unwrap_or(if jsonl { 100_000 } else { 100 })
                .clamp(1, 100_000),
        })
        .await?;
    if jsonl {
        let mut out = String::new();
        for record in &records {
            out.push_str(&serde_json::to_string(record).map_err(|_| ApiError::internal())?);
            out.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response());
    }
    Ok(axum::Json(json!({ "events": records })).into_response())
}
