//! The integration tests of hush-store, one binary (one link) with a module per concern.

mod conformance;
mod migration;
mod plaintext;
