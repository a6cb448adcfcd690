//! The hot read answered ahead of the router: `GET /api/v1/apps/{app}/secrets` and
//! `GET /api/v1/apps/{app}/envs/{env}/secrets` with an app token — what runners send — when
//! everything the answer needs is cached already: the token (live, of this environment), the
//! app, the environment's versions and the response body. Anything else (another method or
//! route, a session cookie, a body, a token or version not cached, a refusal) goes to the
//! router, which answers as it always does.
//!
//! The answer is the route's own (`secrets::answer_read`: audit count, metric,
//! response) followed by what the router's layers add (`api_answer`, the transport
//! headers, the request metrics, the request timeout), so the two paths cannot drift apart.

use std::net::IpAddr;

use axum::body::HttpBody;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::secrets::{answer_read, ready_body};
use super::{api_answer, count_errors, with_transport_headers};
use crate::AppState;
use crate::auth::{Principal, bearer, cached_app_token, client_ip_of};
use crate::envs::cached_current;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The answer to `request` when it is a hot read that can be answered from the caches, else
/// `None` (nothing was counted or changed; hand the request to the router). `peer` is the
/// socket's address, as the router's `ConnectInfo` holds it.
pub async fn answer<B>(
    state: &AppState,
    request: &Request<B>,
    peer: Option<IpAddr>,
) -> Option<Response> {
    if request.method() != Method::GET
        || request.uri().query().is_some()
        || has_body(request.headers())
    {
        return None;
    }
    let (name, env) = route(request.uri().path())?;
    let token = bearer(request.headers())?;
    let who = cached_app_token(state, token, client_ip_of(state, request.headers(), peer))?;
    let Principal::App { app_id, .. } = &who else {
        return None;
    };
    let app = match env {
        None => state.apps.cached(name).filter(|a| a.env_id == *app_id)?,
        Some(env) => state
            .apps
            .cached_env(*app_id)
            .filter(|a| a.name == name && a.env == env)?,
    };
    let current = cached_current(state, &app)?;
    if current.is_empty() {
        return None;
    }
    let body = ready_body(state, &app, &current)?;

    Metrics::inc(&state.metrics.http_requests);
    let answered = tokio::time::timeout(
        state.config.limits.request_timeout,
        answer_read(state, &who, &app, &current, body),
    )
    .await;
    let response = match answered {
        Ok(answer) => answer.into_response(),
        Err(_) => ApiError::for_status(StatusCode::REQUEST_TIMEOUT).into_response(),
    };
    let mut response = with_transport_headers(state, api_answer(response));
    // What axum's router adds last, for a body whose size is known.
    if let Some(length) = response.body().size_hint().exact()
        && !response.headers().contains_key(header::CONTENT_LENGTH)
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    count_errors(state, &response);
    tracing::debug!(method = "GET", uri = %request.uri(), status = response.status().as_u16(), "answered from the caches");
    Some(response)
}

/// `{app}` and `{env}` of the two hot routes. A percent-encoded or empty segment is left to
/// the router (its decoding is the one that counts).
fn route(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix("/api/v1/apps/")?;
    let mut segments = rest.split('/');
    let app = plain(segments.next()?)?;
    let found = match (segments.next()?, segments.next(), segments.next()) {
        ("secrets", None, _) => (app, None),
        ("envs", Some(env), Some("secrets")) => (app, Some(plain(env)?)),
        _ => return None,
    };
    segments.next().is_none().then_some(found)
}

fn plain(segment: &str) -> Option<&str> {
    (!segment.is_empty() && !segment.contains('%')).then_some(segment)
}

/// A GET with a body is left to the router and its body limits.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_LENGTH) || headers.contains_key(header::TRANSFER_ENCODING)
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn only_the_two_hot_routes_are_taken() {
        assert_eq!(route("/api/v1/apps/web/secrets"), Some(("web", None)));
        assert_eq!(
            route("/api/v1/apps/web/envs/staging/secrets"),
            Some(("web", Some("staging")))
        );
        for other in [
            "/api/v1/apps/web/secrets/",
            "/api/v1/apps//secrets",
            "/api/v1/apps/w%65b/secrets",
            "/api/v1/apps/web/envs/st%61ging/secrets",
            "/api/v1/apps/web/envs//secrets",
            "/api/v1/apps/web/envs/staging/secrets/x",
            "/api/v1/apps/web/keys",
            "/api/v1/apps/web",
            "/api/v2/apps/web/secrets",
            "/apps/web/secrets",
        ] {
            assert_eq!(route(other), None, "{other}");
        }
    }
}
