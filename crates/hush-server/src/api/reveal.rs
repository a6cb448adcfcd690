//! Values, for the people who may see them (editors and owners): one version's values by key
//! path as typed JSON, and the value-level difference between two versions. The panel needs
//! these because a browser has no TOML parser; the tree comes from hush-core's. Every answer is
//! audited as `secrets.reveal`, and anyone below editor gets 403 before anything is opened.

use axum::extract::State;
use hush_core::{Table, Value, format_key_path, parse_key_path};
use hush_store::App;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::audit_event;
use super::extract::{AppAccess, Editor, Path, Query};
use super::history::{VersionPath, version_root};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize, IntoParams)]
pub struct ValuesQuery {
    /// One key path (`db.password`, `"with.dot".x`); every leaf when absent.
    key: Option<String>,
}

/// `GET /apps/{app}/versions/{version}/values[?key=PATH]`: the leaves of a version (arrays and
/// empty tables count as leaves), in document order, or the one leaf or table `key` names.
#[utoipa::path(get, path = "/apps/{app}/versions/{version}/values", tag = "history",
    params(("version" = i64, Path), ValuesQuery),
    responses((status = 200, body = VersionValues), (status = "default", description = "400 bad key path, 404 no such version or key")))]
pub async fn values(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
    Path(VersionPath { version, .. }): Path<VersionPath>,
    Query(q): Query<ValuesQuery>,
) -> ApiResult<axum::Json<VersionValues>> {
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
    let values: Vec<Leaf> = paths
        .into_iter()
        .map(|path| {
            let value = find(&root, &path).expect("a path of this tree");
            Leaf::new(path, value)
        })
        .collect();
    record_reveal(&state, &who, &app, detail).await?;
    Ok(axum::Json(VersionValues { version, values }))
}

#[derive(Deserialize, IntoParams)]
pub struct ValueDiffQuery {
    from: i64,
    to: i64,
}

/// `GET /apps/{app}/diff/values?from=A&to=B`: what `GET /apps/{app}/diff` names, with the old
/// and the new value of each path (version 0 is the empty document before version 1).
#[utoipa::path(get, path = "/apps/{app}/diff/values", tag = "history",
    params(ValueDiffQuery),
    responses((status = 200, body = ValueDiff), (status = "default", description = "404 no such version")))]
pub async fn value_diff(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Editor>,
    Query(q): Query<ValueDiffQuery>,
) -> ApiResult<axum::Json<ValueDiff>> {
    state.audit.ensure_writable()?;
    let old = version_root(&state, &app, q.from).await?;
    let new = version_root(&state, &app, q.to).await?;
    let diff = hush_core::diff(&old, &new);
    let side = |root: &Table, path: &str| find(root, path).map(|v| Leaf::new(path.to_string(), v));
    let mut changes = Vec::new();
    for (kind, paths) in [
        ("added", &diff.added),
        ("changed", &diff.changed),
        ("removed", &diff.removed),
    ] {
        for path in paths {
            changes.push(ValueChange {
                path: path.clone(),
                change: kind,
                old: side(&old, path),
                new: side(&new, path),
            });
        }
    }
    record_reveal(&state, &who, &app, json!({ "from": q.from, "to": q.to })).await?;
    Ok(axum::Json(ValueDiff {
        from: q.from,
        to: q.to,
        changes,
    }))
}

/// Records that `who` was shown secret values of `app` (an app environment or a shared
/// document); `detail` says which.
pub(super) async fn record_reveal(
    state: &AppState,
    who: &Principal,
    app: &App,
    detail: serde_json::Value,
) -> ApiResult<()> {
    state
        .audit
        .record(audit_event(who, "secrets.reveal", Some(app), detail))
        .await
}

/// The value at a TOML dotted key path, if there is one.
pub(super) fn find<'a>(root: &'a Table, path: &str) -> Option<&'a Value> {
    let segments = parse_key_path(path).ok()?;
    let (last, parents) = segments.split_last()?;
    let mut table = root;
    for segment in parents {
        table = table.get(segment)?.as_table()?;
    }
    table.get(last)
}

/// One value: its key path, its TOML type, the value as typed JSON (hush-core's JSON form:
/// datetimes as their TOML text, inf and nan as Python prints them) and as one line of text to
/// show or copy (strings as they are, floats as Python's `str()`, arrays and tables as JSON).
#[derive(Serialize, ToSchema)]
pub struct Leaf {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Any JSON value: a string, number, boolean, array or table.
    pub value: serde_json::Value,
    pub text: String,
}

impl Leaf {
    fn new(path: String, value: &Value) -> Leaf {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => hush_core::python_float_str(*f),
            Value::Boolean(b) => b.to_string(),
            Value::Datetime(d) => d.as_str().to_owned(),
            Value::Array(_) | Value::Table(_) => json!(value).to_string(),
        };
        Leaf {
            path,
            kind: value.type_name(),
            value: json!(value),
            text,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionValues {
    pub version: i64,
    pub values: Vec<Leaf>,
}

#[derive(Serialize, ToSchema)]
pub struct ValueChange {
    pub path: String,
    /// `added`, `changed` or `removed`.
    pub change: &'static str,
    pub old: Option<Leaf>,
    pub new: Option<Leaf>,
}

#[derive(Serialize, ToSchema)]
pub struct ValueDiff {
    pub from: i64,
    pub to: i64,
    pub changes: Vec<ValueChange>,
}
