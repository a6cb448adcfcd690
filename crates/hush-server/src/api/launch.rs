//! Server-launched apps: their process and masked output, a reboot, and the launch settings
//! (owners only: they decide what runs on the server).

use axum::extract::State;
use axum::http::StatusCode;
use hush_store::{LaunchConfig, StoreEvent};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::audit_event;
use super::extract::{AppAccess, Editor, Json, Owner, Query};
use super::views::LaunchStatus;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Refuses launch settings this server cannot use, naming the field.
pub(super) fn check(state: &AppState, launch: &LaunchConfig) -> ApiResult<()> {
    let Some(root) = &state.config.apps_dir else {
        return Err(ApiError::bad_request(
            "server-launched apps are off: start `hush serve` with --apps-dir to turn them on",
        ));
    };
    if launch.folder.trim().is_empty() {
        return Err(ApiError::bad_request(
            "launch.folder: give the app's folder inside the apps directory",
        ));
    }
    let folder = std::path::Path::new(&launch.folder);
    if folder.is_absolute()
        || folder
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(ApiError::bad_request(format!(
            "launch.folder: give a folder inside the apps directory {}, as a relative path without '..'",
            root.display()
        )));
    }
    crate::launcher::command_words(&launch.command)?;
    if let Some(env) = &launch.env {
        super::check_app_name(env)
            .map_err(|e| ApiError::bad_request(format!("launch.env: {}", e.message)))?;
    }
    if let Some(launcher) = &state.launcher {
        launcher.folder(launch)?;
    }
    Ok(())
}

fn not_launched(app: &str) -> ApiError {
    ApiError::not_found(format!("app {app:?} is not launched by this server"))
}

#[derive(Deserialize, IntoParams)]
pub struct LogsQuery {
    /// Only output lines after this sequence number.
    since: Option<u64>,
}

/// A server-launched app's state and its newest output lines, masked (editors).
#[utoipa::path(get, path = "/apps/{app}/launch", tag = "launch", params(LogsQuery),
    responses((status = 200, body = LaunchStatus), (status = "default", description = "404 when this server does not launch the app")))]
pub async fn status(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Editor>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<axum::Json<LaunchStatus>> {
    let status = state
        .launcher
        .as_ref()
        .and_then(|l| l.status(app.id, q.since.unwrap_or(0)))
        .ok_or_else(|| not_launched(&app.name))?;
    let status = serde_json::from_value(status).map_err(|e| {
        tracing::error!(error = %e, "the launcher's status does not have the documented shape");
        ApiError::internal()
    })?;
    Ok(axum::Json(status))
}

/// Stops the app's process and starts it again with the newest secrets (editors).
#[utoipa::path(post, path = "/apps/{app}/reboot", tag = "launch",
    responses((status = 202, description = "Rebooting"), (status = "default", description = "404 when this server does not launch the app")))]
pub async fn reboot(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
) -> ApiResult<StatusCode> {
    let rebooted = state.launcher.as_ref().is_some_and(|l| l.reboot(app.id));
    if !rebooted {
        return Err(not_launched(&app.name));
    }
    state
        .audit
        .record_durably(audit_event(&who, "app.reboot", Some(&app), json!({})))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets (or, with `null`, clears) how the server launches the app (owners): its folder,
/// command, port and the environment whose effective secrets it follows (`production` when
/// absent; 404 when the app has no such environment).
#[utoipa::path(put, path = "/apps/{app}/launch", tag = "launch", request_body = Option<LaunchConfig>,
    responses((status = 204, description = "Saved; the app restarts with them"), (status = "default", description = "400 names the field that cannot be used")))]
pub async fn set(
    State(state): State<AppState>,
    AppAccess { who, mut app, .. }: AppAccess<Owner>,
    Json(launch): Json<Option<LaunchConfig>>,
) -> ApiResult<StatusCode> {
    if let Some(launch) = &launch {
        check(&state, launch)?;
        super::extract::in_env(&state, app.clone(), Some(launch.env_name())).await?;
    }
    state
        .store
        .set_app_launch(
            app.id,
            launch.clone(),
            audit_event(&who, "app.launch", Some(&app), json!({ "launch": launch })),
        )
        .await?;
    state.apply_event(&StoreEvent::LaunchChanged { app_id: app.id });
    app.launch = launch;
    if let Some(launcher) = &state.launcher {
        launcher.stop(app.id);
        launcher.start(&state, &app)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
