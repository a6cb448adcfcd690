//! The effective document of an app environment: the shared documents it includes, in order,
//! then its own document, merged with Streamlit's global/project rule (compat §1.2): a later
//! document wins key by key at the root, a table is replaced whole (never merged deeply), and a
//! key keeps the position where it first appeared. Each root key remembers which document it
//! comes from (its provenance) and which earlier documents it hides.

use indexmap::IndexMap;
use serde::Serialize;

use crate::env::python_float_str;
use crate::keypath::{format_key, write_basic_string};
use crate::value::{Table, Value};

/// Where one root key of an effective document comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The root key.
    pub key: String,
    /// The document whose value is used (the last one that has the key).
    pub from: String,
    /// Earlier documents that also have the key, in order; their values are hidden whole.
    pub hides: Vec<String>,
}

/// The merged tree and where each root key comes from.
#[derive(Clone, PartialEq)]
pub struct Effective {
    root: Table,
    provenance: IndexMap<String, Provenance>,
}

impl std::fmt::Debug for Effective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values stay out of Debug output (they are secrets); keys and sources are names.
        f.debug_struct("Effective")
            .field("provenance", &self.provenance.values().collect::<Vec<_>>())
            .finish()
    }
}

/// Merges `sources` (name, tree), earliest first: for an environment, its included shared
/// documents in order, then its own document last.
pub fn effective<'a>(sources: impl IntoIterator<Item = (&'a str, &'a Table)>) -> Effective {
    let mut root = Table::new();
    let mut provenance: IndexMap<String, Provenance> = IndexMap::new();
    for (name, table) in sources {
        for (key, value) in table {
            // IndexMap::insert keeps an existing key's position; the value is replaced whole.
            root.insert(key.clone(), value.clone());
            match provenance.get_mut(key) {
                Some(p) => {
                    let earlier = std::mem::replace(&mut p.from, name.to_owned());
                    p.hides.push(earlier);
                }
                None => {
                    provenance.insert(
                        key.clone(),
                        Provenance {
                            key: key.clone(),
                            from: name.to_owned(),
                            hides: Vec::new(),
                        },
                    );
                }
            }
        }
    }
    Effective { root, provenance }
}

impl Effective {
    /// The merged tree, keys in first-seen order.
    pub fn root(&self) -> &Table {
        &self.root
    }

    /// Where each root key comes from, in the tree's key order.
    pub fn provenance(&self) -> impl Iterator<Item = &Provenance> {
        self.provenance.values()
    }

    /// The document a root key comes from.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        self.provenance.get(key).map(|p| p.from.as_str())
    }

    /// The merged tree as TOML 1.0 text that parses back to exactly this tree, keys in the
    /// same order: one `key = value` line per root key, tables written inline (a root table
    /// cannot be a `[section]` here, since a later root key may follow it).
    pub fn to_toml(&self) -> String {
        to_toml(&self.root)
    }
}

/// `table` as TOML 1.0 text, one root key per line, nested tables inline. Parses back (with
/// [`crate::Document::parse`]) to an equal tree, keys in the same order.
pub fn to_toml(table: &Table) -> String {
    let mut out = String::new();
    for (key, value) in table {
        out.push_str(&format_key(key));
        out.push_str(" = ");
        write_value(&mut out, value);
        out.push('\n');
    }
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => write_basic_string(out, s),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            // Python's repr is valid TOML for every float (`1.0`, `1e+22`, `1e-07`, `inf`, `nan`).
            let text = python_float_str(*f);
            if f.is_nan() && f.is_sign_negative() {
                out.push_str("-nan");
            } else {
                out.push_str(&text);
            }
        }
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Datetime(d) => out.push_str(d.as_str()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Table(t) => {
            out.push('{');
            for (i, (k, v)) in t.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { " " });
                out.push_str(&format_key(k));
                out.push_str(" = ");
                write_value(out, v);
            }
            out.push_str(if t.is_empty() { "}" } else { " }" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;
    use crate::parsed_root as doc;

    #[test]
    fn later_documents_win_at_the_root_and_tables_are_replaced_whole() {
        let [global, project] = crate::STREAMLIT_MERGE_EXAMPLE.map(doc);
        let e = effective([("common-db", &global), ("production", &project)]);
        assert_eq!(e.root(), &doc("a = 1\ndb = { host = \"p\" }\nb = 2\n"));
        assert_eq!(
            e.root().keys().collect::<Vec<_>>(),
            ["a", "db", "b"],
            "a key keeps the position where it first appeared"
        );
        assert_eq!(e.source_of("a"), Some("common-db"));
        assert_eq!(e.source_of("db"), Some("production"));
        assert_eq!(e.source_of("b"), Some("production"));
        let db = e.provenance().find(|p| p.key == "db").unwrap();
        assert_eq!(db.hides, ["common-db"]);
    }

    #[test]
    fn included_documents_merge_in_order() {
        let one = doc("k = \"one\"\nx = 1\n");
        let two = doc("k = \"two\"\n");
        let own = doc("y = 3\n");
        let e = effective([("one", &one), ("two", &two), ("staging", &own)]);
        assert_eq!(e.root()["k"], Value::String("two".into()));
        let k = e.provenance().find(|p| p.key == "k").unwrap();
        assert_eq!(k.from, "two");
        assert_eq!(k.hides, ["one"]);
        assert_eq!(e.source_of("x"), Some("one"));
        // A scalar may replace a table and the other way round: whole values, no merging.
        let t = doc("[k]\nz = 1\n");
        let e = effective([("one", &one), ("t", &t)]);
        assert_eq!(e.root()["k"], Value::Table(doc("z = 1")));
    }

    #[test]
    fn no_sources_is_an_empty_document() {
        let e = effective(std::iter::empty::<(&str, &Table)>());
        assert!(e.root().is_empty());
        assert_eq!(e.to_toml(), "");
    }

    #[test]
    fn the_text_parses_back_to_the_same_tree_in_the_same_order() {
        let text = r#"
plain = "a \"quoted\" \\ value\twith\ncontrol \u0001 chars"
"with.dot" = 1
"ключ" = 'literal'
int = 0xff
floats = [1.0, 1e22, 1e-7, inf, -inf, nan, -0.0, 3.14]
when = 1979-05-27T07:32:00Z
date = 1979-05-27
time = 07:32:00.5
yes = true
nested = [[1, 2], ["a"], []]
[db]
host = "h"
port = 5432
[db.opts]
ssl = true
empty = {}
[[servers]]
name = "one"
[[servers]]
name = "two"
"#;
        let parsed = doc(text);
        let e = effective([("only", &parsed)]);
        let out = e.to_toml();
        let back = Document::parse_for_save(&out).expect("the rendered text is valid");
        // NaN is never equal to itself: compare the text of the float arrays apart.
        let strip = |t: &Table| {
            let mut t = t.clone();
            t.shift_remove("floats");
            t
        };
        assert_eq!(strip(back.root()), strip(&parsed));
        assert_eq!(
            back.root().keys().collect::<Vec<_>>(),
            parsed.keys().collect::<Vec<_>>()
        );
        let floats = |t: &Table| match &t["floats"] {
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::Float(f) => python_float_str(*f),
                    _ => panic!("not a float"),
                })
                .collect::<Vec<_>>(),
            _ => panic!("not an array"),
        };
        assert_eq!(floats(back.root()), floats(&parsed));
        assert_eq!(
            back.env().exported,
            crate::env_projection(&parsed).exported,
            "the same environment variables, with the same text"
        );
    }

    #[test]
    fn debug_output_names_keys_and_sources_but_no_value() {
        let t = doc("password = \"hunter2-secret\"\n");
        let e = effective([("common", &t)]);
        let shown = format!("{e:?}");
        assert!(shown.contains("password") && shown.contains("common"));
        assert!(!shown.contains("hunter2"));
    }
}
