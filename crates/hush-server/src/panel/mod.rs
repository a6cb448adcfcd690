//! The web panel: pages and assets embedded in the binary, served by hush itself.

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
