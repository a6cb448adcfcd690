//! The integration tests of hush, one binary (one link) with a module per concern.

mod cli;
mod cluster;
mod common;
mod durability;
mod envs;
mod local;
mod logs;
mod run;
mod sso_login;
mod workload;
