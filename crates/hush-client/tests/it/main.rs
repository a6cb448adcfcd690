//! The integration tests of hush-client, one binary (one link) with a module per concern.

mod secrets_load;
mod secrets_lookup;
mod secrets_watch;
