//! The web panel: one HTML page, a stylesheet and a few vanilla JavaScript modules, embedded in
//! the binary and served by hush itself. The page talks only to the JSON API (`/api/v1`).
//!
//! Every panel response carries a strict Content-Security-Policy (no inline script or style, no
//! other origin), refuses framing and sniffing, and sends no referrer. The HTML is never cached.

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// Allows only this origin's own scripts, styles, images (and `data:` images) and API calls.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const NOT_FOUND_HTML: &str = include_str!("assets/404.html");

/// The embedded assets, by the name they are served under (`/assets/NAME`).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    ("main.js", JS, include_str!("assets/main.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("modal.js", JS, include_str!("assets/modal.js")),
    ("editor.js", JS, include_str!("assets/editor.js")),
    ("auth.js", JS, include_str!("assets/auth.js")),
    ("workspace.js", JS, include_str!("assets/workspace.js")),
    ("settings.js", JS, include_str!("assets/settings.js")),
    ("status.js", JS, include_str!("assets/status.js")),
    ("launched.js", JS, include_str!("assets/launched.js")),
    ("people.js", JS, include_str!("assets/people.js")),
    ("account.js", JS, include_str!("assets/account.js")),
    ("history.js", JS, include_str!("assets/history.js")),
    ("values.js", JS, include_str!("assets/values.js")),
    ("dotenv.js", JS, include_str!("assets/dotenv.js")),
    ("theme.js", JS, include_str!("assets/theme.js")),
    (
        "environments.js",
        JS,
        include_str!("assets/environments.js"),
    ),
    ("shared.js", JS, include_str!("assets/shared.js")),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The pages (all the same document; the script shows the right screen) and the assets.
pub fn routes() -> Router<AppState> {
    let mut pages = Router::new();
    for path in [
        "/", "/login", "/setup", "/join", "/members", "/audit", "/account", "/shared",
    ] {
        pages = pages.route(path, get(index));
    }
    pages
        .route("/apps/{app}", get(index))
        .route("/assets/{file}", get(asset))
        .route("/favicon.ico", get(favicon))
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
}

async fn index() -> Response {
    html(StatusCode::OK, INDEX_HTML)
}

async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, NOT_FOUND_HTML)
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(&(_, content_type, body)) = ASSETS.iter().find(|(name, ..)| *name == file) else {
        return not_found().await;
    };
    // Revalidated on every load, so a new binary's assets are picked up at once; the ETag makes
    // that a 304 when nothing changed.
    let etag = format!("\"{}\"", &hex::encode(hush_crypto::token_hash(body))[..20]);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, etag.clone()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}

async fn favicon() -> Response {
    let body = ASSETS
        .iter()
        .find(|(name, ..)| *name == "favicon.svg")
        .map_or("", |(_, _, body)| body);
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ] {
        headers.insert(name, value);
    }
    response
}
