//! Workspace shared documents (`common-db`, `api-keys`, …): TOML documents that app
//! environments include, in order, under their own document. Each has its own immutable
//! history. Any member may list them and see their key names (values masked), of any version,
//! and the key-level diff between two; editors read, save and roll them back; owners create and
//! delete them, and give members a role on one document (`app_roles.rs`) that replaces their
//! workspace role for it — every route here checks the role on the document. A save is refused
//! when it would make the effective secrets of an environment that includes it invalid (naming
//! the environment), and reaches every running copy of every including environment at once.

use axum::extract::State;
use axum::http::StatusCode;
use hush_core::Document;
use hush_store::{App, Role, StoreError, effective_role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{Json, Path, Query, role_on_app, roles_by_app};
use super::reveal::record_reveal;
use super::secrets::{Edit, save_version};
use super::views::{DiffView, VersionView, Versions};
use crate::AppState;
use crate::auth::Principal;
use crate::envs;
use crate::error::{ApiError, ApiResult};

/// The shared document named `name`, or a 404 that names it (a 400 for a name no document can
/// have).
pub async fn find_doc(state: &AppState, name: &str) -> ApiResult<App> {
    super::check_app_name(name)?;
    match state.store.find_shared_doc(name).await {
        Ok(doc) => Ok(doc),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "no shared document named {name:?}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The shared document named `name` and the caller's role on it, once that role is at least
/// `need`: a role set on the document replaces the workspace role (owners have every
/// document). A 403 names the document and the caller's role there.
pub async fn doc_access(
    state: &AppState,
    who: &Principal,
    name: &str,
    need: Role,
) -> ApiResult<(App, Role)> {
    who.user()?;
    let doc = find_doc(state, name).await?;
    match role_on_app(state, who, &doc).await? {
        Some(have) if have >= need => Ok((doc, have)),
        have => Err(ApiError::forbidden(format!(
            "this needs the {} role on the shared document {:?}; you are {} there",
            need.as_str(),
            doc.name,
            have.map_or("without access", Role::as_str)
        ))
        .by(who)),
    }
}

/// A shared document as the vault opens it (its versions are its own id's).
pub fn handle(doc: &App) -> App {
    App {
        env_id: doc.id,
        ..doc.clone()
    }
}

#[derive(Serialize, ToSchema)]
pub struct SharedDocView {
    pub name: String,
    /// Its newest version (0 when it has none yet).
    pub version: i64,
    pub updated_at: Option<i64>,
    /// The environments that include it, as `app/env`.
    pub included_by: Vec<String>,
    /// The caller's role on it (a role set on the document replaces the workspace role).
    pub role: Option<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct SharedDocs {
    pub documents: Vec<SharedDocView>,
}

/// Every shared document (any member).
#[utoipa::path(get, path = "/shared", tag = "shared",
    responses((status = 200, body = SharedDocs)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<axum::Json<SharedDocs>> {
    let user = who.require(Role::Viewer)?;
    let on_doc = roles_by_app(&state, user).await?;
    let mut documents = Vec::new();
    for (doc, latest) in state.store.list_shared_docs().await? {
        let users = state.store.including(doc.id).await?;
        documents.push(SharedDocView {
            role: effective_role(user.role, on_doc.get(&doc.id).copied()),
            name: doc.name,
            version: latest.as_ref().map_or(0, |v| v.version),
            updated_at: latest.map(|v| v.created_at),
            included_by: users.iter().map(|u| u.label()).collect(),
        });
    }
    Ok(axum::Json(SharedDocs { documents }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSharedBody {
    name: String,
    /// The first version's TOML.
    toml: Option<String>,
    #[schema(max_length = 500)]
    message: Option<String>,
}

/// Creates a shared document, with its first version when `toml` is given (owners). Its name
/// may not be an app's.
#[utoipa::path(post, path = "/shared", tag = "shared", request_body = CreateSharedBody,
    responses((status = 201, body = SharedDocView), (status = "default", description = "400 bad_name, 409 name taken, 422 invalid_toml")))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<CreateSharedBody>,
) -> ApiResult<(StatusCode, axum::Json<SharedDocView>)> {
    let user = who.require(Role::Owner)?;
    super::check_app_name(&body.name)?;
    super::secrets::check_message(body.message.as_deref())?;
    let first = body
        .toml
        .as_deref()
        .map(Document::parse_for_save)
        .transpose()?;
    let doc = state
        .store
        .create_shared_doc(
            super::apps::new_app(&state, &body.name, user.id, None),
            audit_event(
                &who,
                "shared.create",
                None,
                json!({ "document": body.name }),
            ),
        )
        .await?;
    let mut version = 0;
    let mut updated_at = None;
    if let Some(doc_text) = first {
        let first = Edit::new(0, body.message);
        let saved = save_version(&state, &who, &handle(&doc), &doc_text, first).await?;
        version = saved.meta().version;
        updated_at = Some(saved.meta().created_at);
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(SharedDocView {
            name: doc.name,
            version,
            updated_at,
            included_by: Vec::new(),
            role: Some(Role::Owner),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SharedDocDetail {
    pub name: String,
    pub version: i64,
    pub keys: Vec<String>,
    /// The document's shape with every value masked.
    #[schema(value_type = Object)]
    pub masked: serde_json::Value,
    pub included_by: Vec<String>,
    /// The caller's role on it (a role set on the document replaces the workspace role).
    pub role: Role,
    /// The TOML text (editors of the document only; audited as a reveal).
    pub toml: Option<String>,
}

/// One shared document: key names and masked values for any member, the text for its editors.
#[utoipa::path(get, path = "/shared/{doc}", tag = "shared",
    responses((status = 200, body = SharedDocDetail), (status = "default", description = "404 no such document")))]
pub async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<SharedDocDetail>> {
    let (doc, role) = doc_access(&state, &who, &name, Role::Viewer).await?;
    let latest = state
        .vault
        .latest(state.store.as_ref(), &handle(&doc))
        .await?;
    let parsed = match &latest {
        Some(l) => Document::parse(&l.text).map_err(|_| ApiError::internal())?,
        None => Document::parse("").map_err(|_| ApiError::internal())?,
    };
    let users = state.store.including(doc.id).await?;
    let toml = match &latest {
        Some(l) => text_for_editors(&state, &who, &doc, role, l.version, &parsed).await?,
        None => None,
    };
    Ok(axum::Json(SharedDocDetail {
        name: doc.name.clone(),
        version: latest.as_ref().map_or(0, |l| l.version),
        keys: parsed.key_paths(),
        masked: hush_core::masked(parsed.root()),
        included_by: users.iter().map(|u| u.label()).collect(),
        role,
        toml,
    }))
}

/// The text of version `version` of `doc` for the document's editors (audited as a reveal);
/// none for its viewers.
async fn text_for_editors(
    state: &AppState,
    who: &Principal,
    doc: &App,
    role: Role,
    version: i64,
    parsed: &Document,
) -> ApiResult<Option<String>> {
    if role < Role::Editor {
        return Ok(None);
    }
    let detail = json!({ "shared": true, "version": version });
    record_reveal(state, who, doc, detail).await?;
    Ok(Some(parsed.text().to_owned()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveSharedBody {
    toml: String,
    /// The version this edit started from (0 for a document without versions yet).
    #[schema(minimum = 0)]
    base_version: i64,
    #[schema(max_length = 500)]
    message: Option<String>,
}

/// Saves a new version of a shared document (editors). Refused (422 `invalid_effective`,
/// naming the environment) when an environment that includes it would get invalid effective
/// secrets; 409 on a stale base. Every running copy of every including environment gets it.
#[utoipa::path(put, path = "/shared/{doc}", tag = "shared", request_body = SaveSharedBody,
    responses((status = 200, body = VersionView), (status = "default", description = "404, 409 conflict, 422 invalid_toml or invalid_effective")))]
pub async fn save(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(body): Json<SaveSharedBody>,
) -> ApiResult<axum::Json<VersionView>> {
    let (doc, _) = doc_access(&state, &who, &name, Role::Editor).await?;
    super::secrets::check_message(body.message.as_deref())?;
    let parsed = Document::parse_for_save(&body.toml)?;
    let edit = Edit::new(body.base_version, body.message);
    Ok(axum::Json(
        save_checked(&state, &who, &doc, &parsed, edit).await?,
    ))
}

/// Saves `parsed` as `doc`'s next version after checking that every including environment's
/// effective secrets stay valid, then tells this server's watchers of every including
/// environment (other servers hear it from the store).
async fn save_checked(
    state: &AppState,
    who: &Principal,
    doc: &App,
    parsed: &Document,
    edit: Edit,
) -> ApiResult<VersionView> {
    for user in state.store.including(doc.id).await? {
        let app = state
            .store
            .get_app(user.env.app_id)
            .await?
            .in_env(&user.env);
        let merged = envs::effective_with(state, &app, doc.id, parsed.root()).await?;
        super::environments::check_effective(&app, &merged)?;
    }
    let saved = save_version(state, who, &handle(doc), parsed, edit).await?;
    // The store moved every including environment on in the save's transaction.
    for user in state.store.including(doc.id).await? {
        super::environments::announce(state, &user.env);
    }
    Ok(saved.into_view())
}

/// Deletes a shared document and its history (owners). Refused (409) while an environment
/// includes it, naming them.
#[utoipa::path(delete, path = "/shared/{doc}", tag = "shared",
    responses((status = 204, description = "Deleted"), (status = "default", description = "404, 409 still included")))]
pub async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let (doc, _) = doc_access(&state, &who, &name, Role::Owner).await?;
    state
        .store
        .delete_shared_doc(
            doc.id,
            audit_event(&who, "shared.delete", Some(&doc), json!({})),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict(format!("{name}: {m}")),
            e => e.into(),
        })?;
    state.apply_event(&hush_store::StoreEvent::AppDeleted { app_id: doc.id });
    Ok(StatusCode::NO_CONTENT)
}

/// A shared document's history, newest first (any member).
#[utoipa::path(get, path = "/shared/{doc}/versions", tag = "shared",
    params(super::history::Page),
    responses((status = 200, body = Versions), (status = "default", description = "404 no such document")))]
pub async fn versions(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(page): Query<super::history::Page>,
) -> ApiResult<axum::Json<Versions>> {
    let (doc, _) = doc_access(&state, &who, &name, Role::Viewer).await?;
    Ok(axum::Json(
        super::history::versions_of(&state, &handle(&doc), &page).await?,
    ))
}

/// `/shared/{doc}/versions/{version}`.
#[derive(Deserialize)]
pub struct DocVersionPath {
    doc: String,
    version: i64,
}

/// One version of a shared document.
#[derive(Serialize, ToSchema)]
pub struct SharedVersionText {
    #[serde(flatten)]
    pub version: VersionView,
    pub keys: Vec<String>,
    /// The version's shape with every value masked.
    #[schema(value_type = Object)]
    pub masked: serde_json::Value,
    /// Its TOML text (editors of the document only; audited as a reveal).
    pub toml: Option<String>,
}

/// The stored version `version` of `doc`, or a 404 that names both.
async fn get_version(
    state: &AppState,
    doc: &App,
    version: i64,
) -> ApiResult<hush_store::VersionRecord> {
    match state.store.get_version(doc.id, version).await {
        Ok(record) => Ok(record),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "shared document {:?} has no version {version}",
            doc.name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// One version of a shared document: key names and masked values for any member, the text for
/// editors (audited as a reveal).
#[utoipa::path(get, path = "/shared/{doc}/versions/{version}", tag = "shared",
    params(("version" = i64, Path)),
    responses((status = 200, body = SharedVersionText), (status = "default", description = "404 no such document or version")))]
pub async fn version(
    State(state): State<AppState>,
    who: Principal,
    Path(DocVersionPath { doc, version }): Path<DocVersionPath>,
) -> ApiResult<axum::Json<SharedVersionText>> {
    let (doc, role) = doc_access(&state, &who, &doc, Role::Viewer).await?;
    let record = get_version(&state, &doc, version).await?;
    let text = state.vault.open(&handle(&doc), &record)?;
    let parsed = Document::parse(&text).map_err(|_| ApiError::internal())?;
    let toml = text_for_editors(&state, &who, &doc, role, version, &parsed).await?;
    Ok(axum::Json(SharedVersionText {
        version: VersionView::new(&record.meta),
        keys: parsed.key_paths(),
        masked: hush_core::masked(parsed.root()),
        toml,
    }))
}

/// Key-level difference between two versions of a shared document; names only (any member).
#[utoipa::path(get, path = "/shared/{doc}/diff", tag = "shared",
    params(super::history::DiffQuery),
    responses((status = 200, body = DiffView), (status = "default", description = "404 no such document or version")))]
pub async fn diff(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(q): Query<super::history::DiffQuery>,
) -> ApiResult<axum::Json<DiffView>> {
    let (doc, _) = doc_access(&state, &who, &name, Role::Viewer).await?;
    for v in [Some(q.from), q.to]
        .into_iter()
        .flatten()
        .filter(|v| *v != 0)
    {
        get_version(&state, &doc, v).await?;
    }
    Ok(axum::Json(
        super::history::diff_of(&state, &handle(&doc), &q).await?,
    ))
}

/// Makes a new version of a shared document with the text of an old one (editors); history is
/// never rewritten. Checked and delivered like a save: refused (422 `invalid_effective`) when an
/// including environment's effective secrets would be invalid, 409 on a stale base, and every
/// running copy of every including environment gets it.
#[utoipa::path(post, path = "/shared/{doc}/rollback", tag = "shared",
    request_body = super::secrets::RollbackBody,
    responses((status = 200, body = VersionView), (status = "default", description = "404 no such version, 409 conflict, 422 invalid_effective")))]
pub async fn rollback(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(body): Json<super::secrets::RollbackBody>,
) -> ApiResult<axum::Json<VersionView>> {
    let (doc, _) = doc_access(&state, &who, &name, Role::Editor).await?;
    super::secrets::check_message(body.message.as_deref())?;
    let record = get_version(&state, &doc, body.version).await?;
    let text = state.vault.open(&handle(&doc), &record)?;
    let parsed = Document::parse_for_save(&text)?;
    Ok(axum::Json(
        save_checked(&state, &who, &doc, &parsed, body.into_edit()).await?,
    ))
}
