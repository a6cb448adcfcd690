//! The integration tests of hush, one binary (one link) with a module per concern.

mod common;
mod durability;
mod cli;
mod cluster;
mod local;
mod logs;
mod run;
