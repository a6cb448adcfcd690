//! The audit log, filtered and paged, or exported as JSON lines (owners).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hush_store::{AuditFilter, Role};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{Query, find_app};
use super::views::{AuditEntries, AuditEntry};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this member's (or app token's) events.
    actor: Option<String>,
    /// An exact action, or a prefix ending in '.' (`secrets.`).
    action: Option<String>,
    app: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    /// Only events with an id below this (paging back).
    before: Option<i64>,
    limit: Option<i64>,
    /// `jsonl` for an export as JSON lines.
    format: Option<String>,
}

/// Audit events, newest first (owners).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "The events; with `format=jsonl`, one JSON object per line",
            content((AuditEntries = "application/json"), (String = "application/x-ndjson")))))]
pub async fn query(
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
    let entries: Vec<AuditEntry> = records.into_iter().map(AuditEntry::from).collect();
    if jsonl {
        let mut out = String::new();
        for entry in &entries {
            out.push_str(&serde_json::to_string(entry).map_err(|_| ApiError::internal())?);
            out.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response());
    }
    Ok(axum::Json(AuditEntries { events: entries }).into_response())
}
