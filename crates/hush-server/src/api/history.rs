//! An app's history: the list of versions, one version's text (editors, audited), and the
//! key-level difference between two versions (names only, any member).

use axum::extract::State;
use hush_core::{Document, Table};
use hush_store::{App, StoreError, VersionRecord};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::{AppAccess, Editor, Path, Query, Viewer};
use super::reveal::record_reveal;
use super::views::{DiffView, VersionText, VersionView, Versions};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// `/apps/{app}/versions/{version}`.
#[derive(Deserialize)]
pub struct VersionPath {
    #[allow(dead_code)] // the app is resolved by `AppAccess`
    app: String,
    pub version: i64,
}

#[derive(Deserialize, IntoParams, ToSchema)]
pub struct Page {
    /// Only versions older than this one (paging back).
    before: Option<i64>,
    /// At most this many (1 to 500, others are brought into that range; 50 when absent).
    limit: Option<i64>,
}

impl Page {
    /// `before`, and the limit brought into 1 to 500 (50 when absent).
    pub fn bounds(&self) -> (Option<i64>, i64) {
        (self.before, self.limit.unwrap_or(50).clamp(1, 500))
    }
}

/// The versions of an app, newest first (any member).
#[utoipa::path(get, path = "/apps/{app}/versions", tag = "history", params(Page),
    responses((status = 200, body = Versions)))]
pub async fn versions(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
    Query(page): Query<Page>,
) -> ApiResult<axum::Json<Versions>> {
    Ok(axum::Json(versions_of(&state, &app, &page).await?))
}

/// A page of the versions of `app` (an app environment, or a shared document's handle).
pub(super) async fn versions_of(state: &AppState, app: &App, page: &Page) -> ApiResult<Versions> {
    let (before, limit) = page.bounds();
    let list = state.store.list_versions(app.env_id, before, limit).await?;
    Ok(Versions {
        versions: list.iter().map(VersionView::new).collect(),
    })
}

/// One version with its text (editors, audited as a reveal).
#[utoipa::path(get, path = "/apps/{app}/versions/{version}", tag = "history",
    params(("version" = i64, Path)),
    responses((status = 200, body = VersionText), (status = "default", description = "404 no such version")))]
pub async fn version(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
    Path(VersionPath { version, .. }): Path<VersionPath>,
) -> ApiResult<axum::Json<VersionText>> {
    state.audit.ensure_writable()?;
    let record = get_version(&state, &app, version).await?;
    let text = state.vault.open(&app, &record)?;
    record_reveal(&state, &who, &app, json!({ "version": version })).await?;
    Ok(axum::Json(VersionText {
        version: VersionView::new(&record.meta),
        toml: text.to_string(),
    }))
}

pub(super) async fn get_version(
    state: &AppState,
    app: &App,
    version: i64,
) -> ApiResult<VersionRecord> {
    state
        .store
        .get_version(app.env_id, version)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::not_found(format!("app {:?} has no version {version}", app.name))
            }
            e => e.into(),
        })
}

/// The tree of `version` (0: the empty document before version 1).
pub(super) async fn version_root(state: &AppState, app: &App, version: i64) -> ApiResult<Table> {
    if version == 0 {
        return Ok(Table::default());
    }
    let record = get_version(state, app, version).await?;
    stored_root(&state.vault.open(app, &record)?)
}

/// The tree of a stored version's text. It was checked when it was saved, so text that does not
/// parse now is the server's fault.
pub(super) fn stored_root(text: &str) -> ApiResult<Table> {
    Document::parse(text)
        .map(Document::into_root)
        .map_err(|_| ApiError::internal())
}

#[derive(Deserialize, IntoParams, ToSchema)]
pub struct DiffQuery {
    pub(super) from: i64,
    /// The newest version when absent.
    pub(super) to: Option<i64>,
}

/// Key-level difference between two versions; names only (any member).
#[utoipa::path(get, path = "/apps/{app}/diff", tag = "history", params(DiffQuery),
    responses((status = 200, body = DiffView), (status = "default", description = "404 no such version")))]
pub async fn diff(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<axum::Json<DiffView>> {
    Ok(axum::Json(diff_of(&state, &app, &q).await?))
}

/// The key-level difference between two versions of `app` (an app environment, or a shared
/// document's handle).
pub(super) async fn diff_of(state: &AppState, app: &App, q: &DiffQuery) -> ApiResult<DiffView> {
    let to = match q.to {
        Some(v) => v,
        None => state
            .vault
            .latest(state.store.as_ref(), app)
            .await?
            .map_or(0, |l| l.version),
    };
    let old = version_root(state, app, q.from).await?;
    let new = version_root(state, app, to).await?;
    Ok(DiffView {
        from: q.from,
        to,
        diff: hush_core::diff(&old, &new).into(),
    })
}
