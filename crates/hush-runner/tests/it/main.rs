//! The integration tests of hush-runner, one binary (one link) with a module per concern.

mod common;
mod delivery;
mod follow;
mod forward;
mod masking;
mod terminal;
mod write_failure;
