//! Health and readiness.

use axum::extract::State;
use hush_store::{WriteHealth, now_millis};

use super::views::{Health, Ready};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Alive (answers without touching the database).
#[utoipa::path(get, path = "/health", tag = "system", security(()),
    responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Ready when the database answers, takes writes, and the audit log is being written. After a
/// failed write, a small probe write says whether writes work again (a full disk was freed),
/// so readiness comes back by itself.
#[utoipa::path(get, path = "/ready", tag = "system", security(()),
    responses((status = 200, body = Ready), (status = "default", description = "503 with the reason")))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<axum::Json<Ready>> {
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
    Ok(axum::Json(Ready {
        status: "ready",
        backend: state.store.backend().as_str(),
    }))
}
