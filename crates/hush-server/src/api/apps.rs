//! Apps and their secrets: create, read, save (with stale-base protection), history, diff,
//! rollback, validation, and the running copies' reports.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hush_core::{Document, Table};
use hush_store::{
    App, InstanceReport, InstanceStatus, LaunchConfig, NewApp, NewVersion, Role, StoreError,
    StoreEvent, VersionMeta, VersionRecord,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Json, app_for, audit_event, check_app_name, find_app};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::lint;
use crate::metrics::Metrics;
use crate::{AppState, now_millis};

const MAX_MESSAGE_CHARS: usize = 500;
/// A running copy that has not reported for this long is shown as gone.
const INSTANCE_STALE_MS: i64 = 90_000;

fn app_json(app: &App, latest: Option<&VersionMeta>) -> Value {
    json!({
        "name": app.name,
        "created_at": app.created_at,
        "latest_version": latest.map_or(0, |m| m.version),
        "updated_at": latest.map(|m| m.created_at),
        "updated_by": latest.and_then(|m| m.author_name.clone()),
        "launch": app.launch,
    })
}

fn instance_json(i: &InstanceReport, now: i64) -> Value {
    json!({
        "instance_id": i.instance_id,
        "hostname": i.hostname,
        "pid": i.pid,
        "applied_version": i.applied_version,
        "status": if now - i.reported_at > INSTANCE_STALE_MS { "gone" } else { i.status.as_str() },
        "reported_at": i.reported_at,
    })
}

async fn instances_json(state: &AppState, app: &App) -> ApiResult<Vec<Value>> {
    let now = now_millis();
    let list = state
        .store
        .list_instances(app.id, now - 24 * 3_600_000)
        .await?;
    Ok(list.iter().map(|i| instance_json(i, now)).collect())
}

pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let apps = state.store.list_apps().await?;
    let mut items = Vec::with_capacity(apps.len());
    for (app, latest) in &apps {
        let mut item = app_json(app, latest.as_ref());
        item["instances"] = json!(instances_json(&state, app).await?);
        items.push(item);
    }
    Ok(axum::Json(json!({ "apps": items })))
}

pub async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let app = find_app(&state, &name).await?;
    let latest = state.vault.latest(state.store.as_ref(), &app).await?;
    let mut item = app_json(&app, latest.as_ref().map(|l| &l.meta));
    item["instances"] = json!(instances_json(&state, &app).await?);
    Ok(axum::Json(item))
}

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    /// The first version's TOML ("Advanced settings…" → Secrets).
    toml: Option<String>,
    message: Option<String>,
    launch: Option<LaunchConfig>,
}

pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<CreateBody>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let user = who.require(Role::Editor)?;
    check_app_name(&body.name)?;
    check_message(body.message.as_deref())?;
    if let Some(launch) = &body.launch {
        who.require(Role::Owner)?;
        check_launch(&state, launch)?;
    }
    // Validate everything before creating anything: a bad document must not leave an empty app.
    let first = body
        .toml
        .as_deref()
        .map(Document::parse_for_save)
        .transpose()?;
    let id = loop {
        let id = i64::from_le_bytes(hush_crypto::random_bytes::<8>()) & 0x001f_ffff_ffff_ffff; // fits JSON numbers
        if id != 0 {
            break id;
        }
    };
    let (_, key) = state.vault.new_app_key(id);
    let app = state
        .store
        .create_app(
            NewApp {
                id,
                name: body.name.clone(),
                wrapped_key: key.wrapped_key,
                key_id: key.key_id,
                created_by: Some(user.id),
                created_at: now_millis(),
                launch: body.launch.clone(),
            },
            audit_event(&who, "app.create", None, json!({})),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict(format!("an app named {:?} already exists", body.name))
            }
            e => e.into(),
        })?;
    let latest = match first {
        Some(doc) => Some(
            save_version(&state, &who, &app, 0, &doc, body.message, None)
                .await?
                .meta()
                .clone(),
        ),
        None => None,
    };
    if let Some(launcher) = &state.launcher {
        launcher.start(&state, &app)?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(app_json(&app, latest.as_ref())),
    ))
}

fn check_launch(state: &AppState, launch: &LaunchConfig) -> ApiResult<()> {
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
    if launch.command.trim().is_empty() {
        return Err(ApiError::bad_request(
            "launch.command: give the command that starts the app",
        ));
    }
    if let Some(launcher) = &state.launcher {
        launcher.folder(launch)?;
    }
    Ok(())
}

fn check_message(message: Option<&str>) -> ApiResult<()> {
    match message {
        Some(m) if m.chars().count() > MAX_MESSAGE_CHARS => Err(ApiError::bad_request(format!(
            "message: use at most {MAX_MESSAGE_CHARS} characters"
        ))),
        _ => Ok(()),
    }
}

pub async fn remove(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let app = find_app(&state, &name).await?;
    state.audit.ensure_writable()?;
    state
        .store
        .delete_app(
            app.id,
            audit_event(&who, "app.delete", Some(&app), json!({})),
        )
        .await?;
    state.apply_event(&StoreEvent::AppDeleted { app_id: app.id });
    Ok(StatusCode::NO_CONTENT)
}

/// The newest secrets: an app token for this app, or a person with the editor role (audited as a reveal).
pub async fn read_secrets(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let app = app_for(&state, &who, &name, Role::Editor).await?;
    state.audit.ensure_writable()?;
    let latest = state
        .vault
        .latest(state.store.as_ref(), &app)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "app {:?} has no secrets yet; save some first",
                app.name
            ))
        })?;
    let action = if matches!(who, Principal::App { .. }) {
        "secrets.read"
    } else {
        "secrets.reveal"
    };
    state
        .audit
        .record(audit_event(
            &who,
            action,
            Some(&app),
            json!({ "version": latest.version }),
        ))
        .await?;
    Metrics::inc(&state.metrics.secret_reads);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(latest.body.clone()))
        .expect("static headers are valid"))
}

#[derive(Deserialize)]
pub struct SaveBody {
    toml: String,
    /// The version this edit started from (0 for an app without secrets yet).
    base_version: i64,
    message: Option<String>,
}

pub async fn save_secrets(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(body): Json<SaveBody>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Editor)?;
    check_message(body.message.as_deref())?;
    let app = find_app(&state, &name).await?;
    let doc = Document::parse_for_save(&body.toml)?;
    let saved = save_version(
        &state,
        &who,
        &app,
        body.base_version,
        &doc,
        body.message,
        None,
    )
    .await?;
    Ok(axum::Json(saved.into_json()))
}

/// What a save did: a new version, or nothing because the text is the newest version's already.
enum Saved {
    Created(VersionMeta),
    Unchanged(VersionMeta),
}

impl Saved {
    fn into_json(self) -> Value {
        match self {
            Saved::Created(meta) => version_json(&meta),
            Saved::Unchanged(meta) => {
                let mut body = version_json(&meta);
                body["unchanged"] = json!(true);
                body
            }
        }
    }

    fn meta(&self) -> &VersionMeta {
        match self {
            Saved::Created(meta) | Saved::Unchanged(meta) => meta,
        }
    }
}

/// Seals `doc` as version `base + 1`, refusing a stale base with what was saved since. Text
/// identical to the newest version's creates nothing (an empty "+0 ~0 -0" version helps nobody).
async fn save_version(
    state: &AppState,
    who: &Principal,
    app: &App,
    base: i64,
    doc: &Document,
    message: Option<String>,
    restored_from: Option<i64>,
) -> ApiResult<Saved> {
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
    let previous = match &latest {
        Some(l) => Document::parse(&l.text)
            .map(|d| d.root().clone())
            .unwrap_or_default(),
        None => Table::default(),
    };
    let summary = serde_json::to_value(hush_core::diff(&previous, doc.root()))
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
    let meta = match state.store.create_version(app.id, base, new, audit).await {
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
        app_id: app.id,
        version,
    });
    Metrics::inc(&state.metrics.secret_saves);
    Ok(Saved::Created(meta))
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
        match state.store.get_version(app.id, version).await {
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
async fn conflict(state: &AppState, app: &App, base: i64) -> ApiError {
    let since = state
        .store
        .list_versions(app.id, None, 20)
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
    ApiError::conflict(message).with_extra(json!({
        "base_version": base,
        "latest_version": latest,
        "since": since.iter().map(|m| version_json(m)).collect::<Vec<_>>(),
    }))
}

fn version_json(meta: &VersionMeta) -> Value {
    json!({
        "version": meta.version,
        "author": meta.author_name,
        "created_at": meta.created_at,
        "message": meta.message,
        "changes": meta.summary,
        "restored_from": meta.restored_from,
    })
}

/// Key names and what becomes an environment variable, never values (any member may look).
pub async fn keys(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let app = find_app(&state, &name).await?;
    let Some(latest) = state.vault.latest(state.store.as_ref(), &app).await? else {
        return Ok(axum::Json(
            json!({ "version": 0, "keys": [], "env": lint::env_names(None) }),
        ));
    };
    let doc = Document::parse(&latest.text).map_err(|_| ApiError::internal())?;
    Ok(axum::Json(json!({
        "version": latest.version,
        "keys": doc.key_paths(),
        "masked": hush_core::masked(doc.root()),
        "env": lint::env_names(Some(&doc)),
    })))
}

#[derive(Deserialize)]
pub struct Page {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn versions(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let app = find_app(&state, &name).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let list = state
        .store
        .list_versions(app.id, page.before, limit)
        .await?;
    Ok(axum::Json(
        json!({ "versions": list.iter().map(version_json).collect::<Vec<_>>() }),
    ))
}

/// One version with its text: editors only, audited.
pub async fn version(
    State(state): State<AppState>,
    who: Principal,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Editor)?;
    let app = find_app(&state, &name).await?;
    state.audit.ensure_writable()?;
    let record = get_version(&state, &app, version).await?;
    let text = state.vault.open(&app, &record)?;
    state
        .audit
        .record(audit_event(
            &who,
            "secrets.reveal",
            Some(&app),
            json!({ "version": version }),
        ))
        .await?;
    let mut body = version_json(&record.meta);
    body["toml"] = json!(text.as_str());
    Ok(axum::Json(body))
}

async fn get_version(state: &AppState, app: &App, version: i64) -> ApiResult<VersionRecord> {
    state
        .store
        .get_version(app.id, version)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::not_found(format!("app {:?} has no version {version}", app.name))
            }
            e => e.into(),
        })
}

async fn version_root(state: &AppState, app: &App, version: i64) -> ApiResult<Table> {
    if version == 0 {
        return Ok(Table::default());
    }
    let record = get_version(state, app, version).await?;
    let text = state.vault.open(app, &record)?;
    Ok(Document::parse(&text)
        .map(|d| d.root().clone())
        .unwrap_or_default())
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: i64,
    to: Option<i64>,
}

/// Key-level difference between two versions (`to` defaults to the newest); names only.
pub async fn diff(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let app = find_app(&state, &name).await?;
    let to = match q.to {
        Some(v) => v,
        None => state
            .vault
            .latest(state.store.as_ref(), &app)
            .await?
            .map_or(0, |l| l.version),
    };
    let old = version_root(&state, &app, q.from).await?;
    let new = version_root(&state, &app, to).await?;
    Ok(axum::Json(
        json!({ "from": q.from, "to": to, "diff": hush_core::diff(&old, &new) }),
    ))
}

#[derive(Deserialize)]
pub struct RollbackBody {
    version: i64,
    base_version: i64,
    message: Option<String>,
}

/// Makes a new version with the text of an old one; history is never rewritten.
pub async fn rollback(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(body): Json<RollbackBody>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Editor)?;
    check_message(body.message.as_deref())?;
    let app = find_app(&state, &name).await?;
    let record = get_version(&state, &app, body.version).await?;
    let text = state.vault.open(&app, &record)?;
    let doc = Document::parse_for_save(&text)?;
    let message = body
        .message
        .or_else(|| Some(format!("Rollback to version {}", body.version)));
    let saved = save_version(
        &state,
        &who,
        &app,
        body.base_version,
        &doc,
        message,
        Some(body.version),
    )
    .await?;
    Ok(axum::Json(saved.into_json()))
}

#[derive(Deserialize)]
pub struct ValidateBody {
    toml: String,
    /// Compare with this app's newest version (key names only).
    app: Option<String>,
}

/// The editor's live check: the same rules as a save, the environment preview, warnings, and
/// the key-level difference from the saved version. Nothing is stored.
pub async fn validate(
    State(state): State<AppState>,
    who: Principal,
    Json(body): Json<ValidateBody>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let doc = match Document::parse_for_save(&body.toml) {
        Ok(doc) => doc,
        Err(err) => {
            let api = ApiError::from(err);
            let mut out =
                json!({ "valid": false, "error": { "code": api.code, "message": api.message } });
            if let Some(Value::Object(extra)) = api.extra {
                out["error"].as_object_mut().expect("object").extend(extra);
            }
            return Ok(axum::Json(out));
        }
    };
    let mut out = json!({
        "valid": true,
        "env": lint::env_names(Some(&doc)),
        "warnings": lint::warnings(&doc),
    });
    if let Some(name) = body.app.as_deref() {
        // Comparing with the saved version tells whether a guessed value is right: editors only.
        who.require(Role::Editor)?;
        let app = find_app(&state, name).await?;
        let latest = state.vault.latest(state.store.as_ref(), &app).await?;
        let saved = match &latest {
            Some(l) => Document::parse(&l.text)
                .map(|d| d.root().clone())
                .unwrap_or_default(),
            None => Table::default(),
        };
        out["diff"] = json!(hush_core::diff(&saved, doc.root()));
        out["base_version"] = json!(latest.map_or(0, |l| l.version));
    }
    Ok(axum::Json(out))
}

pub async fn instances(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Viewer)?;
    let app = find_app(&state, &name).await?;
    Ok(axum::Json(
        json!({ "instances": instances_json(&state, &app).await? }),
    ))
}

#[derive(Deserialize)]
pub struct ReportBody {
    instance_id: String,
    hostname: String,
    pid: Option<i64>,
    applied_version: i64,
    status: Option<String>,
}

/// A running copy says which version it applied (app tokens of this app).
pub async fn report_instance(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(body): Json<ReportBody>,
) -> ApiResult<StatusCode> {
    let app = app_for(&state, &who, &name, Role::Editor).await?;
    let fits = |s: &str, n: usize| !s.is_empty() && s.len() <= n;
    let status = match body.status.as_deref() {
        None => InstanceStatus::Running,
        Some(text) => InstanceStatus::parse(text).ok_or_else(|| {
            let accepted: Vec<&str> = InstanceStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!("status: use one of {}", accepted.join(", ")))
        })?,
    };
    if !fits(&body.instance_id, 100) || !fits(&body.hostname, 255) {
        return Err(ApiError::bad_request(
            "instance_id and hostname: give 1 to 100 and 1 to 255 bytes",
        ));
    }
    state
        .store
        .report_instance(InstanceReport {
            app_id: app.id,
            instance_id: body.instance_id,
            hostname: body.hostname,
            pid: body.pid,
            applied_version: body.applied_version,
            status,
            reported_at: now_millis(),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct LogsQuery {
    since: Option<u64>,
}

/// A server-launched app's state and its newest (masked) output lines.
pub async fn launch_status(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<axum::Json<Value>> {
    who.require(Role::Editor)?;
    let app = find_app(&state, &name).await?;
    let status = state
        .launcher
        .as_ref()
        .and_then(|l| l.status(app.id, q.since.unwrap_or(0)))
        .ok_or_else(|| {
            ApiError::not_found(format!("app {:?} is not launched by this server", app.name))
        })?;
    Ok(axum::Json(status))
}

/// Stops the app's process and starts it again with the newest secrets.
pub async fn reboot(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(Role::Editor)?;
    let app = find_app(&state, &name).await?;
    let rebooted = state.launcher.as_ref().is_some_and(|l| l.reboot(app.id));
    if !rebooted {
        return Err(ApiError::not_found(format!(
            "app {:?} is not launched by this server",
            app.name
        )));
    }
    state
        .audit
        .record_durably(audit_event(&who, "app.reboot", Some(&app), json!({})))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets or clears how the server launches the app (owners only: it decides what runs).
pub async fn set_launch(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Json(launch): Json<Option<LaunchConfig>>,
) -> ApiResult<StatusCode> {
    who.require(Role::Owner)?;
    let mut app = find_app(&state, &name).await?;
    if let Some(launch) = &launch {
        check_launch(&state, launch)?;
    }
    state
        .store
        .set_app_launch(
            app.id,
            launch.clone(),
            audit_event(&who, "app.launch", Some(&app), json!({ "launch": launch })),
        )
        .await?;
    state.apps.forget(app.id);
    app.launch = launch;
    if let Some(launcher) = &state.launcher {
        launcher.stop(app.id);
        launcher.start(&state, &app)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
