//! Apps: list, create (with the first version of its secrets: "Advanced settings…"), show, delete.

use axum::extract::State;
use axum::http::StatusCode;
use hush_core::Document;
use hush_store::{App, LaunchConfig, NewApp, StoreError, StoreEvent, effective_role, now_millis};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::extract::{AppAccess, Json, Owner, Viewer, role_on_app};
use super::views::{AppView, Apps, InstanceView};
use super::{audit_event, check_app_name, secrets};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub(super) async fn instances(state: &AppState, app: &App) -> ApiResult<Vec<InstanceView>> {
    let now = now_millis();
    let list = state
        .store
        .list_instances(app.env_id, now - 24 * 3_600_000)
        .await?;
    Ok(list.iter().map(|i| InstanceView::new(i, now)).collect())
}

/// Every app, with its newest version and running copies (any member).
#[utoipa::path(get, path = "/apps", tag = "apps",
    responses((status = 200, body = Apps)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<axum::Json<Apps>> {
    let user = who.require(hush_store::Role::Viewer)?;
    let apps = state.store.list_apps().await?;
    // Per-app roles: an app whose role is `none` is left out, as if it did not exist.
    let on_app = super::extract::roles_by_app(&state, user).await?;
    let mut items = Vec::with_capacity(apps.len());
    for (app, latest) in &apps {
        let Some(role) = effective_role(user.role, on_app.get(&app.id).copied()) else {
            continue;
        };
        let mut view = AppView::new(app, latest.as_ref());
        view.revision = crate::envs::current(&state, app).await?.rev.total();
        view.role = Some(role);
        view.instances = Some(instances(&state, app).await?);
        items.push(view);
    }
    Ok(axum::Json(Apps { apps: items }))
}

/// One app, with its newest version and running copies (any member).
#[utoipa::path(get, path = "/apps/{app}", tag = "apps",
    responses((status = 200, body = AppView)))]
pub async fn show(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<AppView>> {
    let latest = state.vault.latest(state.store.as_ref(), &app).await?;
    let mut view = AppView::new(&app, latest.as_ref().map(|l| &l.meta));
    view.revision = crate::envs::current(&state, &app).await?.rev.total();
    view.role = role_on_app(&state, &who, &app).await?;
    view.instances = Some(instances(&state, &app).await?);
    Ok(axum::Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppBody {
    /// 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: String,
    /// The first version's TOML ("Advanced settings…" → Secrets).
    toml: Option<String>,
    #[schema(max_length = 500)]
    message: Option<String>,
    /// How the server launches the app (owners, on a server with `--apps-dir`).
    launch: Option<LaunchConfig>,
}

/// A new app, environment or shared document id: random, and small enough for a JSON number.
pub(super) fn new_id() -> i64 {
    loop {
        let id = i64::from_le_bytes(hush_crypto::random_bytes::<8>()) & 0x001f_ffff_ffff_ffff;
        if id != 0 {
            break id;
        }
    }
}

/// The row of a new app or shared document (both `apps` rows): a fresh id and its own data key.
pub(super) fn new_app(
    state: &AppState,
    name: &str,
    created_by: i64,
    launch: Option<LaunchConfig>,
) -> NewApp {
    let id = new_id();
    let (_, key) = state.vault.new_app_key(id);
    NewApp {
        id,
        name: name.to_owned(),
        wrapped_key: key.wrapped_key,
        key_id: key.key_id,
        created_by: Some(created_by),
        created_at: now_millis(),
        launch,
    }
}

/// Creates an app, with its first version when `toml` is given (editors; launch settings: owners).
/// Everything is checked before anything is created: a bad document leaves no empty app.
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = CreateAppBody,
    responses((status = 201, body = AppView), (status = "default", description = "400 bad_name, 409 name taken, 422 invalid_toml")))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<CreateAppBody>,
) -> ApiResult<(StatusCode, axum::Json<AppView>)> {
    let user = who.require(hush_store::Role::Editor)?;
    check_app_name(&body.name)?;
    secrets::check_message(body.message.as_deref())?;
    if let Some(launch) = &body.launch {
        who.require(hush_store::Role::Owner)?;
        super::launch::check(&state, launch)?;
        if launch.env_name() != "production" {
            return Err(ApiError::bad_request(
                "launch.env: a new app has only production; add the environment, then set the launch settings",
            ));
        }
    }
    let first = body
        .toml
        .as_deref()
        .map(Document::parse_for_save)
        .transpose()?;
    let app = state
        .store
        .create_app(
            new_app(&state, &body.name, user.id, body.launch.clone()),
            audit_event(&who, "app.create", None, json!({})),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict(format!("an app named {:?} already exists", body.name))
            }
            e => e.into(),
        })?;
    let latest = match first {
        Some(doc) => {
            let first = secrets::Edit::new(0, body.message);
            let saved = secrets::save_version(&state, &who, &app, &doc, first).await?;
            Some(saved.meta().clone())
        }
        None => None,
    };
    if let Some(launcher) = &state.launcher {
        launcher.start(&state, &app)?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(AppView::new(&app, latest.as_ref())),
    ))
}

/// Deletes an app, its history and its tokens (owners).
#[utoipa::path(delete, path = "/apps/{app}", tag = "apps",
    responses((status = 204, description = "Deleted")))]
pub async fn remove(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
) -> ApiResult<StatusCode> {
    state.audit.ensure_writable()?;
    let envs = state.store.list_environments(app.id).await?;
    state
        .store
        .delete_app(
            app.id,
            audit_event(&who, "app.delete", Some(&app), json!({})),
        )
        .await?;
    // Every environment's watchers and cached tokens end with it (production's id is the app's).
    for env in envs {
        state.apply_event(&StoreEvent::AppDeleted { app_id: env.id });
    }
    state.apply_event(&StoreEvent::AppDeleted { app_id: app.id });
    Ok(StatusCode::NO_CONTENT)
}
