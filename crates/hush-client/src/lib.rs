//! The Rust library apps use: st.secrets-compatible loading and lookup, and (with the `http`
//! feature) the HTTP API client. No server or database dependencies.

#[cfg(feature = "http")]
pub mod api;
pub mod secrets;
pub mod text;

pub use secrets::{Secret, SecretTable, Secrets, SecretsError, SecretsWatcher, WatchEvent};
