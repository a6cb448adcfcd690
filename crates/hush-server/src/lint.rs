//! What the editor shows before a save: which keys become environment variables, and warnings
//! that never stop a save but deserve a second look. Names only; values never leave here.

use hush_core::{Document, Value};

use crate::api::views::{EnvPreview, SkippedKey, Warning};

/// Variables a program reads about its surroundings; setting them from secrets is rarely meant.
/// (Names that choose which code runs, like `PATH` or `LD_PRELOAD`, are never exported at all.)
const SENSITIVE_NAMES: &[&str] = &[
    "HOME",
    "USER",
    "SHELL",
    "PWD",
    "TMPDIR",
    "LANG",
    "TZ",
    "HUSH_TOKEN",
    "HUSH_SERVER",
];

/// Which root keys become environment variables, and why the others do not.
pub fn env_preview(doc: &Document) -> EnvPreview {
    let env = doc.env();
    EnvPreview {
        exported: env.exported.into_iter().map(|(k, _)| k).collect(),
        skipped: env
            .skipped
            .into_iter()
            .map(|s| SkippedKey {
                reason: s.reason.to_string(),
                key: s.key,
            })
            .collect(),
    }
}

pub fn warnings(doc: &Document) -> Vec<Warning> {
    let mut out = Vec::new();
    for (key, _) in doc.env().exported {
        if SENSITIVE_NAMES.contains(&key.as_str()) || key.starts_with("STREAMLIT_") {
            out.push(Warning {
                message: format!("{key} becomes an environment variable and replaces the app's own {key}; rename it or move it into a [section] unless that is what you want"),
                key,
            });
        }
    }
    visit_strings(doc.root(), &mut String::new(), &mut |path, value| {
        if let Some(what) = invisible(value) {
            out.push(Warning {
                key: path.to_string(),
                message: format!("the value of {path} {what}"),
            });
        }
    });
    out
}

fn visit_strings(table: &hush_core::Table, prefix: &mut String, f: &mut impl FnMut(&str, &str)) {
    for (key, value) in table {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(key);
        match value {
            Value::String(s) => f(prefix, s),
            Value::Table(t) => visit_strings(t, prefix, f),
            _ => {}
        }
        prefix.truncate(len);
    }
}

/// Describes characters a person cannot see in a value, without showing the value.
fn invisible(value: &str) -> Option<&'static str> {
    if value != value.trim() {
        return Some("starts or ends with white space");
    }
    value.chars().find_map(|c| match c {
        '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}' => {
            Some("holds an invisible zero-width character")
        }
        '\u{00A0}' | '\u{202F}' => Some("holds a non-breaking space"),
        c if c.is_control() && c != '\n' && c != '\t' => Some("holds a control character"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_shadowing_and_invisible_characters_without_values() {
        let doc =
            Document::parse("HOME = \"/x\"\ntoken = \"abc\u{200B}def\"\n[db]\npw = \"secret \"\n")
                .unwrap();
        let text = serde_json::to_string(&warnings(&doc)).unwrap();
        assert!(
            text.contains("HOME becomes an environment variable"),
            "{text}"
        );
        assert!(
            text.contains("the value of token holds an invisible"),
            "{text}"
        );
        assert!(
            text.contains("the value of db.pw starts or ends with white space"),
            "{text}"
        );
        assert!(
            !text.contains("secret") && !text.contains("abc"),
            "no values in warnings: {text}"
        );
    }
}
