//! The client commands (`hush login`, `apps`, `secrets`, `tokens`, `members`, `audit`) against a
//! real `hush serve`: the built binary on a free port with a temporary data directory. Every CLI
//! run gets its own HOME and XDG_CONFIG_HOME, so the login file lands in the test's directory.
//! Changes made "by someone else" go through hush's own client. Nothing sleeps.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hush_client::api::Client;
use serde_json::Value;

mod common;

use common::{HUSH, Server};
const PASSWORD: &str = "correct-horse-battery";

/// One test's world: a temp dir (data, home, tmp), a server with the owner olivia, and a
/// client signed in as her for changes made behind the CLI's back.
struct World {
    dir: tempfile::TempDir,
    server: Server,
    olivia: Client,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["data", "home", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let data = dir.path().join("data");
        common::create_owner([OsStr::new("--data-dir"), data.as_os_str()], &[], PASSWORD);
        let server = Server::on_data_dir(&data, 0);
        let anonymous = Client::new(&server.url, None).unwrap();
        let token = anonymous
            .login("olivia", PASSWORD, "tests")
            .await
            .unwrap()
            .token;
        World {
            olivia: anonymous.with_token(token),
            dir,
            server,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn login_file(&self) -> PathBuf {
        self.home().join(".config/hush/login.json")
    }

    /// A `hush` command with this world's home and temp dir, and no credentials from outside.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(HUSH);
        cmd.args(args)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("TMPDIR", self.path("tmp"))
            .env_remove("HUSH_SERVER")
            .env_remove("HUSH_TOKEN")
            .env_remove("HUSH_PASSWORD")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hush {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "hush {args:?} should have failed; stdout:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn login(&self) {
        let out = self
            .cmd(&["login", "--server", &self.server.url, "--name", "olivia"])
            .env("HUSH_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// An executable shell script (an $EDITOR stand-in).
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.write(name, &format!("#!/bin/sh\nset -e\n{body}\n"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The copies `hush secrets edit` left in ~/.cache/hush/edits.
    fn edit_copies(&self) -> Vec<PathBuf> {
        match fs::read_dir(self.home().join(".cache/hush/edits")) {
            Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn latest(&self, app: &str) -> (i64, String) {
        let s = self.olivia.secrets(app).await.unwrap();
        (s.version, s.toml)
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

const FIRST: &str = "# Settings for web\nAPI_KEY = \"sk-first\" # rotate monthly\nNAME = \"Jane\"\nPORT = 8080\n\n# database\n[db]\nhost = \"db.internal\"\npassword = \"p@ss\"\n";

#[tokio::test]
async fn login_writes_a_private_file_and_logout_revokes_its_token() {
    let w = World::new().await;
    // Not signed in yet: a clear error, no crash.
    let err = w.fails(&["apps", "list"]);
    assert!(err.contains("hush login"), "{err}");

    // The password from stdin when HUSH_PASSWORD is not set (stdin is not a terminal).
    let mut child = w
        .cmd(&["login", "--server", &w.server.url, "--name", "olivia"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&w.login_file().display().to_string()),
        "{stdout}"
    );
    assert_eq!(mode(&w.login_file()), 0o600);
    let login: Value = serde_json::from_str(&fs::read_to_string(w.login_file()).unwrap()).unwrap();
    assert_eq!(login["server"], w.server.url.as_str());
    let token = login["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("hush_pat_"));

    // A wrong password: refused, the file stays as it was.
    let out = w
        .cmd(&["login", "--server", &w.server.url, "--name", "olivia"])
        .env("HUSH_PASSWORD", "wrong-password-here")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("wrong name or password"), "{err}");
    assert!(!err.contains("wrong-password-here"));

    // The saved token works, and logout revokes it on the server.
    assert!(w.ok(&["apps", "list"]).contains("No apps yet"));
    let out = w.ok(&["logout"]);
    assert!(out.contains("Signed out"), "{out}");
    assert!(!w.login_file().exists());
    let err = w
        .olivia
        .with_token(token)
        .apps()
        .await
        .expect_err("the logged-out token must be revoked");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn apps_and_secrets_in_every_format() {
    let w = World::new().await;
    w.login();
    let first = w.write("first.toml", FIRST);
    let out = w.ok(&[
        "apps",
        "create",
        "web",
        "--secrets-file",
        first.to_str().unwrap(),
    ]);
    assert!(out.contains("version 1"), "{out}");
    let list = w.ok(&["apps", "list"]);
    let row = list.lines().find(|l| l.starts_with("web ")).expect(&list);
    assert!(row.contains(" 1 ") && row.contains("olivia"), "{row}");
    let json: Value = serde_json::from_str(&w.ok(&["apps", "list", "--json"])).unwrap();
    assert_eq!(json["apps"][0]["latest_version"], 1);

    // A bad secrets file: refused with the place, no app left behind.
    let bad = w.write("bad.toml", "OK = 1\nBROKEN = \"no end\n");
    let err = w.fails(&[
        "apps",
        "create",
        "broken",
        "--secrets-file",
        bad.to_str().unwrap(),
    ]);
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");
    assert!(
        !err.contains("no end"),
        "an error must not quote the document: {err}"
    );
    assert_eq!(w.olivia.apps().await.unwrap().len(), 1);

    // get: TOML as written, JSON with real integers, env shell-quoted, one key.
    assert_eq!(w.ok(&["secrets", "get", "web"]), FIRST);
    let json: Value =
        serde_json::from_str(&w.ok(&["secrets", "get", "web", "--format", "json"])).unwrap();
    assert_eq!(json["PORT"], 8080);
    assert_eq!(json["db"]["password"], "p@ss");
    let env = w.run(&["secrets", "get", "web", "--format", "env"]);
    assert_eq!(
        String::from_utf8(env.stdout).unwrap(),
        "API_KEY='sk-first'\nNAME='Jane'\nPORT='8080'\n"
    );
    assert!(String::from_utf8(env.stderr).unwrap().contains("db"));
    assert_eq!(
        w.ok(&["secrets", "get", "web", "--key", "db.password"]),
        "p@ss\n"
    );
    let err = w.fails(&["secrets", "get", "web", "--key", "db.nope"]);
    assert!(err.contains("db.nope"), "{err}");

    // set: replaces one line's value (its comment stays), adds a key, one new version.
    let out = w.ok(&[
        "secrets",
        "set",
        "web",
        "API_KEY=sk-it's \"new\"",
        "EXTRA=x y",
        "-m",
        "rotate",
    ]);
    assert!(out.contains("Saved version 2"), "{out}");
    assert!(
        out.contains("+ EXTRA") && out.contains("~ API_KEY"),
        "{out}"
    );
    let (version, text) = w.latest("web").await;
    assert_eq!(version, 2);
    assert!(text.starts_with("# Settings for web\nAPI_KEY = "), "{text}");
    assert!(text.contains("# rotate monthly\nNAME = \"Jane\""), "{text}");
    assert!(text.contains("# database\n[db]"), "{text}");
    assert_eq!(
        w.ok(&["secrets", "get", "web", "--key", "API_KEY"]),
        "sk-it's \"new\"\n"
    );
    // A table cannot be set; nothing is saved.
    let err = w.fails(&["secrets", "set", "web", "db=x"]);
    assert!(err.contains("hush secrets edit"), "{err}");
    assert_eq!(w.latest("web").await.0, 2);

    // export env to a private file that a shell reads back exactly.
    let envfile = w.path("out.env");
    w.ok(&["secrets", "export", "web", "-o", envfile.to_str().unwrap()]);
    assert_eq!(mode(&envfile), 0o600);
    let echoed = Command::new("sh")
        .arg("-c")
        .arg(". \"$1\"; printf '%s|%s|%s' \"$API_KEY\" \"$EXTRA\" \"$PORT\"")
        .arg("sh")
        .arg(&envfile)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(echoed.stdout).unwrap(),
        "sk-it's \"new\"|x y|8080"
    );
    let err = w.fails(&["secrets", "export", "web", "-o", envfile.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");
    let jsonfile = w.path("out.json");
    w.ok(&["secrets", "export", "web", "-o", jsonfile.to_str().unwrap()]);
    let exported: Value = serde_json::from_str(&fs::read_to_string(&jsonfile).unwrap()).unwrap();
    assert_eq!(exported["PORT"], 8080);

    // import JSON: nested objects become tables, the whole document is replaced.
    let imported = w.write(
        "new.json",
        r#"{"TOKEN": "t-1", "RETRIES": 3, "db": {"host": "h", "port": 5432}}"#,
    );
    let out = w.ok(&[
        "secrets",
        "import",
        "web",
        imported.to_str().unwrap(),
        "-m",
        "from json",
    ]);
    assert!(out.contains("Saved version 3"), "{out}");
    let json: Value =
        serde_json::from_str(&w.ok(&["secrets", "get", "web", "--format", "json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"TOKEN": "t-1", "RETRIES": 3, "db": {"host": "h", "port": 5432}})
    );

    // import .env: root-level strings, quotes and comments understood, nothing expanded.
    let dotenv = w.write(
        "prod.env",
        "# production\nexport DATABASE_URL=postgres://u@h/db\nSECRET='a $HOME b'\nGREETING=\"hi\\nthere\" # two lines\n",
    );
    w.ok(&["secrets", "import", "web", dotenv.to_str().unwrap()]);
    let env = w.ok(&["secrets", "get", "web", "--format", "env"]);
    assert_eq!(
        env,
        "DATABASE_URL='postgres://u@h/db'\nSECRET='a $HOME b'\nGREETING='hi\nthere'\n"
    );

    // history, diff, rollback.
    let history = w.ok(&["secrets", "history", "web"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("VERSION"), "{history}");
    assert!(
        lines[1].starts_with("4 ") && lines[4].starts_with("1 "),
        "{history}"
    );
    assert!(
        lines[2].contains("from json") && lines[3].contains("rotate"),
        "{history}"
    );
    let diff = w.ok(&["secrets", "diff", "web", "1", "2"]);
    assert!(
        diff.contains("+ EXTRA") && diff.contains("~ API_KEY"),
        "{diff}"
    );
    assert!(!diff.contains("sk-"), "a diff shows names only: {diff}");
    let out = w.ok(&["secrets", "rollback", "web", "1"]);
    assert!(
        out.contains("Saved version 5") && out.contains("version 1"),
        "{out}"
    );
    assert_eq!(w.latest("web").await, (5, FIRST.to_string()));

    // delete asks for the app's name; a wrong answer deletes nothing.
    let err = w.fails(&["apps", "delete", "web"]);
    assert!(err.contains("not deleted"), "{err}");
    w.ok(&["apps", "delete", "web", "--yes"]);
    assert!(w.olivia.apps().await.unwrap().is_empty());
}

#[tokio::test]
async fn edit_saves_checked_changes_and_never_loses_an_edit() {
    let w = World::new().await;
    w.login();
    w.olivia.create_app("web", Some(FIRST), None).await.unwrap();

    // An editor that changes one value: a new version, the temp file is gone.
    let sed = w.script("rename.sh", "sed -i 's/Jane/John/' \"$1\"");
    let out = w
        .cmd(&["secrets", "edit", "web", "-m", "rename"])
        .env("EDITOR", &sed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("~ NAME") && stdout.contains("Saved version 2"),
        "{stdout}"
    );
    assert_eq!(w.latest("web").await, (2, FIRST.replace("Jane", "John")));
    assert_eq!(fs::read_dir(w.path("tmp")).unwrap().count(), 0);

    // An editor that saves nothing new: nothing is saved.
    let noop = w.script("noop.sh", "true");
    let out = w
        .cmd(&["secrets", "edit", "web"])
        .env("VISUAL", &noop)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("No changes")
    );
    assert_eq!(w.latest("web").await.0, 2);

    // Invalid TOML with no terminal to ask on: fails with the place, nothing saved, and the
    // plaintext copy is gone.
    let broken = w.script(
        "broken.sh",
        "printf 'GOOD = 1\\nBAD = \"unclosed\\n' > \"$1\"",
    );
    let out = w
        .cmd(&["secrets", "edit", "web"])
        .env("EDITOR", &broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("at line 2, column ") && err.contains("nothing was saved"),
        "{err}"
    );
    assert_eq!(err.matches("line 2").count(), 1, "said once: {err}");
    assert!(
        !err.contains("unclosed"),
        "an error must not quote the document: {err}"
    );
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());
    assert_eq!(w.latest("web").await.0, 2);

    // Someone saves while the editor is open: a conflict naming them, no copy left.
    let meanwhile = w.script(
        "meanwhile.sh",
        "\"$HUSH_BIN\" secrets set web NAME=Meanwhile >/dev/null\nsed -i 's/8080/9090/' \"$1\"",
    );
    let out = w
        .cmd(&["secrets", "edit", "web"])
        .env("EDITOR", &meanwhile)
        .env("HUSH_BIN", HUSH)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("version 3 by olivia") && err.contains("nothing was saved"),
        "{err}"
    );
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());
    let (version, text) = w.latest("web").await;
    assert_eq!(version, 3);
    assert!(
        text.contains("NAME = \"Meanwhile\"") && text.contains("PORT = 8080"),
        "{text}"
    );

    // An editor that fails, or is not there: said in words, nothing saved, no copy left.
    let fails = w.script("fails.sh", "exit 3");
    for (editor, words) in [
        (fails.to_str().unwrap(), "exited with code 3"),
        ("no-such-editor-here", "was not found; set VISUAL or EDITOR"),
    ] {
        let out = w
            .cmd(&["secrets", "edit", "web"])
            .env("EDITOR", editor)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(words) && err.contains("nothing was saved"),
            "{err}"
        );
        assert!(!err.contains("exit status"), "{err}");
        assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());
    }
    assert_eq!(w.latest("web").await.0, 3);
}

#[tokio::test]
async fn a_stale_set_is_refused_and_names_who_saved() {
    let w = World::new().await;
    w.login();
    w.olivia.create_app("web", Some(FIRST), None).await.unwrap();
    // Someone saves version 2 through the API while this person still works from version 1.
    w.olivia
        .save_secrets("web", &FIRST.replace("Jane", "Ann"), 1, Some("theirs"))
        .await
        .unwrap();
    let err = w.fails(&["secrets", "set", "web", "--base-version", "1", "NAME=Mine"]);
    assert!(err.contains("version 2 by olivia"), "{err}");
    assert!(err.contains("nothing was saved"), "{err}");
    let (version, text) = w.latest("web").await;
    assert_eq!(version, 2);
    assert!(text.contains("NAME = \"Ann\""), "{text}");
    // On top of the newest version, the same change goes through.
    w.ok(&["secrets", "set", "web", "--base-version", "2", "NAME=Mine"]);
    assert!(w.latest("web").await.1.contains("NAME = \"Mine\""));

    // import --merge sets a .env file's keys and keeps everything else as written.
    let dotenv = w.write("more.env", "NAME=Merged\nNEW_ONE=1\n");
    let out = w.ok(&[
        "secrets",
        "import",
        "web",
        dotenv.to_str().unwrap(),
        "--merge",
    ]);
    assert!(
        out.contains("+ NEW_ONE") && out.contains("~ NAME") && !out.contains("- "),
        "{out}"
    );
    let (version, text) = w.latest("web").await;
    assert_eq!(version, 4);
    assert!(
        text.contains("# rotate monthly\nNAME = \"Merged\"\nPORT = 8080\nNEW_ONE = \"1\""),
        "{text}"
    );
    assert!(text.contains("# database\n[db]\nhost"), "{text}");
    let json = w.write("x.json", "{}");
    let err = w.fails(&[
        "secrets",
        "import",
        "web",
        json.to_str().unwrap(),
        "--merge",
    ]);
    assert!(err.contains("--merge works with .env files"), "{err}");
}

#[tokio::test]
async fn tokens_members_and_audit() {
    let w = World::new().await;
    w.login();
    w.olivia.create_app("web", Some(FIRST), None).await.unwrap();

    // An app token: printed once on stdout, with the run command on stderr.
    let out = w.run(&["tokens", "create", "--app", "web", "--name", "prod"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("hush_app_"), "{token}");
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(note.contains("hush run --app web"), "{note}");

    // It reads the app's secrets through HUSH_TOKEN (the server from the login file).
    let read = |token: &str| {
        w.cmd(&["secrets", "get", "web", "--key", "NAME"])
            .env("HUSH_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = read(&token);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Jane\n");

    let list = w.ok(&["tokens", "list", "--app", "web"]);
    let row = list.lines().find(|l| l.contains("prod")).expect(&list);
    assert!(
        row.contains("active") && row.contains(&token[..13]),
        "{row}"
    );
    assert!(!list.contains(&token), "a list never shows whole tokens");
    let json: Value =
        serde_json::from_str(&w.ok(&["tokens", "list", "--app", "web", "--json"])).unwrap();
    let id = json["tokens"][0]["id"].as_i64().unwrap();

    w.ok(&["tokens", "revoke", &id.to_string()]);
    let out = read(&token);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{} says this token was revoked", w.server.url))
            && err.contains("HUSH_TOKEN"),
        "{err}"
    );
    assert!(!err.contains(&token));
    assert!(
        w.ok(&["tokens", "list", "--app", "web"])
            .contains("revoked")
    );

    // A personal token acts as its owner.
    let personal = w
        .ok(&["tokens", "create", "--personal", "--name", "ci"])
        .trim()
        .to_string();
    assert!(personal.starts_with("hush_pat_"));
    let out = w
        .cmd(&["apps", "list"])
        .env("HUSH_TOKEN", &personal)
        .output()
        .unwrap();
    assert!(out.status.success());

    // Members: invite, join through the link, change the role.
    let url = w
        .ok(&["members", "invite", "--role", "editor"])
        .trim()
        .to_string();
    let invite = url.split('#').nth(1).expect(&url);
    Client::new(&w.server.url, None)
        .unwrap()
        .accept_invite(invite, "eddie", "another-long-password")
        .await
        .unwrap();
    let members = w.ok(&["members", "list"]);
    assert!(
        members
            .lines()
            .any(|l| l.contains("eddie") && l.contains("editor")),
        "{members}"
    );
    assert!(
        w.ok(&["members", "role", "eddie", "viewer"])
            .contains("eddie is now viewer")
    );
    let json: Value = serde_json::from_str(&w.ok(&["members", "list", "--json"])).unwrap();
    let eddie = json["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "eddie")
        .unwrap();
    assert_eq!(eddie["role"], "viewer");
    w.ok(&["members", "remove", &eddie["id"].to_string(), "--yes"]);
    assert!(!w.ok(&["members", "list"]).contains("eddie"));

    // Audit: JSON lines that parse, filters applied by the server.
    let jsonl = w.ok(&["audit", "--jsonl"]);
    let events: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for action in [
        "token.create",
        "token.revoke",
        "member.role",
        "member.remove",
        "secrets.read",
    ] {
        assert!(
            events.iter().any(|e| e["action"] == action),
            "no {action} in {jsonl}"
        );
    }
    assert!(!jsonl.contains(&token) && !jsonl.contains("Jane"));
    let tokens_only = w.ok(&[
        "audit", "--jsonl", "--action", "token.", "--app", "web", "--since", "1h",
    ]);
    let filtered: Vec<Value> = tokens_only
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(filtered.len(), 2, "{tokens_only}");
    assert!(filtered.iter().all(|e| e["app_name"] == "web"));
    let table = w.ok(&["audit", "--actor", "olivia", "--limit", "5"]);
    assert!(
        table.starts_with("TIME ") && table.lines().count() == 6,
        "{table}"
    );
    let err = w.fails(&["audit", "--since", "last tuesday"]);
    assert!(err.contains("--since"), "{err}");
}
