//! Parsing a secrets document: TOML 1.0 (what Streamlit's `tomllib` reads),
//! with errors that point at a line and column but never quote the text.

use std::fmt;

use thiserror::Error;

use crate::env::{EnvProjection, env_projection, invalid_env_reason};
use crate::keypath::format_key_path;
use crate::toml10::{Toml11Syntax, find_toml11_syntax};
use crate::value::{Table, TomlTable, Value};

/// The largest document `parse_for_save` accepts, in bytes (1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

const BOM: char = '\u{feff}';

/// A parsed secrets document: the text as a person wrote it (comments and
/// layout kept; a leading UTF-8 byte-order mark removed, see compat §1.8) and the
/// ordered tree parsed from it.
#[derive(Clone, PartialEq)]
pub struct Document {
    text: String,
    root: Table,
}

impl Document {
    /// Parse TOML 1.0 text. A leading UTF-8 byte-order mark is accepted and
    /// dropped. Syntax only TOML 1.1 accepts is refused with
    /// [`ParseError::toml11_only`] set.
    pub fn parse(text: &str) -> Result<Document, ParseError> {
        let text = text.strip_prefix(BOM).unwrap_or(text);
        if text.starts_with(BOM) {
            // toml 0.8 would skip a second one too; TOML allows one.
            return Err(ParseError {
                line: 1,
                column: 1,
                message: "a byte-order mark (U+FEFF) may appear only once, at the very start"
                    .to_owned(),
                toml11_only: false,
            });
        }
        let mut root = parse_tree(text)?;
        // Python's tomllib turns every CRLF into LF before it parses, so a line
        // break inside a multi-line string is "\n" even in a file saved on
        // Windows; the TOML parsers here keep "\r\n". Read the values from the
        // normalized text (whether the text is valid was decided above, on the
        // text itself: a lone CR stays an error, as in tomllib).
        if text.contains("\r\n") && (text.contains("\"\"\"") || text.contains("'''")) {
            root = parse_tree(&text.replace("\r\n", "\n"))?;
        }
        Ok(Document {
            text: text.to_owned(),
            root,
        })
    }

    /// [`Document::parse`] plus the checks made before a document is stored:
    /// the size limit and compat §2.4 (every root key that would be exported must
    /// be a valid environment variable name and value).
    pub fn parse_for_save(text: &str) -> Result<Document, SaveError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(SaveError::TooLarge {
                size: text.len(),
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let doc = Document::parse(text)?;
        for (key, value) in &doc.root {
            if let Some(text) = crate::env::env_value_str(value)
                && let Some(reason) = invalid_env_reason(key, &text)
            {
                return Err(SaveError::InvalidEnvKey {
                    key: key.clone(),
                    reason,
                });
            }
        }
        Ok(doc)
    }

    /// The document text (without a byte-order mark).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed tree, keys in document order.
    pub fn root(&self) -> &Table {
        &self.root
    }

    /// Consume the document, keeping the tree.
    pub fn into_root(self) -> Table {
        self.root
    }

    /// The environment variables this document exports (compat §2.1–§2.4).
    pub fn env(&self) -> EnvProjection {
        env_projection(&self.root)
    }

    /// Every key path in document order: each table's own path, then the paths
    /// inside it; arrays (including arrays of tables) are leaves. Paths are
    /// dotted, with segments quoted where TOML needs it (`db.host`,
    /// `"with.dot"`). Names only, never values.
    pub fn key_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_paths(&self.root, &mut Vec::new(), &mut out);
        out
    }
}

/// The tree of a TOML 1.0 document.
fn parse_tree(text: &str) -> Result<Table, ParseError> {
    // Fast path: toml 1.x, held to TOML 1.0 (see `toml10`).
    let toml11_syntax = match toml11::from_str::<TomlTable>(text) {
        Ok(TomlTable(root)) => match find_toml11_syntax(text) {
            None => return Ok(root),
            found => Some(found),
        },
        Err(_) => None,
    };
    // Everything else goes to toml 0.8, the TOML 1.0 parser that decides
    // what is accepted and words the errors.
    match toml::from_str::<TomlTable>(text) {
        Ok(TomlTable(root)) => Ok(root),
        Err(err) => Err(ParseError::from_toml(text, &err, toml11_syntax)),
    }
}

fn collect_paths<'a>(table: &'a Table, prefix: &mut Vec<&'a str>, out: &mut Vec<String>) {
    for (key, value) in table {
        prefix.push(key);
        out.push(format_key_path(prefix));
        if let Value::Table(t) = value {
            collect_paths(t, prefix, out);
        }
        prefix.pop();
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field(
                "text",
                &format_args!("<{} bytes redacted>", self.text.len()),
            )
            .field("root", &self.root)
            .finish()
    }
}

impl std::str::FromStr for Document {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Document::parse(s)
    }
}

/// A TOML syntax error. The message never quotes the document (it could hold
/// a secret); `line` and `column` (1-based, column in characters) say where.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message} (at line {line}, column {column})")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The text is valid TOML 1.1 but not TOML 1.0, which is all Streamlit reads.
    pub toml11_only: bool,
}

impl ParseError {
    /// From toml 0.8's error. `toml11` says what toml 1.x made of the text:
    /// `None` if it refused it too, `Some(found)` if it read it, with the
    /// TOML 1.1-only construct [`find_toml11_syntax`] found, if any.
    fn from_toml(
        text: &str,
        err: &toml::de::Error,
        toml11: Option<Option<(usize, Toml11Syntax)>>,
    ) -> ParseError {
        // Only `message()` and `span()`: the error's Display quotes the
        // offending line, which may hold a secret.
        let offset = err.span().map(|s| s.start).unwrap_or(0);
        let base = tidy_message(err.message());
        let (offset, feature) = match toml11 {
            None => {
                let (line, column) = line_column(text, offset);
                let message = if base.starts_with("invalid floating-point number")
                    && float_out_of_range(text, offset)
                {
                    FLOAT_OUT_OF_RANGE.to_owned()
                } else {
                    plain_message(&base)
                };
                return ParseError {
                    line,
                    column,
                    message,
                    toml11_only: false,
                };
            }
            Some(Some((at, syntax))) => (at, syntax.describe()),
            // toml 1.x read it and no 1.1-only construct was found, yet toml
            // 0.8 refused it: still TOML 1.1-only, named from 0.8's message.
            Some(None) => (offset, toml11_feature(&base, text, offset)),
        };
        let (line, column) = line_column(text, offset);
        ParseError {
            line,
            column,
            message: format!(
                "{feature} is TOML 1.1 syntax, which Streamlit's tomllib (TOML 1.0) cannot read; \
                 write it the TOML 1.0 way"
            ),
            toml11_only: true,
        }
    }
}

/// toml's messages are several lines ("invalid string\nexpected `\"`");
/// make them one.
fn tidy_message(msg: &str) -> String {
    let parts: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if parts.is_empty() {
        "invalid TOML".to_owned()
    } else {
        parts.join(", ")
    }
}

/// toml's wording ("invalid string, expected `"`, `'`") as what is wrong and how to write it
/// instead. Key names (from duplicate keys) are kept; nothing else of the text is quoted.
fn plain_message(raw: &str) -> String {
    let said = |prefix: &str| raw.starts_with(prefix);
    if let Some(duplicate) = duplicate_key_message(raw) {
        return duplicate;
    }
    if let Some(rest) = raw.strip_prefix("dotted key `")
        && let Some((path, kind)) = rest.split_once("` attempted to extend non-table type (")
    {
        let kind = kind.trim_end_matches(')');
        return format!(
            "{path} adds a key to something that is already a {kind}, not a table; \
             rename one of them"
        );
    }
    let text = if said("invalid basic string") {
        r#"this "string" does not end on its line (or holds a control character); close it with " on the same line, or use """...""" for text over several lines"#
    } else if said("invalid literal string") {
        r#"this 'string' does not end on its line (or holds a control character); close it with ' on the same line, or use '''...''' for text over several lines"#
    } else if said("invalid multiline basic string") {
        r#"this """ string is not closed; end it with """"#
    } else if said("invalid multiline literal string") {
        r#"this ''' string is not closed; end it with '''"#
    } else if said("invalid string") {
        r#"a value is missing or not quoted; write text in quotes (KEY = "value"), and numbers, true, false and dates without"#
    } else if said("expected newline") {
        "unexpected text after the value; write one KEY = value per line (a comment starts \
         with #)"
    } else if said("expected `.`, `=`") {
        r#"expected = after the key; write KEY = value, and quote a key that holds spaces or other signs ("my key" = value)"#
    } else if said("invalid key") {
        r#"a key is missing or needs quotes; write KEY = value, or "my key" = value"#
    } else if said("invalid table header") {
        "this [table] header is not valid; write [name] or [name.sub] alone on its line, \
         quoting a name that holds spaces or other signs"
    } else if said("invalid array") {
        "this array is not closed with ], or its items are not separated by commas"
    } else if said("invalid inline table") {
        "this inline table { ... } is not closed with } on the same line, or its items are \
         not separated by commas"
    } else if said("invalid escape sequence") {
        r#"this backslash escape is not one TOML knows; write \\ for a backslash, \" for a quote, \n, \t or \uXXXX, or use a 'literal string', in which backslashes are plain"#
    } else if said("invalid unicode") {
        r"this \u or \U escape is not a Unicode character"
    } else if said("invalid date-time") || said("invalid time") || said("invalid local") {
        "this date or time is not valid; write it as 1979-05-27, 07:32:00 or \
         1979-05-27T07:32:00Z"
    } else if said("number too large") || said("number too small") {
        "this integer is outside the 64-bit range TOML allows (-9223372036854775808 to \
         9223372036854775807); write it as a string"
    } else if said("invalid integer")
        || said("invalid hexadecimal")
        || said("invalid octal")
        || said("invalid binary")
    {
        "this integer is not valid; write digits without a leading zero (0x, 0o and 0b for \
         other bases), or quote it as a string"
    } else if said("invalid floating-point number") {
        "this number is not valid; write digits on both sides of the point (1.0, not 1.), \
         or quote it as a string"
    } else if said("recursion limit exceeded") {
        "arrays or tables are nested too deeply"
    } else {
        return format!("this is not valid TOML ({raw})");
    };
    text.to_owned()
}

const FLOAT_OUT_OF_RANGE: &str = "this number is out of range for a 64-bit float (larger \
     than about 1.8e308); write a smaller number, inf for infinity, or quote it as a string";

/// Whether the float at `offset` is well formed but too large for an f64 (`3.14e+999`), which
/// toml refuses with the same words as a malformed one (`1.`).
fn float_out_of_range(text: &str, offset: usize) -> bool {
    let rest = text.get(offset..).unwrap_or_default();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E' | '_')))
        .unwrap_or(rest.len());
    // Rust's float syntax accepts what TOML's does once the digit separators are gone, and
    // more; the parse only tells overflow apart, the syntax was toml's to judge.
    rest[..end]
        .replace('_', "")
        .parse::<f64>()
        .is_ok_and(f64::is_infinite)
}

/// "duplicate key `db` in document root" (after "invalid table header" for a table) as a
/// sentence naming the key the TOML way.
fn duplicate_key_message(raw: &str) -> Option<String> {
    let (_, rest) = raw.split_once("duplicate key `")?;
    let (key, place) = match rest.split_once("` in table `") {
        Some((key, table)) => (key, format!(" in [{}]", table.trim_end_matches('`'))),
        None => (
            rest.rsplit_once('`').map_or(rest, |(key, _)| key),
            String::new(),
        ),
    };
    let key = crate::keypath::format_key(key);
    Some(if raw.starts_with("invalid table header") {
        format!("the table [{key}] is defined twice{place}; merge the two into one")
    } else {
        format!("the key {key} is given twice{place}; keep one")
    })
}

/// Name the 1.1 feature the 1.0 parser stumbled on, as well as we can tell.
fn toml11_feature(message: &str, text: &str, offset: usize) -> &'static str {
    if message.starts_with("invalid inline table") {
        "a newline or a trailing comma inside an inline table { ... }"
    } else if message.starts_with("invalid time") || message.starts_with("invalid date-time") {
        "a time without seconds (write 07:32:00, not 07:32)"
    } else if message.starts_with("invalid escape sequence") {
        // The span points just past the escape letter; find the backslash.
        let backslash = text
            .get(..offset.min(text.len()))
            .and_then(|s| s.rfind('\\'));
        match backslash.and_then(|i| text[i + 1..].chars().next()) {
            Some('e') => "the \\e escape (write \\u001b)",
            Some('x') => "the \\xHH escape (write \\u00HH)",
            _ => "this escape sequence",
        }
    } else {
        "this syntax"
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Why a document cannot be saved.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SaveError {
    #[error(
        "the secrets document is {size} bytes, over the {limit}-byte limit; \
         keep large files (certificates, keys) elsewhere and store only what the app needs"
    )]
    TooLarge { size: usize, limit: usize },
    // Not a `source`: the text already says it, and error chains would print it twice.
    #[error("the secrets document is not valid TOML 1.0: {0}")]
    Parse(ParseError),
    #[error(
        "root key {} cannot be exported as an environment variable: {reason}; \
         change it, or move it into a [table] (keys inside tables are not exported)",
        quote_key(key)
    )]
    InvalidEnvKey { key: String, reason: String },
}

impl From<ParseError> for SaveError {
    fn from(err: ParseError) -> SaveError {
        SaveError::Parse(err)
    }
}

fn quote_key(key: &str) -> String {
    format!("{key:?}")
}
