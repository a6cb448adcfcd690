//! Health, readiness and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Ready when the database answers and the audit log is being written.
pub async fn ready(
    State(state): State<AppState>,
) -> ApiResult<(StatusCode, axum::Json<serde_json::Value>)> {
    state.store.user_count().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: database not answering");
        ApiError::unavailable("the database is not answering")
    })?;
    state.audit.ensure_writable()?;
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "status": "ready", "backend": state.store.backend() })),
    ))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
}
