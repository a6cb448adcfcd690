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

/// The root table of `text`, which must parse: what the unit tests build their inputs from.
#[cfg(test)]
pub(crate) fn parsed_root(text: &str) -> Table {
    Document::parse(text).unwrap().into_root()
}

/// Streamlit's merge example, a global secrets file then a project's: the project's `[db]`
/// replaces the global one whole (`db.user` is gone) and `db` keeps its first position.
#[cfg(test)]
pub(crate) const STREAMLIT_MERGE_EXAMPLE: [&str; 2] = [
    "a = 1\n[db]\nhost = \"g\"\nuser = \"g\"\n",
    "b = 2\n[db]\nhost = \"p\"\n",
];
