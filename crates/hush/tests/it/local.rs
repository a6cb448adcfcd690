//! Local development commands on real git repositories (and, for pull/push, a real
//! `hush serve`): `hush init`, `hush check` (and its pre-commit hook), `hush pull`, `hush push`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common;

use common::{HUSH, Server, assert_failure};
const PASSWORD: &str = "correct-horse-battery";

/// A temporary home with a git repository in `repo/`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("home")).unwrap();
        fs::create_dir_all(dir.path().join("repo")).unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn env(&self, cmd: &mut Command) {
        // The hook finds `hush` on PATH first.
        let bin_dir = Path::new(HUSH).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.current_dir(self.root())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("home/.config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .stdin(Stdio::null());
    }

    fn git(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("git");
        self.env(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        out
    }

    fn git_may_fail(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("git");
        self.env(&mut cmd);
        cmd.args(args).output().unwrap()
    }

    fn hush(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(HUSH);
        self.env(&mut cmd);
        cmd.args(args).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_creates_a_private_file_that_git_ignores() {
    let repo = Repo::new();
    let out = repo.hush(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = repo.path(".streamlit/secrets.toml");
    assert_eq!(mode(&file), 0o600);
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains("# db_username = \"Jane\"")
    );
    repo.git(&["check-ignore", "-q", ".streamlit/secrets.toml"]);

    // Running it again changes nothing and adds no second rule.
    let out = repo.hush(&["init"]);
    assert!(text(&out.stdout).contains("already exists"));
    let gitignore = fs::read_to_string(repo.path(".gitignore")).unwrap();
    assert_eq!(gitignore.matches(".streamlit/secrets.toml").count(), 1);

    // An existing rule that already covers it is respected.
    let other = Repo::new();
    other.write(".gitignore", "secrets.toml");
    other.hush(&["init"]);
    assert_eq!(
        fs::read_to_string(other.path(".gitignore")).unwrap(),
        "secrets.toml"
    );
}

/// A repository with an ignored secrets file and one harmless commit.
fn repo_with_secrets() -> Repo {
    let repo = Repo::new();
    repo.write(".gitignore", ".streamlit/secrets.toml\n");
    repo.write(
        ".streamlit/secrets.toml",
        "db_username = \"Jane\"\n[db_credentials]\npassword = \"12345qwerty\"\n",
    );
    repo.write("app.py", "import streamlit as st\n");
    repo.git(&["add", ".gitignore", "app.py"]);
    repo.git(&["commit", "-q", "-m", "start"]);
    repo
}

#[test]
fn check_passes_a_clean_repository() {
    let repo = repo_with_secrets();
    repo.write(
        "app.py",
        "import streamlit as st\nst.write(st.secrets.db_credentials.password)\n",
    );
    repo.git(&["add", "app.py"]);
    let out = repo.hush(&["check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn check_refuses_a_staged_secret_value_without_showing_it() {
    let repo = repo_with_secrets();
    repo.write("app.py", "PASSWORD = \"12345qwerty\"\n");
    repo.git(&["add", "app.py"]);
    let stderr = assert_failure(&repo.hush(&["check"]));
    assert!(stderr.contains("app.py (line 1)"), "{stderr}");
    assert!(stderr.contains("`db_credentials.password`"), "{stderr}");
    assert!(!stderr.contains("12345qwerty"), "{stderr}");
    // "Jane" is shorter than 6 characters: too common to flag.
    assert!(!stderr.contains("db_username"), "{stderr}");
}

#[test]
fn check_refuses_a_staged_copy_of_a_multi_line_value() {
    let repo = repo_with_secrets();
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\
               bKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";
    repo.write(
        ".streamlit/secrets.toml",
        &format!("[tls]\nkey = \"\"\"\n{pem}\"\"\"\n"),
    );
    repo.write("key.pem", pem);
    repo.git(&["add", "key.pem"]);
    let stderr = assert_failure(&repo.hush(&["check"]));
    assert!(stderr.contains("key.pem (line 2)"), "{stderr}");
    assert!(stderr.contains("`tls.key`"), "{stderr}");
    assert!(!stderr.contains("MIIE"), "{stderr}");
    // Once for the file, not once for each of its lines.
    assert_eq!(stderr.matches("`tls.key`").count(), 1, "{stderr}");
}

#[test]
fn a_secrets_file_that_is_not_utf8_is_refused_naming_its_line_and_column() {
    let repo = repo_with_secrets();
    // Saved as Latin-1: `é` is one byte (0xE9), at line 2, column 16.
    fs::write(
        repo.path(".streamlit/secrets.toml"),
        b"ok = \"fine\"\npassword = \"caf\xe9-Zq9secret\"\n",
    )
    .unwrap();
    // `hush check` cannot check the staged change against it: a failure, not a pass.
    let check = assert_failure(&repo.hush(&["check"]));
    let push = assert_failure(&repo.hush(&["push", "web", "--yes"]));
    for stderr in [check, push] {
        assert!(stderr.contains(".streamlit/secrets.toml"), "{stderr}");
        assert!(stderr.contains("not valid UTF-8"), "{stderr}");
        assert!(stderr.contains("(at line 2, column 16)"), "{stderr}");
        assert!(!stderr.contains("Zq9"), "{stderr}");
    }
}

#[test]
fn check_refuses_a_tracked_or_unignored_secrets_file() {
    let repo = repo_with_secrets();
    repo.git(&["add", "-f", ".streamlit/secrets.toml"]);
    let stderr = assert_failure(&repo.hush(&["check"]));
    assert!(
        stderr.contains(".streamlit/secrets.toml is tracked by git"),
        "{stderr}"
    );

    let repo = repo_with_secrets();
    repo.write("apps/web/.streamlit/secrets.toml", "token = \"abcdefgh\"\n");
    let stderr = assert_failure(&repo.hush(&["check"]));
    assert!(
        stderr.contains("apps/web/.streamlit/secrets.toml is not ignored"),
        "{stderr}"
    );
}

#[test]
fn the_pre_commit_hook_blocks_a_leaking_commit() {
    let repo = repo_with_secrets();
    let out = repo.hush(&["check", "--install-hook"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hook = repo.path(".git/hooks/pre-commit");
    assert_eq!(mode(&hook), 0o755);

    repo.write("config.py", "password = '12345qwerty'\n");
    repo.git(&["add", "config.py"]);
    let commit = repo.git_may_fail(&["commit", "-q", "-m", "leak"]);
    assert!(!commit.status.success(), "the hook let the commit through");
    assert!(text(&commit.stderr).contains("config.py (line 1)"));

    repo.write(
        "config.py",
        "import os\npassword = os.environ['db_password']\n",
    );
    repo.git(&["add", "config.py"]);
    repo.git(&["commit", "-q", "-m", "fine"]);

    // Installing again is a no-op; someone else's hook is not overwritten without --force.
    assert!(repo.hush(&["check", "--install-hook"]).status.success());
    fs::write(&hook, "#!/bin/sh\nexec lint-staged\n").unwrap();
    assert!(assert_failure(&repo.hush(&["check", "--install-hook"])).contains("--force"));
    assert_eq!(
        fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\nexec lint-staged\n"
    );
    let out = repo.hush(&["check", "--install-hook", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::read_to_string(&hook).unwrap().contains("hush check"));
}

// ---- pull / push against a real server ----

fn start_server(data: &Path) -> Server {
    fs::create_dir_all(data).unwrap();
    common::create_owner(
        [std::ffi::OsStr::new("--data-dir"), data.as_os_str()],
        &[],
        PASSWORD,
    );
    Server::on_data_dir(data, 0)
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_and_push_round_trip_with_a_key_level_diff() {
    let repo = Repo::new();
    let server = start_server(&repo.dir.path().join("data"));
    let (owner, token) = common::sign_in_owner(&server.url, PASSWORD).await;
    let v1 = "db_username = \"Jane\"\ndb_password = \"12345qwerty\"\n";
    owner.create_app("demo", Some(v1), None).await.unwrap();
    let hush = |args: &[&str]| {
        let mut cmd = Command::new(HUSH);
        repo.env(&mut cmd);
        cmd.env("HUSH_SERVER", &server.url)
            .env("HUSH_TOKEN", &token)
            .args(args)
            .output()
            .unwrap()
    };

    let out = hush(&["pull", "demo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = repo.path(".streamlit/secrets.toml");
    assert_eq!(fs::read_to_string(&file).unwrap(), v1);
    assert_eq!(mode(&file), 0o600);
    repo.git(&["check-ignore", "-q", ".streamlit/secrets.toml"]);

    // A different local file is not overwritten without --yes (no terminal to ask on).
    fs::write(&file, "db_username = \"Local\"\n").unwrap();
    assert!(assert_failure(&hush(&["pull", "demo"])).contains("--yes"));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "db_username = \"Local\"\n"
    );
    let out = hush(&["pull", "demo", "--yes"]);
    assert!(out.status.success());
    assert_eq!(fs::read_to_string(&file).unwrap(), v1);

    // Push: names only in the diff, never values.
    let v2 = "db_username = \"Joan\"\n[db_credentials]\nusername = \"joan\"\n";
    fs::write(&file, v2).unwrap();
    let out = hush(&["push", "demo"]);
    assert!(!out.status.success(), "asks first");
    let out = hush(&["push", "demo", "--yes", "--message", "rename"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("Changes against version 1"), "{stdout}");
    assert!(stdout.contains("+ db_credentials.username"), "{stdout}");
    assert!(stdout.contains("- db_password"), "{stdout}");
    assert!(stdout.contains("~ db_username"), "{stdout}");
    assert!(
        !stdout.contains("Joan") && !stdout.contains("12345qwerty"),
        "{stdout}"
    );
    let latest = owner.secrets("demo").await.unwrap();
    assert_eq!((latest.version, latest.toml.as_str()), (2, v2));

    let out = hush(&["push", "demo", "--yes"]);
    assert!(text(&out.stdout).contains("Nothing to push"));
    assert_eq!(owner.secrets("demo").await.unwrap().version, 2);
}
