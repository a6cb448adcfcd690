//! Per-app roles (owners): a member's role on one app that replaces their workspace role there
//! — viewer everywhere but editor on `web`, or `none` on `billing` (the app is hidden from
//! them). Owners have every app. Enforced for every app route by the access extractor.

use axum::extract::State;
use axum::http::StatusCode;
use hush_store::{AppRole, AppRoleGrant, Role, StoreError, StoreEvent, now_millis};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{AppAccess, Json, Owner, Path};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// One member's role on one app.
#[derive(Serialize, ToSchema)]
pub struct AppRoleView {
    pub member_id: i64,
    pub member: String,
    pub app: String,
    pub role: AppRole,
    pub created_at: i64,
}

impl From<AppRoleGrant> for AppRoleView {
    fn from(g: AppRoleGrant) -> AppRoleView {
        AppRoleView {
            member_id: g.user_id,
            member: g.user_name,
            app: g.app_name,
            role: g.role,
            created_at: g.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AppRoles {
    pub roles: Vec<AppRoleView>,
}

/// The per-app roles set on this app (owners).
#[utoipa::path(get, path = "/apps/{app}/roles", tag = "members", params(("app" = String, Path)),
    responses((status = 200, body = AppRoles), (status = "default", body = ErrorBody, description = "An error")))]
pub async fn list(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Owner>,
) -> ApiResult<axum::Json<AppRoles>> {
    let grants = state.store.list_app_roles(None, Some(app.id)).await?;
    Ok(axum::Json(AppRoles {
        roles: grants.into_iter().map(AppRoleView::from).collect(),
    }))
}

/// A member's per-app roles (owners, or the member themselves).
#[utoipa::path(get, path = "/members/{id}/app-roles", tag = "members", params(("id" = i64, Path)),
    responses((status = 200, body = AppRoles), (status = "default", body = ErrorBody, description = "An error")))]
pub async fn of_member(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<AppRoles>> {
    let user = who.user()?;
    if user.id != id {
        who.require(Role::Owner)?;
    }
    let grants = state.store.list_app_roles(Some(id), None).await?;
    Ok(axum::Json(AppRoles {
        roles: grants.into_iter().map(AppRoleView::from).collect(),
    }))
}

#[derive(Deserialize)]
pub struct RolePath {
    member: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAppRoleBody {
    /// `none` (no access: the app is hidden), `viewer` or `editor`.
    role: AppRole,
}

/// Sets a member's role on this app, replacing their workspace role there (owners). `none`
/// hides the app from them and ends their watch streams of it at once.
#[utoipa::path(put, path = "/apps/{app}/roles/{member}", tag = "members",
    params(("app" = String, Path), ("member" = i64, Path, description = "The member's id")),
    request_body = SetAppRoleBody,
    responses((status = 200, body = AppRoleView), (status = "default", body = ErrorBody, description = "404 no such member, 409 the member is an owner")))]
pub async fn set(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Path(path): Path<RolePath>,
    Json(body): Json<SetAppRoleBody>,
) -> ApiResult<axum::Json<AppRoleView>> {
    let member_id = path.member;
    let member = member(&state, member_id).await?;
    let event = audit_event(
        &who,
        "member.app_role",
        Some(&app),
        json!({ "member": member.name, "role": body.role }),
    );
    let now = now_millis();
    state
        .store
        .set_app_role(member.id, app.id, body.role, now, event)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::NotFound => ApiError::not_found(format!("no member with id {member_id}")),
            e => e.into(),
        })?;
    if body.role == AppRole::None {
        state.apply_event(&StoreEvent::AppAccessRevoked {
            user_id: member.id,
            app_id: app.id,
        });
    }
    Ok(axum::Json(AppRoleView {
        member_id: member.id,
        member: member.name,
        app: app.name,
        role: body.role,
        created_at: now,
    }))
}

/// Removes a member's role on this app: their workspace role applies there again (owners).
#[utoipa::path(delete, path = "/apps/{app}/roles/{member}", tag = "members",
    params(("app" = String, Path), ("member" = i64, Path, description = "The member's id")),
    responses((status = 204, description = "Removed"), (status = "default", body = ErrorBody, description = "404 when the member has no role on this app")))]
pub async fn remove(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Path(path): Path<RolePath>,
) -> ApiResult<StatusCode> {
    let member_id = path.member;
    let member = member(&state, member_id).await?;
    let event = audit_event(
        &who,
        "member.app_role_remove",
        Some(&app),
        json!({ "member": member.name }),
    );
    state
        .store
        .remove_app_role(member.id, app.id, event)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format!(
                "{} has no role of their own on {:?}",
                member.name, app.name
            )),
            StoreError::Conflict(message) => ApiError::conflict(message),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn member(state: &AppState, id: i64) -> ApiResult<hush_store::User> {
    state.store.get_user(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found(format!("no member with id {id}")),
        e => e.into(),
    })
}
