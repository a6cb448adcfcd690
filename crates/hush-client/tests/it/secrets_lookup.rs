//! Reading secrets (compat §3.1–§3.8).

use std::panic;

use hush_client::secrets::{Secret, Secrets, SecretsError};
use hush_core::Value;
use serde::Deserialize;

const DOC: &str = r#"
db_username = "Jane"
db_password = "12345qwerty"
port = 5432
ratio = 0.5
debug = true
"with.dot" = "dotted"

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]

[db_credentials]
username = "my_username"
password = "my_password"

[db]
host = "localhost"
port = 5432
[db.options]
ssl = true

[[servers]]
name = "alpha"
[[servers]]
name = "beta"
"#;

fn secrets() -> Secrets {
    DOC.parse().unwrap()
}

#[test]
fn key_access_nested_and_typed() {
    let s = secrets();
    assert_eq!(s["db_username"], "Jane");
    assert_eq!(s["db"]["port"], 5432);
    assert_eq!(s["db"]["port"].as_i64(), Some(5432));
    assert_eq!(s["db"]["options"]["ssl"], true);
    assert_eq!(s["ratio"], 0.5);
    assert_eq!(s["with.dot"], "dotted");
    // Tables inside arrays are tables too (compat §3.7).
    assert_eq!(s["servers"][1]["name"], "beta");
    assert_eq!(s.get::<String>("db_password").unwrap(), "12345qwerty");
    assert_eq!(s.get::<u16>("port").unwrap(), 5432);
    assert_eq!(
        s.get::<Vec<String>>("my_cool_secrets").ok(),
        None,
        "a table is not a list"
    );
    assert_eq!(
        s["my_cool_secrets"]["things_i_like"]
            .deserialize::<Vec<String>>()
            .unwrap(),
        ["Streamlit", "Python"]
    );
}

#[test]
fn path_lookup_follows_toml_dotted_keys() {
    let s = secrets();
    assert_eq!(s.get_path::<String>("db.host").unwrap(), "localhost");
    assert!(s.get_path::<bool>("db . options . ssl").unwrap());
    assert_eq!(s.get_path::<String>("\"with.dot\"").unwrap(), "dotted");
    assert_eq!(s.get_path::<String>("db_username").unwrap(), "Jane");
    let err = s.get_path::<String>("with.dot").unwrap_err().to_string();
    assert!(err.starts_with("st.secrets has no key \"with\"."), "{err}");
    let err = s.get_path::<String>("db.host.x").unwrap_err();
    assert!(matches!(err, SecretsError::NotATable { .. }), "{err}");
    assert!(!err.to_string().contains("localhost"), "{err}");
    assert!(matches!(
        s.get_path::<String>("db..host").unwrap_err(),
        SecretsError::KeyPath(_)
    ));
}

#[derive(Deserialize, Debug, PartialEq)]
struct DbCredentials {
    username: String,
    password: String,
}

#[test]
fn section_unpacks_into_a_struct() {
    let s = secrets();
    let creds: DbCredentials = s.section("db_credentials").unwrap();
    assert_eq!(creds.username, "my_username");
    assert_eq!(creds.password, "my_password");
    let err = s.section::<DbCredentials>("db").unwrap_err().to_string();
    assert!(err.contains("missing field"), "{err}");
    let err = s
        .section::<DbCredentials>("db_username")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a table"), "{err}");
    assert!(!err.contains("Jane"), "{err}");
}

#[test]
fn type_errors_never_show_values() {
    let s = secrets();
    let err = s.get::<u16>("db_password").unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("12345qwerty"), "{text}");
    assert!(text.contains("string"), "{text}");
}

#[test]
fn missing_key_texts() {
    let d = tempfile::TempDir::new().unwrap();
    let file = d.path().join("secrets.toml");
    std::fs::write(&file, DOC).unwrap();
    let s = Secrets::from_path(&file).unwrap();

    // Result form, top level.
    let err = s.get::<String>("x").unwrap_err().to_string();
    let want_start = "st.secrets has no key \"x\". Did you forget to add it to secrets.toml";
    assert!(err.starts_with(want_start), "{err}");
    assert!(
        err.contains(&file.display().to_string()),
        "hint names the files: {err}"
    );

    // Panic form (Index), top level and nested: the same text.
    for f in [
        Box::new(|s: &Secrets| drop(s["x"].clone()))
            as Box<dyn Fn(&Secrets) + panic::RefUnwindSafe>,
        Box::new(|s: &Secrets| drop(s["db"]["x"].clone())),
        Box::new(|s: &Secrets| drop(s["servers"][0]["x"].clone())),
    ] {
        let msg = panic_message(|| f(&s));
        assert!(msg.starts_with(want_start), "{msg}");
        assert!(msg.contains(&file.display().to_string()), "{msg}");
    }

    // Nested, Result form.
    let err = s.get_path::<String>("db.x").unwrap_err().to_string();
    assert!(err.starts_with(want_start), "{err}");

    // Indexing a non-table names the type, not the value.
    let msg = panic_message(|| drop(s["db_password"]["x"].clone()));
    assert!(msg.contains("string"), "{msg}");
    assert!(!msg.contains("12345qwerty"), "{msg}");
}

fn panic_message(f: impl FnOnce() + panic::UnwindSafe) -> String {
    let prev = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let err = panic::catch_unwind(f).unwrap_err();
    panic::set_hook(prev);
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn mapping_protocol() {
    let s = secrets();
    assert!(s.contains_key("db"));
    assert!(!s.contains_key("nope"));
    assert_eq!(s.len(), 10);
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        [
            "db_username",
            "db_password",
            "port",
            "ratio",
            "debug",
            "with.dot",
            "my_cool_secrets",
            "db_credentials",
            "db",
            "servers"
        ]
    );
    assert_eq!(s.iter().count(), s.len());
    assert_eq!(s.value("db").map(Secret::type_name), Some("table"));
    assert!(s.value("nope").is_none());
    // Equality with a plain table.
    assert_eq!(s, hush_core::Document::parse(DOC).unwrap().into_root());
    // Rule 17: with no secrets at all, lookups answer instead of raising.
    let empty = Secrets::default();
    assert!(!empty.contains_key("x"));
    assert!(empty.value("x").is_none());
}

#[test]
fn copies_cannot_change_the_store() {
    let s = secrets();
    let mut table = s.to_table();
    table.insert("db_username".into(), Value::String("Mallory".into()));
    if let Some(Value::Array(a)) = table.get_mut("my_cool_secrets").and_then(|t| match t {
        Value::Table(t) => t.get_mut("things_i_like"),
        _ => None,
    }) {
        a.clear();
    }
    let mut cloned = s["my_cool_secrets"].clone();
    if let Secret::Table(_) = &mut cloned {
        cloned = Secret::Boolean(false);
    }
    assert_eq!(cloned, false);
    let mut list: Vec<String> = s.get_path("my_cool_secrets.things_i_like").unwrap();
    list.push("Rust".into());

    assert_eq!(s["db_username"], "Jane");
    assert_eq!(
        s["my_cool_secrets"]["things_i_like"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let again: Vec<String> = s.get_path("my_cool_secrets.things_i_like").unwrap();
    assert_eq!(again, ["Streamlit", "Python"]);
}

#[test]
fn env_projection_matches_streamlit() {
    let s = secrets();
    let env = s.env();
    assert_eq!(
        env.exported,
        [
            ("db_username".to_owned(), "Jane".to_owned()),
            ("db_password".to_owned(), "12345qwerty".to_owned()),
            ("port".to_owned(), "5432".to_owned()),
            ("ratio".to_owned(), "0.5".to_owned()),
            ("with.dot".to_owned(), "dotted".to_owned()),
        ]
    );
}

#[test]
fn debug_output_hides_values() {
    let s = secrets();
    let shown = format!("{s:?} {:?} {:?}", s["db"], s.root());
    assert!(!shown.contains("12345qwerty"), "{shown}");
    assert!(!shown.contains("localhost"), "{shown}");
    assert!(!shown.contains("Jane"), "{shown}");
}
