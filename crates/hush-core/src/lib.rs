//! The secrets document: TOML 1.0 parsing, validation, environment projection, merge, diff, masking. No I/O.
