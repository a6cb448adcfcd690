//! Running copies of an app: each reports which version it applied; members see them.

use axum::extract::State;
use axum::http::StatusCode;
use hush_store::{AppliedVersions, InstanceReport, InstanceStatus, now_millis};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{AppAccess, EditorOrRunner, Json, Viewer};
use super::views::Instances;
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// The app's running copies, newest report first (any member).
#[utoipa::path(get, path = "/apps/{app}/instances", tag = "instances",
    responses((status = 200, body = Instances)))]
pub async fn list(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<Instances>> {
    Ok(axum::Json(Instances {
        instances: super::apps::instances(&state, &app).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// Chosen by the runner; stable for the life of its process (1 to 100 bytes).
    #[schema(min_length = 1, max_length = 100)]
    instance_id: String,
    #[schema(min_length = 1, max_length = 255)]
    hostname: String,
    pid: Option<i64>,
    /// The effective revision applied (what the watch stream announces).
    #[schema(minimum = 0)]
    applied_version: i64,
    /// Its parts: the environment's own version and each included shared document's.
    applied: Option<AppliedVersions>,
    /// `running` when absent.
    status: Option<InstanceStatus>,
}

/// A running copy says which version it applied (the app's own tokens; editors).
#[utoipa::path(post, path = "/apps/{app}/instances", tag = "instances", request_body = ReportBody,
    responses((status = 204, description = "Recorded")))]
pub async fn report(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<EditorOrRunner>,
    Json(body): Json<ReportBody>,
) -> ApiResult<StatusCode> {
    let fits = |s: &str, n: usize| !s.is_empty() && s.len() <= n;
    if !fits(&body.instance_id, 100) || !fits(&body.hostname, 255) {
        return Err(ApiError::bad_request(
            "instance_id and hostname: give 1 to 100 and 1 to 255 bytes",
        ));
    }
    if body.applied_version < 0 {
        return Err(ApiError::bad_request("applied_version: give 0 or more"));
    }
    if let Some(applied) = &body.applied {
        check_applied(applied)?;
    }
    state
        .store
        .report_instance(InstanceReport {
            app_id: app.env_id,
            instance_id: body.instance_id,
            hostname: body.hostname,
            pid: body.pid,
            applied_version: body.applied_version,
            applied: body.applied,
            status: body.status.unwrap_or(InstanceStatus::Running),
            reported_at: now_millis(),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An environment includes at most a few documents; a report names no more than this many.
const MAX_APPLIED_SHARED: usize = 100;

/// Refuses parts no environment can have (the revision itself is the runner's word, as before).
fn check_applied(applied: &AppliedVersions) -> ApiResult<()> {
    if applied.version < 0 {
        return Err(ApiError::bad_request("applied.version: give 0 or more"));
    }
    if applied.shared.len() > MAX_APPLIED_SHARED {
        return Err(ApiError::bad_request(format!(
            "applied.shared: give at most {MAX_APPLIED_SHARED} documents"
        )));
    }
    for (i, doc) in applied.shared.iter().enumerate() {
        super::check_app_name(&doc.name).map_err(|e| {
            ApiError::bad_request(format!("applied.shared[{i}].name: {}", e.message))
        })?;
        if doc.version < 0 {
            return Err(ApiError::bad_request(format!(
                "applied.shared[{i}].version: give 0 or more"
            )));
        }
    }
    Ok(())
}
