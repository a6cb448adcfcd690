//! The secrets document: TOML 1.0 parsing, validation, environment projection, merge, diff, masking. No I/O.
//! Every other crate goes through [`Document`]; nothing here ever puts a secret value in an error or `Debug` output.

mod de;
mod document;
mod effective;
mod env;
mod keypath;
mod ops;
mod toml10;
mod value;

pub use de::{DeError, from_table, from_value};
pub use document::{Document, MAX_DOCUMENT_BYTES, ParseError, SaveError};
pub use effective::{Effective, Provenance, effective, to_toml};
pub use env::{
    EnvProjection, SkipReason, SkippedKey, env_projection, env_projection_from, env_value_str,
    is_reserved_env_name, python_float_str,
};
pub use keypath::{KeyPathError, format_key, format_key_path, parse_key_path};
pub use ops::{KeyDiff, MASK, diff, masked, merge_shallow};
pub use value::{Date, Datetime, DatetimeKind, Table, Time, Value};
