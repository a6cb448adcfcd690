//! An app's environments: listing, creating and deleting them (owners), their includes (the
//! shared documents they take, in order), their effective document with where each key comes
//! from, and comparing two of them. Every per-app route also exists under
//! `/apps/{app}/envs/{env}/…` with the same meaning in that environment (the routes without
//! `envs/{env}` mean `production`): the router mounts the same handlers at both paths
//! (`in_every_env` in `api/mod.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use hush_core::{Document, KeyDiff, Table};
use hush_store::{Environment, NewEnvironment, StoreError, StoreEvent, now_millis};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::audit_event;
use super::extract::{AppAccess, Json, Owner, Query, Viewer, in_env, role_on_app};
use super::history::stored_root;
use super::reveal::{find, record_reveal};
use crate::AppState;
use crate::auth::Principal;
use crate::envs;
use crate::error::{ApiError, ApiResult};

/// One environment of an app.
#[derive(Serialize, ToSchema)]
pub struct EnvView {
    pub name: String,
    /// The newest version of its own document (0 when it has none).
    pub version: i64,
    /// Its version plus how often its included documents changed: what runners announce.
    pub revision: i64,
    /// The shared documents it includes, in order.
    pub includes: Vec<String>,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EnvList {
    pub app: String,
    pub envs: Vec<EnvView>,
}

async fn env_view(state: &AppState, app: &hush_store::App) -> ApiResult<EnvView> {
    let current = envs::current(state, app).await?;
    let env = state.store.get_environment(app.env_id).await?;
    Ok(EnvView {
        name: env.name,
        version: current.version(),
        revision: current.rev.total(),
        includes: current
            .includes
            .iter()
            .map(|(d, _)| d.name.clone())
            .collect(),
        created_at: env.created_at,
    })
}

/// The app's environments, `production` first (any member).
#[utoipa::path(get, path = "/apps/{app}/envs", tag = "environments",
    responses((status = 200, body = EnvList)))]
pub async fn list(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<EnvList>> {
    let mut out = Vec::new();
    for env in state.store.list_environments(app.id).await? {
        out.push(env_view(&state, &app.in_env(&env)).await?);
    }
    Ok(axum::Json(EnvList {
        app: app.name,
        envs: out,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvBody {
    /// 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit.
    name: String,
}

/// Adds an environment with an empty document and no includes (owners).
#[utoipa::path(post, path = "/apps/{app}/envs", tag = "environments",
    request_body = CreateEnvBody,
    responses((status = 201, body = EnvView), (status = "default", description = "400 bad_name, 409 name taken")))]
pub async fn create(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Json(body): Json<CreateEnvBody>,
) -> ApiResult<(StatusCode, axum::Json<EnvView>)> {
    super::check_app_name(&body.name)?;
    let env = state
        .store
        .create_environment(
            NewEnvironment {
                id: super::apps::new_id(),
                app_id: app.id,
                name: body.name.clone(),
                created_at: now_millis(),
            },
            audit_event(&who, "env.create", Some(&app), json!({ "env": body.name })),
        )
        .await?;
    let view = env_view(&state, &app.in_env(&env)).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Deletes an environment with its history, tokens and includes (owners). `production` stays,
/// and so does the environment a server-launched app follows (409).
#[utoipa::path(delete, path = "/apps/{app}/envs/{env}", tag = "environments",
    responses((status = 204, description = "Deleted"), (status = "default", description = "409 for production")))]
pub async fn remove(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
) -> ApiResult<StatusCode> {
    if app.launch.as_ref().is_some_and(|l| l.env_name() == app.env) {
        return Err(ApiError::conflict(format!(
            "the server launches {} with the secrets of {}: launch it with another environment first",
            app.name, app.env
        )));
    }
    let env = state
        .store
        .delete_environment(
            app.env_id,
            audit_event(&who, "env.delete", Some(&app), json!({})),
        )
        .await?;
    state.apply_event(&StoreEvent::AppDeleted { app_id: env.id });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Includes {
    pub app: String,
    pub env: String,
    /// Shared document names, in order: earlier ones are overridden by later ones, and the
    /// environment's own document wins over all.
    pub documents: Vec<String>,
}

/// The shared documents an environment includes, in order (any member).
#[utoipa::path(get, path = "/apps/{app}/envs/{env}/includes", tag = "environments",
    responses((status = 200, body = Includes)))]
pub async fn includes(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<Includes>> {
    let docs = state.store.includes(app.env_id).await?;
    Ok(axum::Json(Includes {
        app: app.name,
        env: app.env,
        documents: docs.into_iter().map(|d| d.name).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetIncludesBody {
    /// Shared document names, in order (later ones win at the root).
    documents: Vec<String>,
}

/// Sets the shared documents an environment includes, in order (owners). Refused when a name
/// is not a valid name (400), a document does not exist (404), one is listed twice (400), or
/// the resulting effective document would be invalid (422); nothing changes then. Running
/// copies of the environment get the new effective document at once.
#[utoipa::path(put, path = "/apps/{app}/envs/{env}/includes", tag = "environments",
    request_body = SetIncludesBody,
    responses((status = 200, body = Includes), (status = "default", description = "400 bad_name or listed twice, 404 no such document, 422 invalid effective document")))]
pub async fn set_includes(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Json(body): Json<SetIncludesBody>,
) -> ApiResult<axum::Json<Includes>> {
    let mut docs = Vec::with_capacity(body.documents.len());
    for (i, name) in body.documents.iter().enumerate() {
        super::check_app_name(name)?;
        if body.documents[..i].contains(name) {
            return Err(ApiError::bad_request(format!(
                "documents: {name:?} is listed twice"
            )));
        }
        docs.push(super::shared::find_doc(&state, name).await?);
    }
    // The merge must be a document hush would accept.
    let current = envs::current(&state, &app).await?;
    let mut trees: Vec<(String, Table)> = Vec::new();
    for doc in &docs {
        let latest = state
            .vault
            .latest(state.store.as_ref(), &super::shared::handle(doc))
            .await?;
        trees.push((doc.name.clone(), tree(latest.as_deref())?));
    }
    trees.push((app.env.clone(), tree(current.own.as_deref())?));
    let merged = hush_core::effective(trees.iter().map(|(n, t)| (n.as_str(), t)));
    check_effective(&app, &merged)?;
    let env = state
        .store
        .set_includes(
            app.env_id,
            docs.iter().map(|d| d.id).collect(),
            audit_event(
                &who,
                "env.includes",
                Some(&app),
                json!({ "documents": body.documents }),
            ),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::bad_request(m),
            e => e.into(),
        })?;
    announce(&state, &env);
    Ok(axum::Json(Includes {
        app: app.name,
        env: app.env,
        documents: body.documents,
    }))
}

/// Tells this server's caches and watchers that `env`'s included documents changed.
pub(super) fn announce(state: &AppState, env: &Environment) {
    state.apply_event(&StoreEvent::SharedChanged {
        env_id: env.id,
        shared_rev: env.shared_rev,
    });
}

fn tree(latest: Option<&crate::vault::Latest>) -> ApiResult<Table> {
    latest.map_or_else(|| Ok(Table::new()), |l| stored_root(&l.text))
}

/// A merged document must pass what a save checks (size, and every exported root key a valid
/// environment variable); the error names the environment.
pub(super) fn check_effective(
    app: &hush_store::App,
    merged: &hush_core::Effective,
) -> ApiResult<()> {
    if let Err(err) = Document::parse_for_save(&merged.to_toml()) {
        let api = ApiError::from(err);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_effective",
            format!(
                "the effective secrets of {}/{} would be invalid: {}",
                app.name, app.env, api.message
            ),
        )
        .with_extra(json!({ "app": app.name, "env": app.env })));
    }
    Ok(())
}

/// Where one root key of the effective document comes from.
#[derive(Serialize, ToSchema)]
pub struct KeySource {
    pub key: String,
    /// The document whose value is used: a shared document's name, or the environment's own
    /// name for its own document.
    pub from: String,
    /// Earlier documents that also have the key (their values are replaced whole).
    pub hides: Vec<String>,
}

impl From<&hush_core::Provenance> for KeySource {
    fn from(p: &hush_core::Provenance) -> KeySource {
        KeySource {
            key: p.key.clone(),
            from: p.from.clone(),
            hides: p.hides.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EffectiveView {
    pub app: String,
    pub env: String,
    pub version: i64,
    pub revision: i64,
    /// The included documents, in order.
    pub includes: Vec<crate::envs::IncludedVersion>,
    pub keys: Vec<KeySource>,
    /// The merged tree with every value masked.
    #[schema(value_type = Object)]
    pub masked: serde_json::Value,
    /// The merged document as TOML (editors only; audited as a reveal).
    pub toml: Option<String>,
}

/// The effective document: included shared documents then the environment's own, merged as
/// Streamlit merges its global and project files, with where each root key comes from.
/// Viewers get values masked; editors also get the text (audited).
#[utoipa::path(get, path = "/apps/{app}/envs/{env}/effective", tag = "environments",
    responses((status = 200, body = EffectiveView)))]
pub async fn effective(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Viewer>,
) -> ApiResult<axum::Json<EffectiveView>> {
    let current = envs::current(&state, &app).await?;
    let merged = current.effective(&app.env)?;
    let toml = if is_editor(&state, &who, &app).await? {
        let detail = json!({ "effective": true, "revision": current.rev.total() });
        record_reveal(&state, &who, &app, detail).await?;
        Some(merged.to_toml())
    } else {
        None
    };
    Ok(axum::Json(EffectiveView {
        app: app.name.clone(),
        env: app.env.clone(),
        version: current.version(),
        revision: current.rev.total(),
        includes: current.included_versions(),
        keys: merged.provenance().map(KeySource::from).collect(),
        masked: hush_core::masked(merged.root()),
        toml,
    }))
}

/// Whether the member may see values on this app: editor or more *there* (a per-app role
/// replaces the workspace role).
async fn is_editor(state: &AppState, who: &Principal, app: &hush_store::App) -> ApiResult<bool> {
    Ok(role_on_app(state, who, app).await? >= Some(hush_store::Role::Editor))
}

#[derive(Deserialize, IntoParams)]
pub struct CompareQuery {
    /// One environment's name.
    a: String,
    /// The other's.
    b: String,
}

/// One key that differs, with both values (editors only) — absent for viewers.
#[derive(Serialize, ToSchema)]
pub struct Differing {
    pub key: String,
    #[schema(value_type = Object)]
    pub a: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub b: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Comparison {
    pub app: String,
    pub a: String,
    pub b: String,
    /// Key paths only `a`'s effective document has.
    pub only_in_a: Vec<String>,
    /// Key paths only `b`'s has.
    pub only_in_b: Vec<String>,
    /// Key paths both have with different values; the values only for editors (audited).
    pub differing: Vec<Differing>,
    /// Whether values are shown (editors) or masked (viewers).
    pub values_shown: bool,
}

/// Compares the effective documents of two environments key by key: which key paths exist in
/// one and not the other, which differ. Viewers see key names only; editors also the two values
/// of each differing key (audited as a reveal).
#[utoipa::path(get, path = "/apps/{app}/compare", tag = "environments",
    params(CompareQuery),
    responses((status = 200, body = Comparison), (status = "default", description = "404 no such environment")))]
pub async fn compare(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Viewer>,
    Query(q): Query<CompareQuery>,
) -> ApiResult<axum::Json<Comparison>> {
    let a = in_env(&state, app.clone(), Some(&q.a)).await?;
    let b = in_env(&state, app.clone(), Some(&q.b)).await?;
    let ea = envs::current(&state, &a).await?.effective(&a.env)?;
    let eb = envs::current(&state, &b).await?.effective(&b.env)?;
    let KeyDiff {
        added,
        removed,
        changed,
    } = hush_core::diff(ea.root(), eb.root());
    let shown = is_editor(&state, &who, &app).await?;
    if shown && !changed.is_empty() {
        let detail = json!({ "compare": [q.a, q.b], "keys": changed });
        record_reveal(&state, &who, &app, detail).await?;
    }
    let value = |root: &Table, path: &str| -> Option<serde_json::Value> {
        if !shown {
            return None;
        }
        serde_json::to_value(find(root, path)?).ok()
    };
    let differing = changed
        .iter()
        .map(|k| Differing {
            key: k.clone(),
            a: value(ea.root(), k),
            b: value(eb.root(), k),
        })
        .collect();
    Ok(axum::Json(Comparison {
        app: app.name,
        a: q.a,
        b: q.b,
        only_in_a: removed,
        only_in_b: added,
        differing,
        values_shown: shown,
    }))
}
