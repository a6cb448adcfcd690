//! Values, for the people who may see them (editors and owners): one version's values by key
//! path as typed JSON, and the value-level difference between two versions. The panel needs
//! these because a browser has no TOML parser; the tree comes from hush-core's. Every answer is
//! audited as `secrets.reveal`, and anyone below editor gets 403 before anything is opened.

use axum::extract::{Path, Query, State};
use hush_core::{Document, Table, Value, format_key_path, parse_key_path};
use hush_store::{App, Role, StoreError};
use serde::Deserialize;
use serde_json::json;

use super::{audit_event, find_app};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
pub struct ValuesQuery {
    /// One key path (`db.password`, `"with.dot".x`); every leaf when absent.
    key: Option<String>,
}

/// `GET /apps/{app}/versions/{version}/values[?key=PATH]`: the leaves of a version (arrays and
/// empty tables count as leaves), in document order, or the one leaf or table `key` names.
pub async fn values(
    State(state): State<AppState>,
    who: Principal,
    Path((name, version)): Path<(String, i64)>,
    Query(q): Query<ValuesQuery>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    who.require(Role::Editor)?;
    let app = find_app(&state, &name).await?;
    state.audit.ensure_writable()?;
    let root = version_root(&state, &app, version).await?;
    let (paths, detail) = match q.key {
        Some(key) => {
            let path = format_key_path(
                &parse_key_path(&key).map_err(|e| ApiError::bad_request(e.to_string()))?,
            );
            find(&root, &path).ok_or_else(|| {
                ApiError::not_found(format!(
                    "version {version} of app {:?} has no key {path}",
                    app.name
                ))
            })?;
            (
                vec![path.clone()],
                json!({ "version": version, "key": path }),
            )
        }
        // The diff from nothing lists exactly the leaves, with TOML-quoted paths.
        None => (
            hush_core::diff(&Table::new(), &root).added,
            json!({ "version": version, "keys": "all" }),
        ),
    };
    let values: Vec<serde_json::Value> = paths
        .into_iter()
        .map(|path| {
            let mut entry = leaf_json(find(&root, &path).expect("a path of this tree"));
            entry["path"] = json!(path);
            entry
        })
        .collect();
    state
        .audit
        .record(audit_event(&who, "secrets.reveal", Some(&app), detail))
        .await?;
    Ok(axum::Json(json!({ "version": version, "values": values })))
}

#[derive(Deserialize)]
pub struct ValueDiffQuery {
    from: i64,
    to: i64,
}

/// `GET /apps/{app}/diff/values?from=A&to=B`: what `GET /apps/{app}/diff` names, with the old
/// and the new value of each path (version 0 is the empty document before version 1).
pub async fn value_diff(
    State(state): State<AppState>,
    who: Principal,
    Path(name): Path<String>,
    Query(q): Query<ValueDiffQuery>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    who.require(Role::Editor)?;
    let app = find_app(&state, &name).await?;
    state.audit.ensure_writable()?;
    let old = version_root(&state, &app, q.from).await?;
    let new = version_root(&state, &app, q.to).await?;
    let diff = hush_core::diff(&old, &new);
    let side = |root: &Table, path: &str| find(root, path).map(leaf_json);
    let mut changes = Vec::new();
    for (kind, paths) in [
        ("added", &diff.added),
        ("changed", &diff.changed),
        ("removed", &diff.removed),
    ] {
        for path in paths {
            changes.push(json!({
                "path": path,
                "change": kind,
                "old": side(&old, path),
                "new": side(&new, path),
            }));
        }
    }
    state
        .audit
        .record(audit_event(
            &who,
            "secrets.reveal",
            Some(&app),
            json!({ "from": q.from, "to": q.to }),
        ))
        .await?;
    Ok(axum::Json(
        json!({ "from": q.from, "to": q.to, "changes": changes }),
    ))
}

/// The tree of `version` (0: the empty document before version 1).
async fn version_root(state: &AppState, app: &App, version: i64) -> ApiResult<Table> {
    if version == 0 {
        return Ok(Table::new());
    }
    let record = state
        .store
        .get_version(app.id, version)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::not_found(format!("app {:?} has no version {version}", app.name))
            }
            e => e.into(),
        })?;
    let text = state.vault.open(app, &record)?;
    Document::parse(&text)
        .map(Document::into_root)
        .map_err(|_| ApiError::internal())
}

/// The value at a TOML dotted key path, if there is one.
fn find<'a>(root: &'a Table, path: &str) -> Option<&'a Value> {
    let segments = parse_key_path(path).ok()?;
    let (last, parents) = segments.split_last()?;
    let mut table = root;
    for segment in parents {
        table = table.get(segment)?.as_table()?;
    }
    table.get(last)
}

/// `{type, value, text}`: the value as typed JSON (hush-core's JSON form: datetimes as their
/// TOML text, inf and nan as Python prints them) and as one line of text to show or copy
/// (strings as they are, floats as Python's `str()`, arrays and tables as JSON).
fn leaf_json(value: &Value) -> serde_json::Value {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => hush_core::python_float_str(*f),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.as_str().to_owned(),
        Value::Array(_) | Value::Table(_) => json!(value).to_string(),
    };
    json!({ "type": value.type_name(), "value": value, "text": text })
}
