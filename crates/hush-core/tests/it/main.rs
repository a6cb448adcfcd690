//! The integration tests of hush-core, one binary (one link) with a module per concern.

mod document;
mod python;
mod python_float;
mod toml_test;
mod tomllib_crlf;
