//! Secrets in other shapes: JSON and `.env` in, JSON and shell `KEY='value'` out, and the
//! line edit behind `hush secrets set`. No I/O; errors name lines and keys, never values.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use clap::ValueEnum;
use hush_core::{Document, SaveError, Table, Value, format_key, format_key_path, parse_key_path};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Toml,
    Json,
    Env,
}

impl Format {
    /// The format a file name suggests: `.json`, `.env` (or `.env.*`, `*.env`), else TOML.
    pub fn from_path(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".json") {
            Format::Json
        } else if name == ".env" || name.starts_with(".env.") || name.ends_with(".env") {
            Format::Env
        } else {
            Format::Toml
        }
    }
}

/// Turns an imported file into secrets TOML text (not yet validated for saving).
pub fn to_toml(text: &str, format: Format) -> anyhow::Result<String> {
    match format {
        Format::Toml => Ok(text.to_string()),
        Format::Json => json_to_toml(text),
        Format::Env => Ok(pairs_to_toml(&parse_dotenv(text)?)),
    }
}

/// A JSON object as TOML: nested objects become tables; `null` has no TOML form and is refused.
pub fn json_to_toml(text: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        // serde_json's message can quote a token; keep only where it went wrong.
        anyhow!(
            "the file is not valid JSON (at line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let serde_json::Value::Object(map) = value else {
        bail!("the JSON file must hold one object, {{\"KEY\": \"value\", ...}}");
    };
    let mut table = toml::Table::new();
    for (key, value) in map {
        let converted = json_value_to_toml(&value, &mut vec![key.clone()])?;
        table.insert(key, converted);
    }
    toml::to_string(&table).context("cannot write the JSON as TOML")
}

fn json_value_to_toml(
    value: &serde_json::Value,
    path: &mut Vec<String>,
) -> anyhow::Result<toml::Value> {
    Ok(match value {
        serde_json::Value::Null => bail!(
            "{}: null has no TOML form; remove the key or give it a value",
            format_key_path(path)
        ),
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => toml::Value::Integer(i),
            (None, Some(_)) if n.is_u64() => bail!(
                "{}: the number is larger than TOML's integers (64-bit signed) can hold; write it as a string",
                format_key_path(path)
            ),
            (None, Some(f)) => toml::Value::Float(f),
            (None, None) => bail!("{}: a number TOML cannot hold", format_key_path(path)),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(json_value_to_toml(item, path)?);
                path.pop();
            }
            toml::Value::Array(out)
        }
        serde_json::Value::Object(map) => {
            let mut table = toml::Table::new();
            for (key, item) in map {
                path.push(key.clone());
                table.insert(key.clone(), json_value_to_toml(item, path)?);
                path.pop();
            }
            toml::Value::Table(table)
        }
    })
}

/// Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, values bare,
/// 'single-quoted' (literal, may span lines) or "double-quoted" (`\n`, `\t`, `\"`, `\\`, `\$`
/// escapes, may span lines). Nothing is expanded: `$OTHER` stays as written. A key given
/// twice keeps the last value.
pub fn parse_dotenv(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            bail!("line {number}: expected KEY=value");
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            bail!("line {number}: a key may hold only letters, digits, '_', '.' and '-'");
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                // Collect until the closing quote, across lines if needed.
                let mut body = rest[1..].to_string();
                let close = loop {
                    if let Some(pos) = find_closing(&body, quote) {
                        break pos;
                    }
                    if i >= lines.len() {
                        bail!("line {number}: the {quote}-quoted value of {key} is not closed");
                    }
                    body.push('\n');
                    body.push_str(lines[i]);
                    i += 1;
                };
                let after = body[close + 1..].trim();
                if !(after.is_empty() || after.starts_with('#')) {
                    bail!("line {number}: unexpected text after the quoted value of {key}");
                }
                let raw = &body[..close];
                if quote == '"' {
                    unescape_double(raw)
                        .with_context(|| format!("line {number}: value of {key}"))?
                } else {
                    raw.to_string()
                }
            }
            _ => {
                // A bare value ends at a comment: whitespace then '#'.
                let end = rest
                    .char_indices()
                    .find(|&(p, c)| c == '#' && rest[..p].ends_with([' ', '\t']))
                    .map_or(rest.len(), |(p, _)| p);
                rest[..end].trim_end().to_string()
            }
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn find_closing(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (p, c) in body.char_indices() {
        if quote == '"' && escaped {
            escaped = false;
        } else if quote == '"' && c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(p);
        }
    }
    None
}

fn unescape_double(raw: &str) -> anyhow::Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(c @ ('"' | '\\' | '$' | '\'' | '`')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => bail!("ends with a lone backslash"),
        }
    }
    Ok(out)
}

/// Root-level `KEY = "value"` lines.
pub fn pairs_to_toml(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{} = {}\n", format_key(k), toml_string(v)))
        .collect()
}

/// A correctly escaped TOML string.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

/// The document as a JSON object: integers stay integers, datetimes become their text.
pub fn to_json(doc: &Document) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(doc.root())? + "\n")
}

/// What the app gets as environment variables, as `KEY='value'` lines that a POSIX shell and
/// .env readers read back exactly; with the root keys left out, each with the reason.
pub fn to_env(doc: &Document) -> (String, Vec<(String, String)>) {
    let env = doc.env();
    let mut text = String::new();
    let mut skipped: Vec<(String, String)> = env
        .skipped
        .iter()
        .map(|s| (s.key.clone(), s.reason.to_string()))
        .collect();
    for (key, value) in &env.exported {
        if is_shell_name(key) {
            text.push_str(&format!("{key}={}\n", shell_quote(value)));
        } else {
            skipped.push((key.clone(), NOT_A_SHELL_NAME.to_string()));
        }
    }
    (text, skipped)
}

/// Why a key that `hush run` exports is still left out of `.env` output.
pub const NOT_A_SHELL_NAME: &str = "a .env file or shell takes only names made of letters, \
     digits and _ that do not start with a digit; `hush run` still passes it to the app";

/// Whether `name` can be written as `name=value` in a shell script or .env file.
pub fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Single quotes, with each `'` written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The value at a dotted key path, as text: a string as itself, a table or array in
/// `format` (TOML or JSON), another scalar as TOML writes it.
pub fn lookup(doc: &Document, path: &str, format: Format) -> anyhow::Result<String> {
    let segments = parse_key_path(path)?;
    let missing = || anyhow!("no key {path} in these secrets");
    let mut value: Option<&Value> = None;
    let mut table: &Table = doc.root();
    for (i, seg) in segments.iter().enumerate() {
        let v = table.get(seg).ok_or_else(missing)?;
        value = Some(v);
        match v {
            Value::Table(t) => table = t,
            _ if i + 1 < segments.len() => return Err(missing()),
            _ => {}
        }
    }
    let value = value.ok_or_else(missing)?;
    match (value, format) {
        (Value::String(s), _) => Ok(format!("{s}\n")),
        (Value::Table(_) | Value::Array(_), Format::Json) => {
            Ok(serde_json::to_string_pretty(value)? + "\n")
        }
        (Value::Table(_), Format::Env) => {
            bail!("{path} is a table; show it with --format toml or --format json")
        }
        (Value::Table(t), _) => Ok(table_to_toml(t, &segments)),
        (other, _) => Ok(format!("{}\n", inline_toml(other))),
    }
}

/// A table as TOML text: its own keys first, then a `[path.sub]` section per sub-table.
fn table_to_toml(table: &Table, path: &[String]) -> String {
    let mut out = String::new();
    for (key, value) in table {
        if !matches!(value, Value::Table(_)) {
            out.push_str(&format!("{} = {}\n", format_key(key), inline_toml(value)));
        }
    }
    for (key, value) in table {
        if let Value::Table(sub) = value {
            let mut sub_path = path.to_vec();
            sub_path.push(key.clone());
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{}]\n", format_key_path(&sub_path)));
            out.push_str(&table_to_toml(sub, &sub_path));
        }
    }
    out
}

/// One value as TOML writes it inline.
fn inline_toml(value: &Value) -> String {
    match value {
        Value::String(s) => toml_string(s),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => toml::Value::Float(*f).to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.as_str().to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline_toml).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", format_key(k), inline_toml(v)))
                .collect();
            if items.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", items.join(", "))
            }
        }
    }
}

/// Sets root-level string keys in TOML text, keeping everything else as written: an existing
/// one-line `KEY = ...` statement gets the new value (its trailing comment stays), a new key
/// goes after the last root-level key. Anything else is refused with a pointer to `edit`.
pub fn set_root_strings(text: &str, pairs: &[(String, String)]) -> anyhow::Result<String> {
    let original = Document::parse(text)?;
    let mut pairs_deduped: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        pairs_deduped.retain(|(key, _)| key != k);
        pairs_deduped.push((k.clone(), v.clone()));
    }
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let edit_hint = "use `hush secrets edit` for this change";
    for (key, value) in &pairs_deduped {
        let current = Document::parse(&lines.join("\n"))?;
        let statement = format!("{} = {}", format_key(key), toml_string(value));
        let first_header = lines
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .unwrap_or(lines.len());
        match current.root().get(key) {
            Some(Value::Table(_)) => {
                bail!(
                    "{} is a table, not a single value; {edit_hint}",
                    format_key(key)
                )
            }
            Some(_) => {
                let found: Vec<usize> = (0..first_header)
                    .filter(|&i| is_statement_of(&lines[i], key))
                    .collect();
                let [index] = found[..] else {
                    bail!(
                        "{} is not written as one simple `key = value` line at the top of the document; {edit_hint}",
                        format_key(key)
                    );
                };
                let line = &lines[index];
                let cr = if line.ends_with('\r') { "\r" } else { "" };
                let body = line.trim_end_matches('\r');
                let indent: String = body.chars().take_while(|c| c.is_whitespace()).collect();
                let comment = body
                    .char_indices()
                    .filter(|&(_, c)| c == '#')
                    .find(|&(p, _)| is_statement_of(&body[..p], key))
                    .map(|(p, _)| format!(" {}", &body[p..]))
                    .unwrap_or_default();
                lines[index] = format!("{indent}{statement}{comment}{cr}");
            }
            None => {
                let is_comment = |l: &str| l.trim_start().starts_with('#');
                let is_blank = |l: &str| l.trim().is_empty();
                if first_header == lines.len() {
                    // No tables: append (before the empty piece after a final newline).
                    let at = if lines.last().is_some_and(|l| l.is_empty()) {
                        lines.len() - 1
                    } else {
                        lines.len()
                    };
                    lines.insert(at, statement);
                } else {
                    // Before the first table and the comments and blank lines leading to it.
                    let mut at = first_header;
                    while at > 0 && is_comment(&lines[at - 1]) {
                        at -= 1;
                    }
                    while at > 0 && is_blank(&lines[at - 1]) {
                        at -= 1;
                    }
                    lines.insert(at, statement);
                    if !is_blank(&lines[at + 1]) {
                        lines.insert(at + 1, String::new());
                    }
                }
            }
        }
    }
    if lines.last().is_some_and(|l| !l.is_empty()) {
        lines.push(String::new());
    }
    let new_text = lines.join("\n");
    // Check the result: exactly the asked keys changed, to exactly the asked values.
    let new = Document::parse(&new_text)
        .map_err(|_| anyhow!("cannot change this document line by line safely; {edit_hint}"))?;
    let mut expected = original.root().clone();
    for (key, value) in &pairs_deduped {
        expected.insert(key.clone(), Value::String(value.clone()));
    }
    if !hush_core::diff(&expected, new.root()).is_empty() {
        bail!("cannot change this document line by line safely; {edit_hint}");
    }
    Ok(new_text)
}

/// Whether `line` alone is the TOML statement `key = <a value that is not a table>`.
fn is_statement_of(line: &str, key: &str) -> bool {
    match toml::from_str::<toml::Table>(line) {
        Ok(table) => {
            table.len() == 1
                && table
                    .get(key)
                    .is_some_and(|v| !matches!(v, toml::Value::Table(_)))
        }
        Err(_) => false,
    }
}

/// `text` checked as the server checks a save; the error names `what` was checked, and for
/// a TOML error the line and column, once.
pub fn check_for_save(text: &str, what: &str) -> anyhow::Result<Document> {
    Document::parse_for_save(text).map_err(|err| match err {
        SaveError::Parse(p) => anyhow!(
            "{what}: not valid TOML 1.0 at line {}, column {}: {}",
            p.line,
            p.column,
            p.message
        ),
        other => anyhow!("{what}: {other}"),
    })
}

/// `KEY=VALUE` from the command line.
pub fn parse_assignment(arg: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => {
            let shown: String = arg.chars().take_while(|c| *c != '=').take(40).collect();
            bail!("expected KEY=VALUE, got an argument starting {shown:?} without '='")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Table {
        Document::parse(text).unwrap().into_root()
    }

    /// [`set_root_strings`] with the one pair `key` = `value`.
    fn set_one(text: &str, key: &str, value: &str) -> anyhow::Result<String> {
        set_root_strings(text, &[(key.into(), value.into())])
    }

    #[test]
    fn set_replaces_a_simple_line_and_keeps_comments() {
        let text = "# top comment\nAPI_KEY = \"old\" # rotated monthly\nDEBUG = true\n\n# database\n[db]\nhost = \"x\"\n";
        let out = set_one(text, "API_KEY", "n\"e'w").unwrap();
        assert_eq!(
            out,
            "# top comment\nAPI_KEY = 'n\"e''w' # rotated monthly\nDEBUG = true\n\n# database\n[db]\nhost = \"x\"\n"
                .replace("'n\"e''w'", &toml_string("n\"e'w"))
        );
        assert_eq!(root(&out)["API_KEY"], Value::String("n\"e'w".into()));
    }

    #[test]
    fn set_adds_new_keys_before_the_first_table() {
        let text = "A = \"1\"\n\n# database\n[db]\nhost = \"x\"\n";
        let out = set_one(text, "NEW", "v").unwrap();
        assert_eq!(
            out,
            "A = \"1\"\nNEW = \"v\"\n\n# database\n[db]\nhost = \"x\"\n"
        );
        let out = set_one("A = 1", "B", "two words").unwrap();
        assert_eq!(out, "A = 1\nB = \"two words\"\n");
        let out = set_one("", "B", "x").unwrap();
        assert_eq!(out, "B = \"x\"\n");
    }

    #[test]
    fn set_refuses_what_it_cannot_edit_safely() {
        let err = set_one("[db]\nhost = 1\n", "db", "x").unwrap_err();
        assert!(err.to_string().contains("hush secrets edit"), "{err}");
        let multi = "A = \"\"\"\nline\n\"\"\"\n";
        let err = set_one(multi, "A", "x").unwrap_err();
        assert!(err.to_string().contains("hush secrets edit"), "{err}");
        // A header-looking line inside a multi-line string is caught by the final check.
        let tricky = "S = \"\"\"\n[not a table]\n\"\"\"\n";
        let err = set_one(tricky, "N", "x").unwrap_err();
        assert!(err.to_string().contains("hush secrets edit"), "{err}");
    }

    #[test]
    fn dotenv_parses_quotes_comments_and_export() {
        let text = "# comment\nexport A=1\nB = 'lit $HOME \\n'\nC=\"x\\ny \\\"q\\\" \\$Z\" # c\nD=bare value # note\nE=a#b\nF=\"multi\nline\"\nA=2\n\n";
        let pairs = parse_dotenv(text).unwrap();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).unwrap().1.clone();
        assert_eq!(get("A"), "2");
        assert_eq!(get("B"), "lit $HOME \\n");
        assert_eq!(get("C"), "x\ny \"q\" $Z");
        assert_eq!(get("D"), "bare value");
        assert_eq!(get("E"), "a#b");
        assert_eq!(get("F"), "multi\nline");
        assert_eq!(pairs.len(), 6);
        let err = parse_dotenv("A=1\nB='open\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_dotenv("A=1\nnot a pair\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn json_becomes_toml_with_tables() {
        let toml = json_to_toml(
            r#"{"db": {"port": 5432, "host": "h"}, "KEY": "v", "ratio": 0.5, "list": [1, 2]}"#,
        )
        .unwrap();
        let doc = Document::parse(&toml).unwrap();
        assert_eq!(doc.root()["KEY"], Value::String("v".into()));
        assert_eq!(doc.root()["ratio"], Value::Float(0.5));
        let db = doc.root()["db"].as_table().unwrap();
        assert_eq!(db["port"], Value::Integer(5432));
        let err = json_to_toml(r#"{"a": {"b": null}}"#).unwrap_err();
        assert!(err.to_string().contains("a.b"), "{err}");
        assert!(json_to_toml("[1]").is_err());
    }

    #[test]
    fn env_export_is_shell_quoted() {
        let doc = Document::parse("A = \"it's\"\nN = 3\nF = 1.0\n[t]\nx = 1\n").unwrap();
        let (text, skipped) = to_env(&doc);
        assert_eq!(text, "A='it'\\''s'\nN='3'\nF='1.0'\n");
        let keys: Vec<&str> = skipped.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["t"]);
        assert!(skipped[0].1.contains("table"), "{skipped:?}");
    }

    #[test]
    fn env_export_leaves_out_what_a_shell_cannot_read_and_says_why() {
        let doc = Document::parse(
            "\"bad key\" = \"1\"\n\"9LIVES\" = \"x\"\n\"a.b\" = \"y\"\nPATH = \"/x\"\n_OK9 = \"z\"\n",
        )
        .unwrap();
        let (text, skipped) = to_env(&doc);
        assert_eq!(text, "_OK9='z'\n");
        let reason = |key: &str| skipped.iter().find(|(k, _)| k == key).unwrap().1.clone();
        for key in ["bad key", "9LIVES", "a.b"] {
            assert_eq!(reason(key), NOT_A_SHELL_NAME);
        }
        assert!(reason("PATH").contains("which code"), "{}", reason("PATH"));
        assert!(!reason("PATH").contains("tables"));
        // What is written, a shell reads back.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{text}printf %s \"$_OK9\""))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"z");
    }

    #[test]
    fn lookup_finds_values() {
        let doc = Document::parse("A = \"x\"\nwhen = 1979-05-27\n[db]\nport = 5\n").unwrap();
        assert_eq!(lookup(&doc, "A", Format::Toml).unwrap(), "x\n");
        assert_eq!(lookup(&doc, "db.port", Format::Toml).unwrap(), "5\n");
        assert_eq!(lookup(&doc, "when", Format::Toml).unwrap(), "1979-05-27\n");
        assert_eq!(lookup(&doc, "db", Format::Toml).unwrap(), "port = 5\n");
        let nested =
            Document::parse("[a]\nx = [1, 2.5, 1979-05-27T07:32:00Z]\n[a.b]\ny = { z = true }\n")
                .unwrap();
        let text = lookup(&nested, "a", Format::Toml).unwrap();
        assert_eq!(
            text,
            "x = [1, 2.5, 1979-05-27T07:32:00Z]\n\n[a.b]\n[a.b.y]\nz = true\n"
        );
        assert_eq!(
            Document::parse(&format!("[a]\n{text}")).unwrap().root(),
            nested.root()
        );
        assert!(
            lookup(&doc, "db", Format::Json)
                .unwrap()
                .contains("\"port\": 5")
        );
        assert!(lookup(&doc, "nope", Format::Toml).is_err());
    }

    #[test]
    fn formats_from_file_names() {
        assert_eq!(Format::from_path(Path::new("a/.env")), Format::Env);
        assert_eq!(Format::from_path(Path::new(".env.production")), Format::Env);
        assert_eq!(Format::from_path(Path::new("prod.env")), Format::Env);
        assert_eq!(Format::from_path(Path::new("x.JSON")), Format::Json);
        assert_eq!(Format::from_path(Path::new("secrets.toml")), Format::Toml);
    }
}
