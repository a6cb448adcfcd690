//! Health, readiness and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, now_millis};
use hush_store::WriteHealth;

pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Ready when the database answers, takes writes, and the audit log is being written. After a
/// failed write, a small probe write says whether writes work again (a full disk was freed),
/// so readiness comes back by itself.
pub async fn ready(
    State(state): State<AppState>,
) -> ApiResult<(StatusCode, axum::Json<serde_json::Value>)> {
    state.store.user_count().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness: database not answering");
        ApiError::unavailable("the database is not answering")
    })?;
    if let WriteHealth::Failing { reason, .. } = state.store.write_health()
        && let Err(err) = state.store.probe_write(now_millis()).await
    {
        tracing::warn!(error = %err, "readiness: the database still cannot be written");
        return Err(ApiError::unavailable(format!(
            "the database cannot be written: {reason}"
        )));
    }
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
