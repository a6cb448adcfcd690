//! What handlers take from a request, with hush's error shape when it cannot be taken: a JSON
//! body, path and query parameters, and — said once for every app route — the app the path
//! names together with the caller's right to it ([`AppAccess`]).

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use hush_store::{App, AppRole, Role, StoreError, effective_role};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// `axum::Json`, but malformed or oversized bodies get hush's error shape, and serde's text
/// never repeats a value that was sent (it could be a secret).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return ApiError::for_status(status);
    }
    if let JsonRejection::BytesRejection(_) = &rejection {
        // The body stopped arriving (the read timed out) or broke off.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "incomplete_body",
            "the request body did not arrive whole; nothing was changed",
        );
    }
    let text = rejection.body_text();
    let first = text.lines().next().unwrap_or("invalid JSON body");
    ApiError::new(
        status,
        "bad_request",
        redact_quoted(&redact_rejected_value(first)),
    )
}

/// serde names the rejected value itself ("invalid type: integer `1234`, expected …"): keep
/// what was expected, not what was sent.
pub(crate) fn redact_rejected_value(text: &str) -> String {
    for marker in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(start) = text.find(marker) {
            let end = text[start..]
                .find(", expected")
                .map_or(text.len(), |e| start + e);
            return format!(
                "{}{}{}",
                &text[..start],
                marker.trim_end_matches([':', ' ']),
                &text[end..]
            );
        }
    }
    text.to_string()
}

/// Whatever stood between double quotes becomes "…" (serde quotes values so; field names it
/// puts in backticks, and those stay).
pub(crate) fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('"').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else {
            out.push_str("\"…\"");
        }
    }
    out
}

/// `axum::extract::Path` with hush's error shape.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "a path parameter is not what this endpoint takes: {}",
                    redact_quoted(&redact_rejected_value(&rejection.body_text()))
                ))
            })
    }
}

/// `axum::extract::Query` with hush's error shape.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "a query parameter is not what this endpoint takes: {}",
                    redact_quoted(&redact_rejected_value(&rejection.body_text()))
                ))
            })
    }
}

/// Who may use an app route: the least role a member needs, and whether the app's own tokens
/// (its running copies) may use it too.
pub trait Need: Send + Sync + 'static {
    const ROLE: Role;
    const RUNNER: bool;
}

/// Any member.
pub struct Viewer;

impl Need for Viewer {
    const ROLE: Role = Role::Viewer;
    const RUNNER: bool = false;
}

/// Editors and owners.
pub struct Editor;

impl Need for Editor {
    const ROLE: Role = Role::Editor;
    const RUNNER: bool = false;
}

/// Owners.
pub struct Owner;

impl Need for Owner {
    const ROLE: Role = Role::Owner;
    const RUNNER: bool = false;
}

/// Any member, or the app's own token (the watch stream).
pub struct ViewerOrRunner;

impl Need for ViewerOrRunner {
    const ROLE: Role = Role::Viewer;
    const RUNNER: bool = true;
}

/// Editors and owners, or the app's own token (secrets, reports).
pub struct EditorOrRunner;

impl Need for EditorOrRunner {
    const ROLE: Role = Role::Editor;
    const RUNNER: bool = true;
}

/// The app the route's `{app}` names (in the environment `{env}` names, else `production`) and
/// the caller, once they are allowed to act on it the way `N` says. An app token of another app
/// or environment gets the same 403 whether or not the named app exists, so a token cannot
/// probe for names.
pub struct AppAccess<N> {
    pub who: Principal,
    pub app: App,
    _need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<AppState> for AppAccess<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let who = Principal::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::internal())?;
        let name = params
            .iter()
            .find(|(key, _)| *key == "app")
            .map(|(_, value)| value.to_string())
            .ok_or_else(ApiError::internal)?;
        let env = params
            .iter()
            .find(|(key, _)| *key == "env")
            .map(|(_, value)| value.to_string());
        let app = access(state, &who, &name, env.as_deref(), N::ROLE, N::RUNNER).await?;
        Ok(AppAccess {
            who,
            app,
            _need: PhantomData,
        })
    }
}

async fn access(
    state: &AppState,
    who: &Principal,
    name: &str,
    env: Option<&str>,
    role: Role,
    runner: bool,
) -> ApiResult<App> {
    match who {
        Principal::App { app_id, .. } => {
            let other = || {
                ApiError::forbidden("this app token belongs to another app or environment").by(who)
            };
            if !runner {
                return Err(ApiError::forbidden(
                    "an app token can only read its own app's secrets",
                )
                .by(who));
            }
            let app = match state.apps.get(state, name).await {
                Ok(app) => in_env(state, app, env).await,
                Err(e) => Err(e),
            };
            match app {
                Ok(app) if app.env_id == *app_id => {
                    if env.is_some() {
                        // What the fast read path needs to answer this token on this route.
                        state.apps.remember_env(&app);
                    }
                    Ok(app)
                }
                Ok(_) => Err(other()),
                Err(e) if e.status == StatusCode::NOT_FOUND => Err(other()),
                Err(e) => Err(e),
            }
        }
        Principal::User { .. } => {
            let app = state.apps.get(state, name).await?;
            // Access first: a member who may not see the app learns nothing of its environments.
            require_on_app(state, who, &app, role).await?;
            let app = in_env(state, app, env).await?;
            Ok(app)
        }
    }
}

/// The caller's role on `app` (owners: every app; otherwise a per-app role replaces the
/// workspace role there); `None` when they may not see it.
pub async fn role_on_app(state: &AppState, who: &Principal, app: &App) -> ApiResult<Option<Role>> {
    let user = who.user()?;
    if user.role == Role::Owner {
        return Ok(Some(Role::Owner));
    }
    let on_app = state.store.app_role(user.id, app.id).await?;
    Ok(effective_role(user.role, on_app))
}

/// The roles set for `user` on single apps and shared documents, by app id (none for owners,
/// who have everything): what [`effective_role`] takes, for listing many at once.
pub async fn roles_by_app(
    state: &AppState,
    user: &hush_store::User,
) -> ApiResult<HashMap<i64, AppRole>> {
    if user.role == Role::Owner {
        return Ok(HashMap::new());
    }
    let grants = state.store.list_app_roles(Some(user.id), None).await?;
    Ok(grants.into_iter().map(|g| (g.app_id, g.role)).collect())
}

/// A member acting on an app must have at least `role` there. One without access gets the
/// answer a name that does not exist gets: the app is not shown to exist.
pub async fn require_on_app(
    state: &AppState,
    who: &Principal,
    app: &App,
    role: Role,
) -> ApiResult<Role> {
    match role_on_app(state, who, app).await? {
        None => Err(no_app(&app.name)),
        Some(have) if have >= role => Ok(have),
        Some(have) => Err(ApiError::forbidden(format!(
            "this needs the {} role on {:?}; you are {} there",
            role.as_str(),
            app.name,
            have.as_str()
        ))
        .by(who)),
    }
}

/// An app by name that the member may act on with `role`, with the same not-found answer
/// for an app they cannot see as for one that does not exist.
pub async fn member_app(
    state: &AppState,
    who: &Principal,
    name: &str,
    role: Role,
) -> ApiResult<App> {
    let app = state.apps.get(state, name).await?;
    require_on_app(state, who, &app, role).await?;
    Ok(app)
}

fn no_app(name: &str) -> ApiError {
    ApiError::not_found(format!("no app named {name:?}"))
}

/// `app` in its environment named `env` (production when `None`), or a 404 that names both.
pub async fn in_env(state: &AppState, app: App, env: Option<&str>) -> ApiResult<App> {
    let Some(env) = env else { return Ok(app) };
    match state.apps.env(state, app.id, env).await {
        Ok(found) => Ok(app.in_env(&found)),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "app {:?} has no environment named {env:?}",
            app.name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Looks an app up by name, with a not-found error that names it.
pub async fn find_app(state: &AppState, name: &str) -> ApiResult<App> {
    match state.store.find_app(name).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound) => Err(no_app(name)),
        Err(e) => Err(e.into()),
    }
}
