//! Per-app and per-document roles (owners): a member's role on one app or shared document
//! that replaces their workspace role there — viewer everywhere but editor on `web`, `none` on
//! `billing` (the app is hidden from them), viewer on the shared document `common-db`. Owners
//! have everything. Enforced for every app route by the access extractor and for every shared
//! document route by `shared::doc_access`. A shared document is an `apps` row, so both kinds
//! of role are the same `app_roles` rows and the same code below.

use axum::extract::State;
use axum::http::StatusCode;
use hush_store::{App, AppRole, AppRoleGrant, Role, StoreError, StoreEvent, now_millis};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{AppAccess, Json, Owner, Path};
use super::shared::find_doc;
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// One member's role on one app or shared document.
#[derive(Serialize, ToSchema)]
pub struct AppRoleView {
    pub member_id: i64,
    pub member: String,
    /// The app's or shared document's name.
    pub app: String,
    /// `app` names a shared document.
    pub shared: bool,
    pub role: AppRole,
    pub created_at: i64,
}

impl From<AppRoleGrant> for AppRoleView {
    fn from(g: AppRoleGrant) -> AppRoleView {
        AppRoleView {
            member_id: g.user_id,
            member: g.user_name,
            app: g.app_name,
            shared: g.shared,
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
#[utoipa::path(get, path = "/apps/{app}/roles", tag = "members",
    responses((status = 200, body = AppRoles)))]
pub async fn list(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Owner>,
) -> ApiResult<axum::Json<AppRoles>> {
    roles_on(&state, &app).await
}

/// A member's per-app and per-document roles (owners, or the member themselves).
#[utoipa::path(get, path = "/members/{id}/app-roles", tag = "members", params(("id" = i64, Path)),
    responses((status = 200, body = AppRoles)))]
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

/// `/shared/{doc}/roles/{member}`.
#[derive(Deserialize)]
pub struct DocRolePath {
    doc: String,
    member: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAppRoleBody {
    /// `none` (no access: the app is hidden), `viewer` or `editor`. Shared documents take
    /// `viewer` or `editor` only.
    role: AppRole,
}

/// Sets a member's role on this app, replacing their workspace role there (owners). `none`
/// hides the app from them and ends their watch streams of it at once.
#[utoipa::path(put, path = "/apps/{app}/roles/{member}", tag = "members",
    params(("member" = i64, Path, description = "The member's id")),
    request_body = SetAppRoleBody,
    responses((status = 200, body = AppRoleView), (status = "default", description = "404 no such member, 409 the member is an owner")))]
pub async fn set(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Path(path): Path<RolePath>,
    Json(body): Json<SetAppRoleBody>,
) -> ApiResult<axum::Json<AppRoleView>> {
    set_role(&state, &who, Target::App(&app), path.member, body.role).await
}

/// Removes a member's role on this app: their workspace role applies there again (owners).
#[utoipa::path(delete, path = "/apps/{app}/roles/{member}", tag = "members",
    params(("member" = i64, Path, description = "The member's id")),
    responses((status = 204, description = "Removed"), (status = "default", description = "404 when the member has no role on this app")))]
pub async fn remove(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Path(path): Path<RolePath>,
) -> ApiResult<StatusCode> {
    remove_role(&state, &who, Target::App(&app), path.member).await
}

/// The roles members have on this shared document (owners).
#[utoipa::path(get, path = "/shared/{doc}/roles", tag = "shared",
    responses((status = 200, body = AppRoles), (status = "default", description = "403 not an owner, 404 no such document")))]
pub async fn doc_list(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<AppRoles>> {
    let doc = owners_doc(&state, &who, &name).await?;
    roles_on(&state, &doc).await
}

/// Sets a member's role on this shared document, replacing their workspace role for it
/// (owners): `viewer` sees its key names only and cannot save or roll it back; `editor` reads,
/// saves and rolls it back. `none` is refused (400): the document's keys reach every app that
/// includes it, so hiding the document would hide what those apps receive.
#[utoipa::path(put, path = "/shared/{doc}/roles/{member}", tag = "shared",
    params(("member" = i64, Path, description = "The member's id")),
    request_body = SetAppRoleBody,
    responses((status = 200, body = AppRoleView), (status = "default", description = "400 role none, 403 not an owner, 404 no such document or member, 409 the member is an owner")))]
pub async fn doc_set(
    State(state): State<AppState>,
    who: Principal,
    Path(path): Path<DocRolePath>,
    Json(body): Json<SetAppRoleBody>,
) -> ApiResult<axum::Json<AppRoleView>> {
    let doc = owners_doc(&state, &who, &path.doc).await?;
    set_role(&state, &who, Target::Doc(&doc), path.member, body.role).await
}

/// Removes a member's role on this shared document: their workspace role applies to it again
/// (owners).
#[utoipa::path(delete, path = "/shared/{doc}/roles/{member}", tag = "shared",
    params(("member" = i64, Path, description = "The member's id")),
    responses((status = 204, description = "Removed"), (status = "default", description = "403 not an owner, 404 no such document or member, or no role on it")))]
pub async fn doc_remove(
    State(state): State<AppState>,
    who: Principal,
    Path(path): Path<DocRolePath>,
) -> ApiResult<StatusCode> {
    let doc = owners_doc(&state, &who, &path.doc).await?;
    remove_role(&state, &who, Target::Doc(&doc), path.member).await
}

/// The shared document named `name`, for an owner (the roles on a document are theirs to see
/// and set); anyone else gets 403 before the name is looked up.
async fn owners_doc(state: &AppState, who: &Principal, name: &str) -> ApiResult<App> {
    who.require(Role::Owner)?;
    find_doc(state, name).await
}

/// What a role is set on: an app or a shared document (both `apps` rows).
#[derive(Clone, Copy)]
enum Target<'a> {
    App(&'a App),
    Doc(&'a App),
}

impl<'a> Target<'a> {
    fn row(self) -> &'a App {
        match self {
            Target::App(app) | Target::Doc(app) => app,
        }
    }

    /// `"web"` or `shared document "common-db"`, for messages.
    fn describe(self) -> String {
        match self {
            Target::App(app) => format!("{:?}", app.name),
            Target::Doc(doc) => format!("shared document {:?}", doc.name),
        }
    }

    /// The audit action for a role set (`suffix` "") or removed (`"_remove"`).
    fn action(self, suffix: &str) -> String {
        match self {
            Target::App(_) => format!("member.app_role{suffix}"),
            Target::Doc(_) => format!("member.shared_role{suffix}"),
        }
    }
}

async fn roles_on(state: &AppState, target: &App) -> ApiResult<axum::Json<AppRoles>> {
    let grants = state.store.list_app_roles(None, Some(target.id)).await?;
    Ok(axum::Json(AppRoles {
        roles: grants.into_iter().map(AppRoleView::from).collect(),
    }))
}

async fn set_role(
    state: &AppState,
    who: &Principal,
    target: Target<'_>,
    member_id: i64,
    role: AppRole,
) -> ApiResult<axum::Json<AppRoleView>> {
    if let (Target::Doc(_), AppRole::None) = (target, role) {
        return Err(ApiError::bad_request(format!(
            "a shared document takes the role viewer or editor, not none: its keys reach every \
             app that includes it, so hiding {} would hide what those apps receive",
            target.describe()
        )));
    }
    let member = member(state, member_id).await?;
    let event = audit_event(
        who,
        &target.action(""),
        Some(target.row()),
        json!({ "member": member.name, "role": role }),
    );
    let now = now_millis();
    state
        .store
        .set_app_role(member.id, target.row().id, role, now, event)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::NotFound => ApiError::not_found(format!("no member with id {member_id}")),
            e => e.into(),
        })?;
    if role == AppRole::None {
        state.apply_event(&StoreEvent::AppAccessRevoked {
            user_id: member.id,
            app_id: target.row().id,
        });
    }
    Ok(axum::Json(AppRoleView {
        member_id: member.id,
        member: member.name,
        app: target.row().name.clone(),
        shared: matches!(target, Target::Doc(_)),
        role,
        created_at: now,
    }))
}

async fn remove_role(
    state: &AppState,
    who: &Principal,
    target: Target<'_>,
    member_id: i64,
) -> ApiResult<StatusCode> {
    let member = member(state, member_id).await?;
    let event = audit_event(
        who,
        &target.action("_remove"),
        Some(target.row()),
        json!({ "member": member.name }),
    );
    state
        .store
        .remove_app_role(member.id, target.row().id, event)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format!(
                "{} has no role of their own on {}",
                member.name,
                target.describe()
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
