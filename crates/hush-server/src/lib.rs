//! hush's server as a library: the JSON API, the web panel and the watch hub over one
//! [`hush_store::Store`].
//! The `hush serve` binary only reads its configuration, binds and calls [`serve`].
//!
//! Crate map: `state` (what every handler shares, and the background tasks), `http` (accepting
//! connections, plain or TLS, with their limits), `api` (the routes), `auth` (who is asking),
//! `vault` (sealing and the cache of opened versions), `hub` (watch streams), `audit` (the log of
//! reads and refusals), `launcher` (apps the server runs), `panel` (the web UI), `metrics`, `lint`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod envs;
pub mod error;
pub mod http;
pub mod hub;
pub mod launcher;
pub mod lint;
pub mod metrics;
pub mod panel;
mod state;
pub mod tls;
pub mod vault;

pub use auth::sso::SsoConfig;
pub use http::serve;
pub use state::{AppCache, AppState, Limits, ServerConfig, Shared};
pub use vault::Keyring;

/// The whole HTTP surface: the JSON API under `/api/v1` and the web panel.
pub fn router(state: AppState) -> axum::Router {
    api::router(state)
}
