//! The versioned JSON API (`/api/v1/…`). Every error has the body `{"error": code, "message": …}`.

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use hush_store::{ActorKind, App, AuditEvent, Outcome, Role, StoreError};
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::{AppState, now_millis};

mod apps;
mod members;
mod reveal;
mod session;
pub use session::check_user_name;
mod system;
mod tokens;
mod watch;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/openapi.json", get(system::openapi))
        .route("/setup", get(session::setup_status))
        .route("/auth/login", post(session::login))
        .route("/auth/logout", post(session::logout))
        .route("/auth/logout-all", post(session::logout_all))
        .route("/auth/token", post(session::create_personal_token))
        .route("/auth/accept", post(session::accept_invite))
        .route("/me", get(session::me))
        .route("/validate", post(apps::validate))
        .route("/apps", get(apps::list).post(apps::create))
        .route("/apps/{app}", get(apps::show).delete(apps::remove))
        .route(
            "/apps/{app}/secrets",
            get(apps::read_secrets).put(apps::save_secrets),
        )
        .route("/apps/{app}/keys", get(apps::keys))
        .route("/apps/{app}/versions", get(apps::versions))
        .route("/apps/{app}/versions/{version}", get(apps::version))
        .route("/apps/{app}/diff", get(apps::diff))
        .route("/apps/{app}/versions/{version}/values", get(reveal::values))
        .route("/apps/{app}/diff/values", get(reveal::value_diff))
        .route("/apps/{app}/rollback", post(apps::rollback))
        .route(
            "/apps/{app}/instances",
            get(apps::instances).post(apps::report_instance),
        )
        .route("/apps/{app}/watch", get(watch::watch))
        .route(
            "/apps/{app}/launch",
            get(apps::launch_status).put(apps::set_launch),
        )
        .route("/apps/{app}/reboot", post(apps::reboot))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/members", get(members::list))
        .route(
            "/members/{id}",
            axum::routing::patch(members::update).delete(members::remove),
        )
        .route("/invites", post(members::invite))
        .route("/audit", get(members::audit))
        .fallback(|| async {
            ApiError::not_found("no such API endpoint; see /api/v1/openapi.json")
        })
        .layer(middleware::map_response(api_headers));
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::panel::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.body_limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        // Method, path and status only: no headers (tokens) and no bodies (values).
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// API answers may hold secret values: no cache keeps them, no browser sniffs or frames them.
async fn api_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    Metrics::inc(&state.metrics.http_requests);
    let response = next.run(request).await;
    if response.status().is_server_error() {
        Metrics::inc(&state.metrics.http_errors);
    }
    response
}

/// `axum::Json`, but malformed or oversized bodies get hush's error shape.
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
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than this server accepts",
        );
    }
    // serde's message names the field and the position, but can quote a string it rejected:
    // keep the words, drop whatever stood between double quotes.
    let text = rejection.body_text();
    let first = text.lines().next().unwrap_or("invalid JSON body");
    ApiError::new(
        rejection.status(),
        "bad_request",
        redact_quoted(&redact_rejected_value(first)),
    )
}

/// serde names the rejected value itself ("invalid type: integer `1234`, expected …"): keep
/// what was expected, not what was sent.
fn redact_rejected_value(text: &str) -> String {
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

fn redact_quoted(text: &str) -> String {
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

/// Looks an app up by name, with a not-found error that names it.
pub async fn find_app(state: &AppState, name: &str) -> ApiResult<App> {
    match state.store.find_app(name).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("no app named {name:?}"))),
        Err(e) => Err(e.into()),
    }
}

/// The app `name` names, for a caller acting on it as a running copy: an app token of that
/// very app (any other name, existing or not, gets the same 403, so a token cannot probe for
/// app names), or a member with at least `role`.
pub async fn app_for(state: &AppState, who: &Principal, name: &str, role: Role) -> ApiResult<App> {
    match who {
        Principal::App { app_id, .. } => match state.apps.get(state, name).await {
            Ok(app) if app.id == *app_id => Ok(app),
            Ok(_) => Err(ApiError::forbidden("this app token belongs to another app")),
            Err(e) if e.status == StatusCode::NOT_FOUND => {
                Err(ApiError::forbidden("this app token belongs to another app"))
            }
            Err(e) => Err(e),
        },
        Principal::User { .. } => {
            who.require(role)?;
            state.apps.get(state, name).await
        }
    }
}

/// An audit entry for what `who` just did.
pub fn audit_event(
    who: &Principal,
    action: &str,
    app: Option<&App>,
    detail: serde_json::Value,
) -> AuditEvent {
    let (actor_kind, actor_id, actor_name) = match who {
        Principal::User { user, .. } => (ActorKind::User, Some(user.id), Some(user.name.clone())),
        Principal::App {
            token_id,
            token_name,
            ..
        } => (ActorKind::Token, Some(*token_id), Some(token_name.clone())),
    };
    AuditEvent {
        at: now_millis(),
        actor_kind,
        actor_id,
        actor_name,
        action: action.into(),
        app_id: app.map(|a| a.id),
        app_name: app.map(|a| a.name.clone()),
        ip: who.ip(),
        outcome: Outcome::Ok,
        detail,
    }
}

/// App names: what appears in URLs, folder names and the panel.
pub fn check_app_name(name: &str) -> ApiResult<()> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "name {name:?}: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
        .with_code("bad_name"))
    }
}
