//! Operations on whole trees: Streamlit's shallow merge, a names-only diff,
//! and a masked view.

use serde::Serialize;

use crate::keypath::format_key_path;
use crate::value::{Table, Value};

/// Merge tables like Streamlit merges its secrets files (compat §1.2): a later
/// top-level key replaces the earlier value whole (no deep merge), and keeps
/// the position where the key was first seen.
pub fn merge_shallow(tables: impl IntoIterator<Item = Table>) -> Table {
    let mut tables = tables.into_iter();
    // The first table is taken as it is: one source, the common case, costs nothing.
    let Some(mut out) = tables.next() else {
        return Table::new();
    };
    for table in tables {
        for (k, v) in table {
            // IndexMap::insert keeps an existing key's position.
            out.insert(k, v);
        }
    }
    out
}

/// Which key paths a change adds, removes and changes. Names only, never values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl KeyDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Leaf-level differences between two trees. Paths are dotted with segments
/// quoted where TOML needs it. Tables are descended into; arrays are leaves. A
/// table replaced by a scalar (or the reverse) is one `changed` path. An
/// added or removed table lists its leaves (or its own path when empty).
/// Floats compare by bit pattern, so `nan` equals `nan` and `0.0` differs from `-0.0`.
pub fn diff(old: &Table, new: &Table) -> KeyDiff {
    let mut out = KeyDiff::default();
    diff_tables(old, new, &mut Vec::new(), &mut out);
    out
}

fn diff_tables<'a>(old: &'a Table, new: &'a Table, prefix: &mut Vec<&'a str>, out: &mut KeyDiff) {
    for (k, ov) in old {
        if !new.contains_key(k) {
            prefix.push(k);
            leaves(ov, prefix, &mut out.removed);
            prefix.pop();
        }
    }
    for (k, nv) in new {
        prefix.push(k);
        match old.get(k) {
            None => leaves(nv, prefix, &mut out.added),
            Some(Value::Table(ot)) if matches!(nv, Value::Table(_)) => {
                let Value::Table(nt) = nv else { unreachable!() };
                diff_tables(ot, nt, prefix, out);
            }
            Some(ov) => {
                if !same(ov, nv) {
                    out.changed.push(format_key_path(prefix));
                }
            }
        }
        prefix.pop();
    }
}

fn leaves<'a>(value: &'a Value, prefix: &mut Vec<&'a str>, out: &mut Vec<String>) {
    match value {
        Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                prefix.push(k);
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(format_key_path(prefix)),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Table(x), Value::Table(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

/// What [`masked`] puts in place of every value.
pub const MASK: &str = "••••••";

/// The same structure as `root` with every scalar replaced by [`MASK`], for
/// showing which keys exist to someone who may not see values. Tables stay
/// objects (key names and order visible), arrays stay arrays (lengths
/// visible), each element masked. Types are deliberately not shown.
pub fn masked(root: &Table) -> serde_json::Value {
    serde_json::Value::Object(
        root.iter()
            .map(|(k, v)| (k.clone(), mask_value(v)))
            .collect(),
    )
}

fn mask_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Table(t) => masked(t),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(mask_value).collect()),
        _ => serde_json::Value::String(MASK.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsed_root as t;

    #[test]
    fn shallow_merge_replaces_whole_tables_and_keeps_first_position() {
        let m = merge_shallow(crate::STREAMLIT_MERGE_EXAMPLE.map(t));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "db", "b"]);
        let db = m["db"].as_table().unwrap();
        assert_eq!(db["host"].as_str(), Some("p"));
        assert!(!db.contains_key("user"));
    }

    #[test]
    fn diff_reports_paths_only() {
        let old = t(
            "a = \"hunter2\"\nb = 1\nn = nan\n[db]\nhost = \"x\"\nport = 1\n[gone]\nk = 1\n[t]\nx = 1\n",
        );
        let new = t(
            "a = \"hunter3\"\nn = nan\nc = 1\n[db]\nhost = \"x\"\nport = 2\nuser = \"u\"\n\"with.dot\" = 1\nt = 5\n",
        );
        let d = diff(&old, &new);
        assert_eq!(d.removed, ["b", "gone.k", "t.x"]);
        assert_eq!(d.added, ["c", "db.user", "db.\"with.dot\"", "db.t"]);
        assert_eq!(d.changed, ["a", "db.port"]);
        // `t` moved from root into db: root `t` (a table) was removed.
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains("hunter"));
    }

    #[test]
    fn table_to_scalar_is_a_change() {
        let d = diff(&t("[a]\nx = 1\n"), &t("a = 1\n"));
        assert_eq!(d.changed, ["a"]);
        assert!(d.added.is_empty() && d.removed.is_empty());
    }

    #[test]
    fn masked_keeps_structure_not_values() {
        let m = masked(&t(
            "pw = \"hunter2\"\nn = 3\nl = [\"a\", 1]\n[db]\nhost = \"h\"\n",
        ));
        let s = m.to_string();
        assert!(!s.contains("hunter2"));
        assert_eq!(m["pw"], MASK);
        assert_eq!(m["n"], MASK);
        assert_eq!(m["l"][1], MASK);
        assert_eq!(m["db"]["host"], MASK);
    }
}
