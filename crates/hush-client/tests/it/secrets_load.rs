//! Where secrets come from (compat §1.1–§1.7), with explicit home and working
//! directories and environment, so tests never touch the process's own.

use std::fs;
use std::path::{Path, PathBuf};

use hush_client::secrets::{Secrets, SecretsBuilder, SecretsError, Source};
use tempfile::TempDir;

struct Dirs {
    _tmp: TempDir,
    home: PathBuf,
    cwd: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = TempDir::new().unwrap();
    let home = tmp.path().join("home");
    let cwd = tmp.path().join("project");
    fs::create_dir_all(home.join(".streamlit")).unwrap();
    fs::create_dir_all(cwd.join(".streamlit")).unwrap();
    Dirs {
        _tmp: tmp,
        home,
        cwd,
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

impl Dirs {
    fn builder(&self) -> SecretsBuilder {
        Secrets::builder()
            .home(&self.home)
            .cwd(&self.cwd)
            .ignore_environment()
    }
    /// Loads with `files` as STREAMLIT_SECRETS_FILES and nothing else from the environment.
    fn load_with_files_env(&self, files: &str) -> Result<Secrets, SecretsError> {
        self.builder()
            .environment([("STREAMLIT_SECRETS_FILES", files)])
            .load()
    }
    fn global(&self) -> PathBuf {
        self.home.join(".streamlit/secrets.toml")
    }
    fn project(&self) -> PathBuf {
        self.cwd.join(".streamlit/secrets.toml")
    }
}

#[test]
fn default_files_load_in_order_and_merge_shallowly() {
    let d = dirs();
    write(
        &d.global(),
        "only_global = \"g\"\nshared = \"g\"\n[db]\nhost = \"g\"\nuser = \"g\"\n",
    );
    write(
        &d.project(),
        "shared = \"p\"\nonly_project = 1\n[db]\nhost = \"p\"\n",
    );
    let s = d.builder().load().unwrap();
    assert_eq!(s["shared"], "p");
    assert_eq!(s["only_global"], "g");
    assert_eq!(s["only_project"], 1);
    // Rule 2: the later [db] replaces the earlier one whole.
    assert_eq!(s["db"]["host"], "p");
    assert!(s["db"].get("user").is_none());
    let err = s.get_path::<String>("db.user").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("st.secrets has no key \"user\"."),
        "{err}"
    );
    // A key keeps the position where it was first seen.
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        ["only_global", "shared", "db", "only_project"]
    );
}

#[test]
fn script_dir_file_loads_last_and_only_when_different() {
    let d = dirs();
    let script = d.cwd.join("app");
    write(&d.project(), "a = \"project\"\nb = \"project\"\n");
    write(&script.join(".streamlit/secrets.toml"), "b = \"script\"\n");
    let s = d.builder().script_dir(&script).load().unwrap();
    assert_eq!(s["a"], "project");
    assert_eq!(s["b"], "script");
    assert_eq!(s.sources().len(), 3);
    // The same directory as the CWD is not listed twice.
    let s = d.builder().script_dir(&d.cwd).load().unwrap();
    assert_eq!(s.sources().len(), 2);
    // Without script_dir the executable's directory is not consulted.
    let s = d.builder().load().unwrap();
    assert_eq!(s["b"], "project");
}

#[test]
fn no_secrets_lists_the_paths_looked_at() {
    let d = dirs();
    let err = d.builder().load().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "No secrets found. Valid paths for a secrets.toml file or secret directories are: {}, {}",
            d.global().display(),
            d.project().display()
        )
    );
}

#[test]
fn empty_and_comment_only_files_are_valid() {
    let d = dirs();
    write(&d.global(), "");
    write(&d.project(), "# nothing yet\n");
    let s = d.builder().load().unwrap();
    assert!(s.is_empty());
    assert!(!s.contains_key("x"));
}

#[test]
fn one_invalid_file_fails_the_whole_load_naming_file_line_column() {
    let d = dirs();
    write(&d.global(), "good = \"g\"\n");
    write(
        &d.project(),
        "ok = 1\npassword = \"Zq9-TOPSECRET\" trailing\n",
    );
    let err = d.builder().load().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "Error parsing secrets file at {}: ",
            d.project().display()
        )),
        "{msg}"
    );
    assert!(msg.ends_with("(at line 2, column 28)"), "{msg}");
    assert!(!msg.contains("Zq9"), "{msg}");
    assert!(!format!("{err:?}").contains("Zq9"));
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_the_line_and_column_of_the_first_bad_byte() {
    let d = dirs();
    // Saved as Latin-1: `é` (one byte, 0xE9) on line 3, after `name = "Ren`.
    fs::write(d.project(), b"ok = 1\n# comment\nname = \"Ren\xe9\"\n").unwrap();
    let msg = d.builder().load().unwrap_err().to_string();
    assert!(msg.contains(&d.project().display().to_string()), "{msg}");
    assert!(msg.contains("not valid UTF-8"), "{msg}");
    assert!(msg.ends_with("(at line 3, column 12)"), "{msg}");

    // The same in .streamlit/config.toml, which names the secrets files.
    let d = dirs();
    fs::write(
        d.cwd.join(".streamlit/config.toml"),
        b"[secrets]\nfiles = [\"\xff\"]\n",
    )
    .unwrap();
    let msg = d.builder().load().unwrap_err().to_string();
    assert!(msg.contains("config.toml"), "{msg}");
    assert!(msg.contains("not valid UTF-8"), "{msg}");
    assert!(msg.contains("(at line 2, column 11)"), "{msg}");
}

#[test]
fn toml_11_syntax_is_refused_with_a_message_saying_so() {
    let d = dirs();
    write(&d.project(), "db = { host = \"h\",\n  port = 1 }\n");
    let msg = d.builder().load().unwrap_err().to_string();
    assert!(msg.contains("TOML 1.1"), "{msg}");
    assert!(msg.contains("(at line 1, column"), "{msg}");
}

#[test]
fn bom_is_accepted() {
    let d = dirs();
    write(&d.project(), "\u{feff}key = \"v\"\n");
    assert_eq!(d.builder().load().unwrap()["key"], "v");
}

#[test]
fn streamlit_secrets_files_replaces_the_list_and_splits_on_whitespace() {
    let d = dirs();
    write(&d.project(), "from_default = 1\n");
    write(&d.cwd.join("a.toml"), "x = \"a\"\ny = \"a\"\n");
    write(&d.cwd.join("conf/b.toml"), "y = \"b\"\n");
    let s = d
        .load_with_files_env("a.toml\n\t conf/b.toml  missing.toml")
        .unwrap();
    assert_eq!(s["x"], "a");
    assert_eq!(s["y"], "b");
    assert!(!s.contains_key("from_default"));
    assert_eq!(
        s.sources(),
        [
            Source::File(d.cwd.join("a.toml")),
            Source::File(d.cwd.join("conf/b.toml")),
            Source::File(d.cwd.join("missing.toml")),
        ]
    );
}

#[test]
fn config_toml_replaces_the_list_project_over_global_env_over_both() {
    let d = dirs();
    write(&d.cwd.join("p.toml"), "from = \"project config\"\n");
    write(&d.cwd.join("g.toml"), "from = \"global config\"\n");
    write(&d.cwd.join("e.toml"), "from = \"env\"\n");
    write(&d.project(), "from = \"default\"\n");

    write(
        &d.home.join(".streamlit/config.toml"),
        "[secrets]\nfiles = [\"g.toml\"]\n",
    );
    assert_eq!(d.builder().load().unwrap()["from"], "global config");

    write(
        &d.cwd.join(".streamlit/config.toml"),
        "[server]\nport = 1\n[secrets]\nfiles = [\"p.toml\"]\n",
    );
    assert_eq!(d.builder().load().unwrap()["from"], "project config");

    let s = d.load_with_files_env("e.toml").unwrap();
    assert_eq!(s["from"], "env");

    // An explicit list (like --secrets.files) beats both.
    let s = d.builder().files([d.project()]).load().unwrap();
    assert_eq!(s["from"], "default");
}

#[test]
fn config_toml_without_secrets_files_keeps_the_defaults() {
    let d = dirs();
    write(
        &d.cwd.join(".streamlit/config.toml"),
        "[server]\nheadless = true\n",
    );
    write(&d.project(), "k = 1\n");
    assert_eq!(d.builder().load().unwrap()["k"], 1);
}

#[test]
fn hush_secrets_file_is_the_only_source_and_wins() {
    let d = dirs();
    write(&d.project(), "committed = \"repo\"\nshared = \"repo\"\n");
    let server = d.cwd.join("server-copy.toml");
    write(&server, "shared = \"server\"\n");
    let s = d
        .builder()
        .environment([
            ("HUSH_SECRETS_FILE", server.to_str().unwrap()),
            ("STREAMLIT_SECRETS_FILES", "other.toml"),
        ])
        .files(["also-ignored.toml"])
        .load()
        .unwrap();
    assert_eq!(s["shared"], "server");
    assert!(!s.contains_key("committed"));
    assert_eq!(s.sources(), [Source::File(server.clone())]);

    let err = s.get::<String>("committed").unwrap_err().to_string();
    assert!(
        err.starts_with("st.secrets has no key \"committed\". "),
        "{err}"
    );
    assert!(err.contains("hush server"), "{err}");
    assert!(err.contains(&server.display().to_string()), "{err}");
    assert_eq!(
        hush_client::secrets::HUSH_SECRETS_FILE_ENV,
        "HUSH_SECRETS_FILE"
    );
}

#[test]
fn invalid_override_path_is_an_error() {
    let d = dirs();
    let err = d.load_with_files_env("secrets.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Invalid secrets path: {}: path is not a .toml file or a directory",
            d.cwd.join("secrets.json").display()
        )
    );
    assert!(matches!(err, SecretsError::InvalidPath { .. }));
}

#[test]
fn directory_secrets() {
    let d = dirs();
    let dir = d.cwd.join("k8s");
    write(&dir.join("db/host"), "  db.internal\n");
    write(&dir.join("db/password"), "\tpw\r\n");
    write(&dir.join("api_key/value"), "sk-123\n\n");
    fs::create_dir_all(dir.join("empty")).unwrap();
    let s = Secrets::from_path(&dir).unwrap();
    // A subfolder becomes a table, whitespace stripped.
    assert_eq!(s["db"]["host"], "db.internal");
    assert_eq!(s["db"]["password"], "pw");
    // A subfolder with exactly one file collapses to that string.
    assert_eq!(s["api_key"], "sk-123");
    assert_eq!(s["empty"].as_table().unwrap().len(), 0);
    assert_eq!(s.sources(), [Source::Directory(dir.clone())]);

    // Mixed with files via the override; later wins.
    write(&d.cwd.join("base.toml"), "api_key = \"base\"\nother = 1\n");
    let s = d.load_with_files_env("base.toml k8s").unwrap();
    assert_eq!(s["api_key"], "sk-123");
    assert_eq!(s["other"], 1);

    // A plain file directly in the directory is an error.
    write(&dir.join("stray"), "x");
    let err = Secrets::from_path(&dir).unwrap_err();
    assert!(
        matches!(err, SecretsError::SecretsDirectory { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&dir.join("stray").display().to_string()),
        "{err}"
    );
}

#[test]
fn from_paths_and_from_str() {
    let d = dirs();
    write(&d.cwd.join("one.toml"), "a = 1\nb = 1\n");
    write(&d.cwd.join("two.toml"), "b = 2\n");
    let s = Secrets::from_paths([d.cwd.join("one.toml"), d.cwd.join("two.toml")]).unwrap();
    assert_eq!((s["a"].as_i64(), s["b"].as_i64()), (Some(1), Some(2)));
    let err = Secrets::from_paths([d.cwd.join("nope.toml")]).unwrap_err();
    assert!(matches!(err, SecretsError::NoSecrets { .. }), "{err}");

    let s: Secrets = "x = \"y\"".parse().unwrap();
    assert_eq!(s["x"], "y");
    let err = Secrets::from_str("x = ").unwrap_err().to_string();
    assert!(err.contains("(at line 1, column"), "{err}");
}
