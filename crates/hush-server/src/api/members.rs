//! Members and roles, and invitations (owners; any member may list members).

use axum::extract::State;
use axum::http::StatusCode;
use hush_crypto::{new_token, token_hash};
use hush_store::{InviteKind, NewInvite, Role, StoreError, StoreEvent, now_millis};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{Json, Path};
use super::views::{InviteView, Invites, Member, Members};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

const INVITE_TTL_MS: i64 = 7 * 24 * 3_600_000;

/// Every member (any member).
#[utoipa::path(get, path = "/members", tag = "members",
    responses((status = 200, body = Members)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<axum::Json<Members>> {
    who.require(Role::Viewer)?;
    let users = state.store.list_users().await?;
    Ok(axum::Json(Members {
        members: users.iter().map(Member::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    role: Role,
}

/// A one-time link that lets one person join with `role`; valid for 7 days (owners).
#[utoipa::path(post, path = "/invites", tag = "members", request_body = InviteBody,
    responses((status = 201, body = InviteView)))]
pub async fn invite(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<InviteBody>,
) -> ApiResult<(StatusCode, axum::Json<InviteView>)> {
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
        axum::Json(InviteView {
            url: Some(url),
            ..InviteView::new(&invite)
        }),
    ))
}

/// Invitations that can still be used (owners).
#[utoipa::path(get, path = "/invites", tag = "members",
    responses((status = 200, body = Invites)))]
pub async fn invites(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<axum::Json<Invites>> {
    who.require(Role::Owner)?;
    let invites = state.store.list_invites(now_millis()).await?;
    Ok(axum::Json(Invites {
        invites: invites.iter().map(InviteView::new).collect(),
    }))
}

/// Revokes an unused invitation: its link stops working at once (owners).
#[utoipa::path(delete, path = "/invites/{id}", tag = "members", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = "default", description = "404 when there is no unused invitation with that id")))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    state
        .store
        .revoke_invite(
            id,
            audit_event(
                &who,
                "member.invite_revoke",
                None,
                json!({ "invite_id": id }),
            ),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::not_found(format!("no unused invitation with id {id}"))
            }
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    role: Role,
}

/// Changes a member's role (owners); the last owner cannot be demoted.
#[utoipa::path(patch, path = "/members/{id}", tag = "members", params(("id" = i64, Path)), request_body = UpdateBody,
    responses((status = 204, description = "Changed"), (status = "default", description = "409 when it would leave no owner")))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let member = member(&state, id).await?;
    let event = audit_event(
        &who,
        "member.role",
        None,
        json!({ "member": member.name, "from": member.role, "to": body.role }),
    );
    state.store.set_user_role(id, body.role, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member, their sessions and personal tokens (owners); the last owner cannot be removed.
#[utoipa::path(delete, path = "/members/{id}", tag = "members", params(("id" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = "default", description = "409 when it would leave no owner")))]
pub async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let member = member(&state, id).await?;
    let event = audit_event(
        &who,
        "member.remove",
        None,
        json!({ "member": member.name }),
    );
    state.store.delete_user(id, event).await?;
    state.apply_event(&StoreEvent::SessionsRevoked { user_id: id });
    Ok(StatusCode::NO_CONTENT)
}

async fn member(state: &AppState, id: i64) -> ApiResult<hush_store::User> {
    state.store.get_user(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found(format!("no member with id {id}")),
        e => e.into(),
    })
}
