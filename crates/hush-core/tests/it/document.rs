//! Parsing, save checks and environment projection (compat §1.7–§2.4).

use hush_core::{Document, SaveError, SkipReason, Value};

fn env_of(text: &str) -> Vec<(String, String)> {
    Document::parse(text).unwrap().env().exported
}

#[test]
fn projection_exports_only_root_strings_integers_floats_in_order() {
    let doc = Document::parse(
        r#"
db_username = "Jane"
port = 5432
hex = 0xff
oct = 0o17
bin = 0b101
big = 1_000
ratio = 1.0
tenbillion = 1e10
pi = 3.14
tiny = 1e-7
huge = 1e22
posinf = inf
notanumber = nan
neginf = -inf
flag = true
when = 1979-05-27T07:32:00Z
day = 1979-05-27
at = 07:32:00
local = 1979-05-27T07:32:00
list = ["a", "b"]
inline = { a = 1 }
MixedCase = "kept"
with-dash = "d"
"with.dot" = "dot"
"ключ" = "значение"
empty = ""

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]
nested_string = "not exported"
"#,
    )
    .unwrap();
    let env = doc.env();
    let exported: Vec<(&str, &str)> = env
        .exported
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        exported,
        [
            ("db_username", "Jane"),
            ("port", "5432"),
            ("hex", "255"),
            ("oct", "15"),
            ("bin", "5"),
            ("big", "1000"),
            ("ratio", "1.0"),
            ("tenbillion", "10000000000.0"),
            ("pi", "3.14"),
            ("tiny", "1e-07"),
            ("huge", "1e+22"),
            ("posinf", "inf"),
            ("notanumber", "nan"),
            ("neginf", "-inf"),
            ("MixedCase", "kept"),
            ("with-dash", "d"),
            ("with.dot", "dot"),
            ("ключ", "значение"),
            ("empty", ""),
        ]
    );
    let skipped: Vec<(&str, &SkipReason)> = env
        .skipped
        .iter()
        .map(|s| (s.key.as_str(), &s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("flag", &SkipReason::NotScalar("boolean")),
            ("when", &SkipReason::NotScalar("datetime")),
            ("day", &SkipReason::NotScalar("datetime")),
            ("at", &SkipReason::NotScalar("datetime")),
            ("local", &SkipReason::NotScalar("datetime")),
            ("list", &SkipReason::NotScalar("array")),
            ("inline", &SkipReason::NotScalar("table")),
            ("my_cool_secrets", &SkipReason::NotScalar("table")),
        ]
    );
    // Nothing inside a table is exported.
    assert!(!env.exported.iter().any(|(k, _)| k == "nested_string"));
}

#[test]
fn negative_and_extreme_integers_are_decimal() {
    assert_eq!(
        env_of("a = -17\nb = 9223372036854775807\nc = -9223372036854775808\nd = +5\n"),
        [
            ("a".to_owned(), "-17".to_owned()),
            ("b".to_owned(), "9223372036854775807".to_owned()),
            ("c".to_owned(), "-9223372036854775808".to_owned()),
            ("d".to_owned(), "5".to_owned()),
        ]
    );
}

#[test]
fn keys_that_cannot_be_env_names_load_but_are_skipped_and_refused_on_save() {
    let text = "ok = \"1\"\n\"\" = \"empty key\"\n\"a=b\" = \"eq\"\nnul = \"x\\u0000y\"\n";
    let doc = Document::parse(text).unwrap();
    let env = doc.env();
    assert_eq!(env.exported, [("ok".to_owned(), "1".to_owned())]);
    let skipped: Vec<&str> = env.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(skipped, ["", "a=b", "nul"]);
    assert!(
        env.skipped
            .iter()
            .all(|s| matches!(s.reason, SkipReason::InvalidName(_)))
    );

    for (text, key) in [
        ("\"\" = \"v\"\n", ""),
        ("\"a=b\" = \"v\"\n", "a=b"),
        ("nul = \"x\\u0000y\"\n", "nul"),
    ] {
        match Document::parse_for_save(text) {
            Err(SaveError::InvalidEnvKey { key: k, reason }) => {
                assert_eq!(k, key);
                assert!(!reason.is_empty());
                let msg = SaveError::InvalidEnvKey {
                    key: k.clone(),
                    reason,
                }
                .to_string();
                assert!(msg.contains(&format!("{key:?}")), "{msg}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    // Inside a table, such keys are fine: they are never exported.
    Document::parse_for_save("[t]\n\"a=b\" = 1\n\"\" = \"x\\u0000\"\n").unwrap();
    // A boolean under a bad name is never exported either.
    Document::parse_for_save("\"a=b\" = true\n").unwrap();
}

#[test]
fn save_refuses_oversized_documents() {
    let text = format!("k = \"{}\"\n", "a".repeat(hush_core::MAX_DOCUMENT_BYTES));
    match Document::parse_for_save(&text) {
        Err(SaveError::TooLarge { size, limit }) => {
            assert_eq!(size, text.len());
            assert_eq!(limit, 1024 * 1024);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bom_is_accepted_and_dropped() {
    let doc = Document::parse("\u{feff}a = 1\n").unwrap();
    assert_eq!(doc.text(), "a = 1\n");
    assert_eq!(doc.root()["a"], Value::Integer(1));
    let doc = Document::parse_for_save("\u{feff}").unwrap();
    assert!(doc.root().is_empty());
}

#[test]
fn empty_and_comment_only_documents_are_valid() {
    assert!(Document::parse("").unwrap().root().is_empty());
    assert!(
        Document::parse("# nothing here\n\n# at all\n")
            .unwrap()
            .root()
            .is_empty()
    );
}

#[test]
fn text_is_kept_as_typed() {
    let text = "# comment\r\nb = 2   # trailing\r\na = 1\r\n";
    let doc = Document::parse(text).unwrap();
    assert_eq!(doc.text(), text);
    assert_eq!(doc.root().keys().collect::<Vec<_>>(), ["b", "a"]);
}

#[test]
fn parse_errors_point_at_line_and_column_without_quoting_the_text() {
    let secret = "Zq9-VERY-DISTINCTIVE-SECRET";
    let cases = [
        (format!("a = 1\npassword = \"{secret}\" x\n"), 2),
        (format!("password = {secret}\n"), 1),
        (format!("ok = 1\n\npassword = \"{secret}\n"), 3),
        (format!("password = '{secret}\n"), 1),
        (format!("password = \"{secret}\\q\"\n"), 1),
        (format!("[a]\nk = \"{secret}\"\n[a]\nk = \"{secret}\"\n"), 3),
        (
            format!("password = \"{secret}\"\npassword = \"{secret}\"\n"),
            2,
        ),
        (format!("x = [\"{secret}\" \"{secret}\"]\n"), 1),
        (format!("d = 1979-13-27 # {secret}\n"), 1),
        (format!("{secret} = = 1\n"), 1),
    ];
    for (text, line) in &cases {
        let err = Document::parse(text).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{text:?} leaked: {shown}");
        assert!(!shown.contains("Zq9"), "{text:?} leaked: {shown}");
        assert_eq!(err.line, *line, "{text:?}: {err}");
        assert!(!err.toml11_only);
        assert!(
            err.to_string()
                .ends_with(&format!("(at line {}, column {})", err.line, err.column)),
            "{err}"
        );
        let save = Document::parse_for_save(text).unwrap_err().to_string();
        assert!(!save.contains(secret), "{save}");
    }
}

#[test]
fn parse_errors_say_what_is_wrong_in_plain_words_once() {
    // (text, words the message must hold): what a person gets wrong most often.
    let cases = [
        ("A = \"unclosed\n", "does not end on its line"),
        ("A = 'unclosed\n", "does not end on its line"),
        ("A = \"\"\"open\n", "is not closed"),
        ("A = unquoted\n", "not quoted"),
        ("A = 1 2\n", "one KEY = value per line"),
        ("bad key = 1\n", "quote a key"),
        ("= 1\n", "a key is missing"),
        ("A = 1\nA = 2\n", "the key A is given twice"),
        ("[db]\nx = 1\nx = 2\n", "the key x is given twice in [db]"),
        ("[db]\nx=1\n[db]\n", "the table [db] is defined twice"),
        ("[db\nx=1\n", "[table] header"),
        ("A = [1, 2\n", "array is not closed"),
        ("A = { x = 1\n", "inline table"),
        ("A = \"\\q\"\n", "backslash escape"),
        ("A = 1979-13-01\n", "date or time"),
        ("A = 99999999999999999999\n", "64-bit range"),
        ("A = 1.\n", "both sides of the point"),
        ("a.b = 1\na = 2\n", "given twice"),
    ];
    for (text, words) in cases {
        let err = Document::parse(text).unwrap_err();
        assert!(err.message.contains(words), "{text:?}: {}", err.message);
        // None of the parser's own vocabulary is left.
        for raw in [
            "expected `",
            "invalid basic",
            "document root",
            "expected newline",
        ] {
            assert!(!err.message.contains(raw), "{text:?}: {}", err.message);
        }
        // The save error says it once: it is not also the source of a chain that repeats it.
        let save = Document::parse_for_save(text).unwrap_err();
        assert!(std::error::Error::source(&save).is_none(), "{save}");
        assert_eq!(save.to_string().matches(&err.message).count(), 1, "{save}");
    }
}

#[test]
fn numbers_out_of_range_say_so_and_where() {
    // (text, line, column, words): a float too large for 64 bits is not a malformed one, and
    // an integer past 64 bits either way is refused as TOML 1.0 requires.
    let cases = [
        ("a = 3.14e+999\n", 1, 5, "out of range for a 64-bit float"),
        (
            "x = 1\n[t]\nb = [1.0, 1_5e4_00]\n",
            3,
            11,
            "out of range for a 64-bit float",
        ),
        (
            "a = 9223372036854775808\n",
            1,
            5,
            "outside the 64-bit range",
        ),
        (
            "x = 1\n  a = -9223372036854775809\n",
            2,
            7,
            "outside the 64-bit range",
        ),
    ];
    for (text, line, column, words) in cases {
        let err = Document::parse(text).unwrap_err();
        assert!(err.message.contains(words), "{text:?}: {err}");
        assert!(!err.message.contains("point"), "{text:?}: {err}");
        assert_eq!((err.line, err.column), (line, column), "{text:?}: {err}");
    }
    // The largest of each still loads, and a malformed float keeps its own message.
    assert!(Document::parse("a = 9223372036854775807\nb = -9223372036854775808\n").is_ok());
    assert!(Document::parse("a = 1.7976931348623157e308\n").is_ok());
    let err = Document::parse("a = 1.e5\n").unwrap_err();
    assert!(err.message.contains("both sides of the point"), "{err}");
}

#[test]
fn column_counts_characters_not_bytes() {
    let err = Document::parse("\"ключ\" = \"значение\" x\n").unwrap_err();
    assert_eq!((err.line, err.column), (1, 21), "{err}");
}

/// TOML 1.1-only syntax: refused with a message saying so, and (checked
/// against Python's tomllib, which Streamlit uses) really not TOML 1.0.
const TOML11_ONLY: &[(&str, &str)] = &[
    ("a = { x = 1,\n  y = 2 }\n", "inline table"),
    ("a = {\n  x = 1\n}\n", "inline table"),
    ("a = { x = 1, }\n", "inline table"),
    ("t = 07:32\n", "without seconds"),
    ("t = 1979-05-27T07:32\n", "without seconds"),
    ("t = 1979-05-27 07:32Z\n", "without seconds"),
    ("s = \"\\e[0m\"\n", "\\e"),
    ("s = \"\\x41\"\n", "\\x"),
];

#[test]
fn toml11_only_syntax_is_refused_with_a_message_saying_so() {
    for (text, feature) in TOML11_ONLY {
        let err = Document::parse(text).unwrap_err();
        assert!(err.toml11_only, "{text:?}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(feature), "{text:?}: {msg}");
        assert!(msg.contains("TOML 1.1"), "{msg}");
        assert!(msg.contains("Streamlit"), "{msg}");
        assert!(msg.contains("TOML 1.0"), "{msg}");
        assert!(Document::parse_for_save(text).is_err());
    }
}

#[test]
fn toml11_only_errors_point_at_the_construct_without_quoting_it() {
    let secret = "Zq9-VERY-DISTINCTIVE-SECRET";
    for (text, line, column) in [
        (
            format!("pw = \"{secret}\"\na = {{ x = \"{secret}\", }}\n"),
            2,
            40,
        ),
        (format!("pw = \"{secret}\\x41\"\n"), 1, 34),
        (format!("a = {{ pw = \"{secret}\",\n b = 1 }}\n"), 1, 42),
        ("x = 1\nt = 1979-05-27T07:32\n".to_owned(), 2, 5),
    ] {
        let err = Document::parse(&text).unwrap_err();
        assert!(err.toml11_only, "{text:?}: {err}");
        assert_eq!((err.line, err.column), (line, column), "{text:?}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("Zq9"), "{shown}");
    }
}

#[test]
fn tomllib_agrees_those_are_not_toml_10() {
    let docs: Vec<&str> = TOML11_ONLY.iter().map(|(t, _)| *t).collect();
    let verdicts = crate::toml_test::tomllib_verdicts(&docs);
    assert!(
        verdicts.iter().all(|accepted| !accepted),
        "tomllib accepted some: {verdicts:?}"
    );
}

#[test]
fn debug_output_never_shows_values() {
    let doc = Document::parse(
        "pw = \"hunter2\"\nn = 31337\nf = 2.71828\nd = 2024-01-02\n[t]\nx = [\"hunter3\"]\n",
    )
    .unwrap();
    let shown = format!("{doc:?} {:?} {:?}", doc.root(), doc.env());
    for v in ["hunter2", "31337", "2.71828", "2024", "hunter3"] {
        assert!(!shown.contains(v), "{shown}");
    }
    assert!(shown.contains("pw"), "key names are fine: {shown}");
}

#[test]
fn key_paths_list_names_in_order() {
    let doc = Document::parse(
        "a = 1\n\"with.dot\" = 2\n[db]\nhost = \"h\"\n[db.opts]\nssl = true\n[[servers]]\nname = \"x\"\n",
    )
    .unwrap();
    assert_eq!(
        doc.key_paths(),
        [
            "a",
            "\"with.dot\"",
            "db",
            "db.host",
            "db.opts",
            "db.opts.ssl",
            "servers"
        ]
    );
}

#[test]
fn values_serialize_to_plain_json() {
    let doc = Document::parse(
        "s = \"x\"\ni = 1\nf = 1.5\nb = true\nd = 1979-05-27T07:32:00Z\nn = nan\na = [1, \"2\"]\n[t]\nk = 1\n",
    )
    .unwrap();
    let json = serde_json::to_value(doc.root()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"s": "x", "i": 1, "f": 1.5, "b": true, "d": "1979-05-27T07:32:00Z",
                            "n": "nan", "a": [1, "2"], "t": {"k": 1}})
    );
}

#[test]
fn datetimes_expose_their_parts() {
    use hush_core::{Date, Time};
    let doc = Document::parse(
        "odt = 1979-05-27T00:32:00.999999-07:00\nutc = 1979-05-27T07:32:00Z\n\
         ldt = 1979-05-27 07:32:00\nld = 1979-05-27\nlt = 07:32:00.5\n",
    )
    .unwrap();
    let dt = |k: &str| doc.root()[k].as_datetime().unwrap().clone();
    let date = Some(Date {
        year: 1979,
        month: 5,
        day: 27,
    });
    assert_eq!(dt("odt").date(), date);
    assert_eq!(
        dt("odt").time(),
        Some(Time {
            hour: 0,
            minute: 32,
            second: 0,
            nanosecond: 999_999_000
        })
    );
    assert_eq!(dt("odt").offset_minutes(), Some(-420));
    assert_eq!(dt("utc").offset_minutes(), Some(0));
    assert_eq!(dt("ldt").offset_minutes(), None);
    assert_eq!(dt("ldt").as_str(), "1979-05-27T07:32:00");
    assert_eq!((dt("ld").date(), dt("ld").time()), (date, None));
    assert_eq!(dt("lt").date(), None);
    assert_eq!(dt("lt").time().unwrap().nanosecond, 500_000_000);
}
