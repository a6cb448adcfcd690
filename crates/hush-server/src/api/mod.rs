//! The versioned JSON API (`/api/v1/…`). Every handler is annotated with what it takes and
//! answers; the router and the OpenAPI document (`/api/v1/openapi.json`) are built from the
//! same list below, so they cannot drift apart. Every error has the body
//! `{"error": code, "message": …}`.
//!
//! One module per concern: `session` (signing in, links, `/me`), `apps`, `secrets` (read, save,
//! rollback, validate), `history` (versions, diffs), `reveal` (values for editors), `instances`,
//! `launch` (server-launched apps), `tokens`, `members` (members and invitations), `audit_log`,
//! `watch` (the SSE stream), `system`. `extract` holds what handlers take from a request,
//! `views` what they answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hush_store::{ActorKind, App, AuditEvent, Outcome, now_millis};
use serde_json::json;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{Object, Ref, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Principal, SESSION_COOKIE, client_ip};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::metrics::Metrics;

mod account;
mod app_roles;
mod apps;
mod audit_log;
mod environments;
pub mod extract;
pub mod fast_read;
mod history;
mod instances;
mod launch;
mod members;
mod reveal;
mod secrets;
mod session;
mod shared;
mod sso;
mod system;
mod tokens;
pub mod views;
mod watch;
mod workload;

pub use extract::find_app;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hush API",
        description = "Secrets for your apps. Times are milliseconds since the Unix epoch. Every error has the body {\"error\": code, \"message\": ...}. Send a personal or app token as 'Authorization: Bearer <token>'; panel sessions use a cookie plus the X-CSRF-Token header on state-changing requests."
    ),
    servers((url = "/api/v1")),
    security(("bearer" = []), ("session" = [])),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

/// Every operation answers its errors with an [`ErrorBody`]: an annotation says only which
/// errors are its own (`(status = "default", description = "404 no such version")`), and one
/// that says none gets a generic description. Applied once every route is in the document.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let error = operation
                    .responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| utoipa::openapi::Response::new("An error").into());
                if let RefOr::T(error) = error {
                    error
                        .content
                        .insert("application/json".into(), body.clone());
                }
            }
        }
    }
}

/// The names in API paths: `{app}`, `{env}` and `{doc}` are strings on every route that has
/// them, so annotations leave them out and they are documented here, each in its place among
/// the operation's parameters (path order, before the query). Applied once every route is in the
/// document.
struct NameParameters;

const NAMES: [&str; 3] = ["app", "env", "doc"];

impl Modify for NameParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let in_path: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            if !in_path.iter().any(|name| NAMES.contains(name)) {
                continue;
            }
            for operation in operations(item) {
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                let mut next = 0;
                for name in &in_path {
                    let at = parameters.iter().position(|p| p.name == *name);
                    if NAMES.contains(name) {
                        // A `Path<String>` extractor makes utoipa append one after the query.
                        if let Some(at) = at {
                            parameters.remove(at);
                        }
                        parameters.insert(next, name_parameter(name));
                        next += 1;
                    } else if let Some(at) = at {
                        next = at + 1;
                    }
                }
            }
        }
    }
}

/// A required string path parameter.
fn name_parameter(name: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(Object::with_type(Type::String)))
        .build()
}

/// The operations of one path, whatever their method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Every API route, and its OpenAPI document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = api_routes().split_for_parts();
    ErrorResponses.modify(&mut doc);
    NameParameters.modify(&mut doc);
    (router, doc)
}

/// Every API route with its documentation.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::ready))
        .routes(routes!(session::setup_status))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::logout_all))
        .routes(routes!(session::create_personal_token))
        .routes(routes!(session::link_info))
        .routes(routes!(session::accept_invite))
        .routes(routes!(session::me))
        .routes(routes!(secrets::validate))
        .routes(routes!(apps::list, apps::create))
        .routes(routes!(apps::show, apps::remove))
        .routes(in_every_env(routes!(secrets::read, secrets::save)))
        .routes(in_every_env(routes!(secrets::keys)))
        .routes(in_every_env(routes!(secrets::rollback)))
        .routes(in_every_env(routes!(history::versions)))
        .routes(in_every_env(routes!(history::version)))
        .routes(in_every_env(routes!(history::diff)))
        .routes(in_every_env(routes!(reveal::values)))
        .routes(in_every_env(routes!(reveal::value_diff)))
        .routes(in_every_env(routes!(instances::list, instances::report)))
        .routes(in_every_env(routes!(watch::watch)))
        .routes(routes!(launch::status, launch::set))
        .routes(routes!(launch::reboot))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(members::list))
        .routes(routes!(members::update, members::remove))
        .routes(routes!(members::invites, members::invite))
        .routes(routes!(members::revoke_invite))
        .routes(routes!(audit_log::query))
        .routes(routes!(app_roles::list))
        .routes(routes!(app_roles::set, app_roles::remove))
        .routes(routes!(app_roles::of_member))
        .routes(routes!(account::change_password))
        .routes(routes!(workload::exchange))
        .routes(routes!(workload::list, workload::add))
        .routes(routes!(workload::remove))
        // Environments and shared documents (api/environments.rs, api/shared.rs).
        .routes(routes!(environments::list, environments::create))
        .routes(routes!(environments::remove))
        .routes(routes!(environments::includes, environments::set_includes))
        .routes(routes!(environments::effective))
        .routes(routes!(environments::compare))
        .routes(routes!(shared::list, shared::create))
        .routes(routes!(shared::show, shared::save, shared::remove))
        .routes(routes!(shared::versions))
        .routes(routes!(shared::version))
        .routes(routes!(shared::diff))
        .routes(routes!(shared::rollback))
        .routes(routes!(app_roles::doc_list))
        .routes(routes!(app_roles::doc_set, app_roles::doc_remove))
        .routes(routes!(sso::info))
        .routes(routes!(sso::start, sso::start_invited))
        .routes(routes!(sso::callback))
        .routes(routes!(sso::exchange))
        .routes(routes!(sso::linked))
}

/// A per-app route that also exists in every environment: the same handlers, mounted at
/// `/apps/{app}/envs/{env}/…` too ([`extract::AppAccess`] takes `{env}` when the path has it,
/// else `production`), and documented at both paths (the `env` parameter by
/// [`NameParameters`]).
fn in_every_env(
    (schemas, mut paths, handlers): UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let copies: Vec<(String, PathItem)> = paths
        .paths
        .iter()
        .map(|(path, item)| {
            let rest = path
                .strip_prefix("/apps/{app}/")
                .expect("a per-app route starts with /apps/{app}/");
            (
                format!("/apps/{{app}}/envs/{{env}}/{rest}"),
                in_env_operations(item.clone()),
            )
        })
        .collect();
    paths.paths.extend(copies);
    (schemas, paths, handlers)
}

/// `item`'s operations as their copies in an environment: with operation ids of their own,
/// under the `environments` tag.
fn in_env_operations(mut item: PathItem) -> PathItem {
    for operation in operations(&mut item) {
        operation.operation_id = operation
            .operation_id
            .take()
            .map(|id| format!("{id}_in_env"));
        operation.tags = Some(vec!["environments".into()]);
    }
    item
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

pub fn router(state: AppState) -> Router {
    let (api, doc) = api();
    let doc: Arc<str> = doc
        .to_json()
        .expect("the OpenAPI document serializes")
        .into();
    let api = api
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                }
            }),
        )
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit_refusals,
        ));
    let limits = &state.config.limits;
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::panel::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.body_limit,
        ))
        // Refuses a declared length over the limit at once, before anyone reads the body.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            state.config.body_limit,
        ))
        // A body that stalls, or a handler that cannot answer, ends with 408.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_idle_timeout,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn(api_responses))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            transport_headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        // Method, path and status only: no headers (tokens), no bodies (values) and no query
        // (a sign-in's return carries its one-time code and state there).
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                },
            ),
        )
        .with_state(state)
}

/// Every answer under `/api/` has hush's error shape and the API's headers, whatever layer
/// made it (a 413 for a declared length, a 408 for a stalled body).
async fn api_responses(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if api { api_answer(response) } else { response }
}

/// What every answer under `/api/` goes through (the router's layers and the fast read path).
pub(crate) fn api_answer(response: Response) -> Response {
    api_headers(error_shape(response))
}

/// API answers may hold secret values: no cache keeps them, no browser sniffs or frames them.
fn api_headers(mut response: Response) -> Response {
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

/// Under TLS, browsers are told to use nothing else (HSTS).
async fn transport_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    with_transport_headers(&state, next.run(request).await)
}

pub(crate) fn with_transport_headers(state: &AppState, mut response: Response) -> Response {
    if state.config.hsts {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Any error answer that is not already hush's JSON shape (a layer's 413, a 405) gets it.
fn error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The single sign-on refusals are pages for a person's browser.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if status.as_u16() < 400 || is_json || is_page {
        return response;
    }
    let mut shaped = ApiError::for_status(status).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

/// Refused requests (401, 403) go to the audit log: who (when known), from where, which route.
/// Identical refusals within a second fold into one row with a count (see `audit.rs`), and at
/// most [`REFUSALS_PER_SECOND`] distinct ones a second are recorded, so a flood cannot fill
/// the log.
async fn audit_refusals(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let (parts, body) = request.into_parts();
    let ip = client_ip(&state, &parts);
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return response;
    }
    if !state.refusals.admit() {
        return response;
    }
    let actor = response.extensions().get::<Refused>().cloned();
    let (actor_kind, actor_id, actor_name) = match actor {
        Some(Refused { kind, id, name }) => (kind, id, name),
        None => (ActorKind::Anonymous, None, None),
    };
    let event = |detail| AuditEvent {
        at: now_millis(),
        actor_kind,
        actor_id,
        actor_name: actor_name.clone(),
        action: "request.refused".into(),
        app_id: None,
        app_name: None,
        ip: ip.clone(),
        outcome: Outcome::Denied,
        detail,
    };
    state.audit.try_record(event(
        json!({ "method": method, "route": route, "status": status.as_u16() }),
    ));
    // What went over the budget is still counted, in one row.
    let unrecorded = state.refusals.take_dropped();
    if unrecorded > 0 {
        state.audit.try_record(AuditEvent {
            actor_kind: ActorKind::Anonymous,
            actor_id: None,
            actor_name: None,
            ip: None,
            ..event(json!({ "unrecorded": unrecorded, "why": "more refusals a second than the log records one by one" }))
        });
    }
    response
}

/// Who was refused, when they were known (put on the response by [`ApiError::by`]).
#[derive(Clone, Debug)]
pub struct Refused {
    kind: ActorKind,
    id: Option<i64>,
    name: Option<String>,
}

impl Refused {
    pub fn of(who: &Principal) -> Refused {
        match who {
            Principal::User { user, .. } => Refused {
                kind: ActorKind::User,
                id: Some(user.id),
                name: Some(user.name.clone()),
            },
            Principal::App {
                token_id,
                token_name,
                ..
            } => Refused {
                kind: ActorKind::Token,
                id: Some(*token_id),
                name: Some(token_name.clone()),
            },
        }
    }
}

/// At most this many refusals a second reach the audit log.
const REFUSALS_PER_SECOND: u64 = 50;

/// A per-second budget for recording refusals one by one; the rest are only counted.
#[derive(Default)]
pub struct RefusalBudget {
    /// The current second (high 32 bits) and how many were admitted in it (low 32 bits).
    window: AtomicU64,
    /// Refusals over the budget since the last recorded one.
    dropped: AtomicU64,
}

impl RefusalBudget {
    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    fn admit(&self) -> bool {
        let second = (now_millis() / 1000) as u64 & 0xffff_ffff;
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, used) = (current >> 32, current & 0xffff_ffff);
            let next = if window == second {
                if used >= REFUSALS_PER_SECOND {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                current + 1
            } else {
                (second << 32) | 1
            };
            match self
                .window
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    Metrics::inc(&state.metrics.http_requests);
    let response = next.run(request).await;
    count_errors(&state, &response);
    response
}

pub(crate) fn count_errors(state: &AppState, response: &Response) {
    if response.status().is_server_error() {
        Metrics::inc(&state.metrics.http_errors);
    }
}

/// An audit entry for what `who` just did.
pub fn audit_event(
    who: &Principal,
    action: &str,
    app: Option<&App>,
    detail: serde_json::Value,
) -> AuditEvent {
    // Outside production, every event about an app says which environment.
    let mut detail = detail;
    if let (Some(app), Some(fields)) = (app, detail.as_object_mut())
        && !app.is_production()
    {
        fields.insert("env".into(), app.env.clone().into());
    }
    let (actor_kind, actor_id) = who.actor();
    let actor_name = Some(match who {
        Principal::User { user, .. } => user.name.clone(),
        Principal::App { token_name, .. } => token_name.clone(),
    });
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
/// The rule is the store's, which environment and shared document names share.
pub fn check_app_name(name: &str) -> ApiResult<()> {
    hush_store::check_environment_name(name)
        .map_err(|rule| ApiError::bad_request(rule).with_code("bad_name"))
}
