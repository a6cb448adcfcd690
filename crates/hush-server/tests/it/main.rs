//! The integration tests of hush-server, one binary (one link) with a module per concern.

mod account;
mod api;
mod app_roles;
mod client_secrets;
mod common;
mod durability;
mod environments;
mod fast_read;
mod handlers;
mod launcher;
mod panel;
mod reveal;
mod security;
mod shared_roles;
mod sso;
mod storage;
mod workload;
