//! An app's secrets: the newest version (for its running copies and editors), saving a new
//! version on top of the one an edit started from (409 when someone saved since), rollback,
//! the editor's live validation, and the key names anyone may see.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use hush_core::{Document, Table};
use hush_store::{
    App, NewVersion, Role, StoreError, StoreEvent, VersionMeta, VersionRecord, now_millis,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{AppAccess, Editor, EditorOrRunner, Json, Viewer};
use super::extract::{in_env, member_app};
use super::views::{Changes, Invalid, Keys, SecretsView, Validation, VersionView};
use crate::audit::ReadKey;
use crate::auth::Principal;
use crate::envs::Current;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::vault::Latest;
use crate::{AppState, lint};

const MAX_MESSAGE_CHARS: usize = 500;
/// A 409 lists at most this many versions saved since, and this many key names of each.
const CONFLICT_VERSIONS: i64 = 10;
const CONFLICT_NAMES: usize = 20;

pub(super) fn check_message(message: Option<&str>) -> ApiResult<()> {
    match message {
        Some(m) if m.chars().count() > MAX_MESSAGE_CHARS => Err(ApiError::bad_request(format!(
            "message: use at most {MAX_MESSAGE_CHARS} characters"
        ))),
        _ => Ok(()),
    }
}

/// The newest secrets: the app's own tokens, or an editor (audited as a reveal).
#[utoipa::path(get, path = "/apps/{app}/secrets", tag = "secrets",
    responses((status = 200, body = SecretsView), (status = "default", description = "404 when the app has no secrets yet")))]
pub async fn read(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<EditorOrRunner>,
) -> ApiResult<Response> {
    state.audit.ensure_writable()?;
    let current = crate::envs::current(&state, &app).await?;
    if current.is_empty() {
        return Err(ApiError::not_found(format!(
            "app {:?} has no secrets yet in {}; save some first",
            app.name, app.env
        )));
    }
    let body = match ready_body(&state, &app, &current) {
        Some(body) => body,
        None => build_body(&state, &app, &current).await?,
    };
    answer_read(&state, &who, &app, &current, body).await
}

/// The body of a read of `current` when it is ready to send: the own version's (serialized
/// once per version) when nothing is included, else the merged one if it was built already.
pub(crate) fn ready_body(state: &AppState, app: &App, current: &Current) -> Option<Bytes> {
    match &current.own {
        Some(latest) if current.includes.is_empty() && current.rev.shared == 0 => {
            Some(latest.body.clone())
        }
        _ => state.bodies.cached(app.env_id, current),
    }
}

/// The effective document: included shared documents, then the environment's own (merged
/// once per state of the environment).
async fn build_body(state: &AppState, app: &App, current: &Current) -> ApiResult<Bytes> {
    state
        .bodies
        .get_or_build(app.env_id, current, || {
            Metrics::inc(&state.metrics.effective_builds);
            let text = current.text()?;
            Ok(serde_json::to_vec(&json!({
                "app": app.name,
                "env": app.env,
                "version": current.version(),
                "revision": current.rev.total(),
                "created_at": current.own.as_ref().map(|l| l.meta.created_at),
                "includes": current.included_versions(),
                "toml": text.as_str(),
            }))
            .map_err(|_| ApiError::internal())?
            .into())
        })
        .await
}

/// The answer to a read of `current` whose body is ready: the audit count, the metric, the
/// response. The route above and the fast read path (`fast_read.rs`) both answer here.
pub(crate) async fn answer_read(
    state: &AppState,
    who: &Principal,
    app: &App,
    current: &Current,
    body: Bytes,
) -> ApiResult<Response> {
    let action = if matches!(who, Principal::App { .. }) {
        "secrets.read"
    } else {
        "secrets.reveal"
    };
    let (actor_kind, actor_id) = who.actor();
    let key = ReadKey {
        actor_kind,
        actor_id,
        action,
        // One row per environment and revision (its own version and its includes' together).
        app_id: app.env_id,
        version: current.rev.total(),
        ip: who.ip(),
    };
    state
        .audit
        .count_read(key, || {
            audit_event(
                who,
                action,
                Some(app),
                json!({ "env": app.env, "version": current.version(), "revision": current.rev.total(),
                    "includes": current.included_versions() }),
            )
        })
        .await?;
    Metrics::inc(&state.metrics.secret_reads);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("static headers are valid"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    toml: String,
    /// The version this edit started from (0 for an app without secrets yet).
    #[schema(minimum = 0)]
    base_version: i64,
    #[schema(max_length = 500)]
    message: Option<String>,
}

/// Saves a new version (editors). A stale `base_version` gets 409 with what was saved since;
/// text identical to the newest version creates nothing (`"unchanged": true`).
#[utoipa::path(put, path = "/apps/{app}/secrets", tag = "secrets", request_body = SaveBody,
    responses((status = 200, body = VersionView), (status = "default", description = "409 conflict (with `since`), 413 too_large, 422 invalid_toml or invalid_key (with line and column), 503 when nothing could be saved")))]
pub async fn save(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
    Json(body): Json<SaveBody>,
) -> ApiResult<axum::Json<VersionView>> {
    check_message(body.message.as_deref())?;
    let doc = Document::parse_for_save(&body.toml)?;
    check_with_includes(&state, &app, &doc).await?;
    let edit = Edit::new(body.base_version, body.message);
    let saved = save_version(&state, &who, &app, &doc, edit).await?;
    Ok(axum::Json(saved.into_view()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// The version whose text becomes the newest again.
    #[schema(minimum = 1)]
    pub(super) version: i64,
    #[schema(minimum = 0)]
    pub(super) base_version: i64,
    #[schema(max_length = 500)]
    pub(super) message: Option<String>,
}

impl RollbackBody {
    /// The new version a rollback makes: on `base_version`, saying which version it restores
    /// ("Rollback to version N" when no message is given).
    pub(super) fn into_edit(self) -> Edit {
        Edit {
            base: self.base_version,
            message: self
                .message
                .or_else(|| Some(format!("Rollback to version {}", self.version))),
            restored_from: Some(self.version),
        }
    }
}

/// What a save says besides the text: the version it starts from, its message, and for a
/// rollback the version whose text it restores.
pub(super) struct Edit {
    base: i64,
    message: Option<String>,
    restored_from: Option<i64>,
}

impl Edit {
    /// A save of new text on top of `base` (0 for a document without versions yet).
    pub(super) fn new(base: i64, message: Option<String>) -> Edit {
        Edit {
            base,
            message,
            restored_from: None,
        }
    }
}

/// Makes a new version with the text of an old one (editors); history is never rewritten.
#[utoipa::path(post, path = "/apps/{app}/rollback", tag = "secrets", request_body = RollbackBody,
    responses((status = 200, body = VersionView), (status = "default", description = "404 no such version, 409 conflict")))]
pub async fn rollback(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
    Json(body): Json<RollbackBody>,
) -> ApiResult<axum::Json<VersionView>> {
    check_message(body.message.as_deref())?;
    let record = super::history::get_version(&state, &app, body.version).await?;
    let text = state.vault.open(&app, &record)?;
    let doc = Document::parse_for_save(&text)?;
    // What the old text merges with now may not be what it merged with then.
    check_with_includes(&state, &app, &doc).await?;
    let saved = save_version(&state, &who, &app, &doc, body.into_edit()).await?;
    Ok(axum::Json(saved.into_view()))
}

/// With included shared documents, what the environment would deliver (the merge) must be
/// valid too, not only its own text.
async fn check_with_includes(state: &AppState, app: &App, doc: &Document) -> ApiResult<()> {
    if let Some(merged) = crate::envs::effective_with_own(state, app, doc.root()).await? {
        super::environments::check_effective(app, &merged)?;
    }
    Ok(())
}

/// What a save did: a new version, or nothing because the text is the newest version's already.
pub(super) enum Saved {
    Created(VersionMeta),
    Unchanged(VersionMeta),
}

impl Saved {
    pub(super) fn into_view(self) -> VersionView {
        match self {
            Saved::Created(meta) => VersionView::new(&meta),
            Saved::Unchanged(meta) => VersionView {
                unchanged: true,
                ..VersionView::new(&meta)
            },
        }
    }

    pub(super) fn meta(&self) -> &VersionMeta {
        match self {
            Saved::Created(meta) | Saved::Unchanged(meta) => meta,
        }
    }
}

/// Seals `doc` as version `edit.base + 1` and stores it with its audit event in one
/// transaction; refuses a stale base with what was saved since. Text identical to the newest
/// version's creates nothing (an empty "+0 ~0 -0" version helps nobody). The cache and the
/// watchers hear of the version only once it is committed.
pub(super) async fn save_version(
    state: &AppState,
    who: &Principal,
    app: &App,
    doc: &Document,
    edit: Edit,
) -> ApiResult<Saved> {
    let Edit {
        base,
        message,
        restored_from,
    } = edit;
    state.audit.ensure_writable()?;
    let latest = state.vault.latest(state.store.as_ref(), app).await?;
    let latest_version = latest.as_ref().map_or(0, |l| l.version);
    if base != latest_version {
        return Err(conflict(state, app, base).await);
    }
    if let Some(latest) = &latest
        && latest.text.as_str() == doc.text()
    {
        return Ok(Saved::Unchanged(latest.meta.clone()));
    }
    let summary = serde_json::to_value(hush_core::diff(&saved_root(latest.as_deref()), doc.root()))
        .map_err(|_| ApiError::internal())?;
    let version = base + 1;
    let ciphertext = state.vault.seal(app, version, doc.text())?;
    let action = if restored_from.is_some() {
        "secrets.rollback"
    } else {
        "secrets.update"
    };
    let mut detail = json!({ "version": version, "changes": summary });
    if let Some(from) = restored_from {
        detail["restored_from"] = json!(from);
    }
    let new = NewVersion {
        version,
        author_id: who.user().ok().map(|u| u.id),
        created_at: now_millis(),
        message: message.filter(|m| !m.trim().is_empty()),
        ciphertext: ciphertext.clone(),
        summary,
        restored_from,
    };
    let audit = audit_event(who, action, Some(app), detail);
    let meta = match state
        .store
        .create_version(app.env_id, base, new, audit)
        .await
    {
        Ok(meta) => meta,
        Err(StoreError::Conflict(_)) => return Err(conflict(state, app, base).await),
        Err(StoreError::CommitUnknown(reason)) => {
            confirm_commit(state, app, version, &ciphertext, reason).await?
        }
        Err(StoreError::Unavailable(reason)) => return Err(nothing_saved(&reason)),
        Err(e) => return Err(e.into()),
    };
    state.vault.remember(
        app,
        VersionRecord {
            meta: meta.clone(),
            ciphertext,
        },
    )?;
    state.apply_event(&StoreEvent::NewVersion {
        app_id: app.env_id,
        version,
    });
    Metrics::inc(&state.metrics.secret_saves);
    Ok(Saved::Created(meta))
}

/// The tree of the newest saved version (empty when there is none), to diff an edit against.
fn saved_root(latest: Option<&Latest>) -> Table {
    latest
        .and_then(|l| Document::parse(&l.text).ok())
        .map(Document::into_root)
        .unwrap_or_default()
}

/// A save the database could not take: said plainly, with its reason, and that nothing changed.
fn nothing_saved(reason: &str) -> ApiError {
    ApiError::unavailable(format!(
        "nothing was saved: {reason}; try again once the server's database can be written"
    ))
}

/// The connection broke while the save was committing: look whether it is there. Our own
/// ciphertext in that version means it was saved; no such version means it was not; no
/// answer means nobody can tell yet.
async fn confirm_commit(
    state: &AppState,
    app: &App,
    version: i64,
    ciphertext: &[u8],
    reason: String,
) -> ApiResult<VersionMeta> {
    for _ in 0..5 {
        match state.store.get_version(app.env_id, version).await {
            Ok(found) if found.ciphertext == ciphertext => return Ok(found.meta),
            Ok(_) => return Err(conflict(state, app, version - 1).await),
            Err(StoreError::NotFound) => return Err(nothing_saved(&reason)),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
    Err(
        ApiError::unavailable(format!("{reason}; check the history before saving again"))
            .with_code("commit_unknown"),
    )
}

/// A 409 that says who saved what since `base`, so nobody overwrites a change unknowingly.
/// Bounded: the newest few versions, a few key names of each.
async fn conflict(state: &AppState, app: &App, base: i64) -> ApiError {
    let since = state
        .store
        .list_versions(app.env_id, None, CONFLICT_VERSIONS)
        .await
        .unwrap_or_default();
    let since: Vec<&VersionMeta> = since.iter().filter(|m| m.version > base).collect();
    let latest = since.first().map_or(base, |m| m.version);
    let who = since
        .iter()
        .rev()
        .map(|m| {
            format!(
                "version {} by {}",
                m.version,
                m.author_name.as_deref().unwrap_or("someone")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let message = if since.is_empty() {
        format!(
            "your edit starts from version {base}, which is not the newest; reload and try again"
        )
    } else {
        format!(
            "since version {base}, {who} was saved; review the difference, then save again on top of version {latest}"
        )
    };
    let listed: Vec<VersionView> = since
        .iter()
        .map(|m| VersionView {
            changes: Changes::of(m).first(CONFLICT_NAMES),
            ..VersionView::new(m)
        })
        .collect();
    ApiError::conflict(message).with_extra(json!({
        "base_version": base,
        "latest_version": latest,
        "since": listed,
    }))
}

/// Key names and what becomes an environment variable, never values (any member may look):
/// of the effective secrets, with the document each root key comes from.
#[utoipa::path(get, path = "/apps/{app}/keys", tag = "secrets",
    responses((status = 200, body = Keys)))]
pub async fn keys(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<Keys>> {
    let current = crate::envs::current(&state, &app).await?;
    let merged = current.effective(&app.env)?;
    let doc = match &current.own {
        // Nothing included: the text as saved (the warnings' line numbers stay right).
        Some(own) if current.includes.is_empty() => Document::parse(&own.text),
        _ => Document::parse(&merged.to_toml()),
    }
    .map_err(|_| ApiError::internal())?;
    Ok(axum::Json(Keys {
        version: current.version(),
        revision: current.rev.total(),
        includes: current.included_versions(),
        keys: doc.key_paths(),
        sources: merged
            .provenance()
            .map(super::environments::KeySource::from)
            .collect(),
        masked: (!current.is_empty()).then(|| hush_core::masked(doc.root())),
        env: lint::env_preview(&doc),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    toml: String,
    /// Compare with this app's newest version (key names only; editors).
    app: Option<String>,
    /// The environment of `app` to compare with (`production` when absent).
    #[schema(min_length = 1, max_length = 63)]
    env: Option<String>,
}

/// The editor's live check: the same rules as a save, the environment preview, warnings, and
/// the key-level difference from the saved version. Nothing is stored.
#[utoipa::path(post, path = "/validate", tag = "secrets", request_body = ValidateBody,
    responses((status = 200, body = Validation)))]
pub async fn validate(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<ValidateBody>,
) -> ApiResult<axum::Json<Validation>> {
    who.require(Role::Viewer)?;
    let doc = match Document::parse_for_save(&body.toml) {
        Ok(doc) => doc,
        Err(err) => {
            let api = ApiError::from(err);
            let extra = api.extra.map(|e| *e).unwrap_or_default();
            return Ok(axum::Json(Validation {
                valid: false,
                error: Some(Invalid {
                    code: api.code,
                    message: api.message,
                    line: extra["line"].as_u64().map(|n| n as usize),
                    column: extra["column"].as_u64().map(|n| n as usize),
                    toml11_only: extra["toml11_only"].as_bool(),
                    key: extra["key"].as_str().map(String::from),
                }),
                env: None,
                warnings: None,
                diff: None,
                base_version: None,
            }));
        }
    };
    let mut out = Validation {
        valid: true,
        error: None,
        env: Some(lint::env_preview(&doc)),
        warnings: Some(lint::warnings(&doc)),
        diff: None,
        base_version: None,
    };
    if body.env.is_some() && body.app.is_none() {
        return Err(ApiError::bad_request(
            "env: give the app too (the environment is one of an app's)",
        ));
    }
    if let Some(name) = body.app.as_deref() {
        // Comparing with the saved version tells whether a guessed value is right: editors only.
        let app = member_app(&state, &who, name, Role::Editor).await?;
        let app = in_env(&state, app, body.env.as_deref()).await?;
        let latest = state.vault.latest(state.store.as_ref(), &app).await?;
        out.diff = Some(hush_core::diff(&saved_root(latest.as_deref()), doc.root()).into());
        out.base_version = Some(latest.map_or(0, |l| l.version));
    }
    Ok(axum::Json(out))
}
