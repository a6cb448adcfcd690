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

use crate::common;

use common::{HUSH, Server, assert_failure};
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
        World::start(true).await
    }

    /// With `owner` false, the server has no member yet and `olivia` is an anonymous client.
    async fn start(owner: bool) -> World {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["data", "home", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let data = dir.path().join("data");
        if owner {
            common::create_owner([OsStr::new("--data-dir"), data.as_os_str()], &[], PASSWORD);
        }
        let server = Server::on_data_dir(&data, 0);
        let olivia = if owner {
            common::sign_in_owner(&server.url, PASSWORD).await.0
        } else {
            Client::new(&server.url, None).unwrap()
        };
        World {
            olivia,
            dir,
            server,
        }
    }

    /// A world with the CLI signed in as olivia and the app "web" holding `secrets`.
    async fn with_web(secrets: &str) -> World {
        let w = World::new().await;
        w.login();
        w.olivia
            .create_app("web", Some(secrets), None)
            .await
            .unwrap();
        w
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
        cmd.args(args);
        self.isolate(&mut cmd);
        cmd
    }

    /// This world's home and temp dir for `cmd`, and nothing from the test's environment
    /// that would change what hush does.
    fn isolate(&self, cmd: &mut Command) {
        cmd.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("TMPDIR", self.path("tmp"))
            .env_remove("HUSH_SERVER")
            .env_remove("HUSH_TOKEN")
            .env_remove("HUSH_PASSWORD")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(self.run(args))
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        assert_failure(&self.run(args))
    }

    fn login(&self) {
        succeeded(
            self.cmd(&["login", "--server", &self.server.url, "--name", "olivia"])
                .env("HUSH_PASSWORD", PASSWORD)
                .output()
                .unwrap(),
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

    /// `hush secrets edit web` with `editor`, which must fail saying `words` and that nothing
    /// was saved, and leave no copy behind; its stderr. The editor finds this hush as $HUSH_BIN.
    #[track_caller]
    fn edit_fails(&self, editor: impl AsRef<OsStr>, words: &str) -> String {
        let err = assert_failure(
            &self
                .cmd(&["secrets", "edit", "web"])
                .env("EDITOR", editor)
                .env("HUSH_BIN", HUSH)
                .output()
                .unwrap(),
        );
        assert!(
            err.contains(words) && err.contains("nothing was saved"),
            "{err}"
        );
        assert_eq!(self.edit_copies(), Vec::<PathBuf>::new());
        err
    }

    /// What `hush secrets edit` left in ~/.cache/hush/edits (copies and their lock files).
    fn edit_copies(&self) -> Vec<PathBuf> {
        files_in(&self.home().join(".cache/hush/edits"))
    }

    async fn latest(&self, app: &str) -> (i64, String) {
        let s = self.olivia.secrets(app).await.unwrap();
        (s.version, s.toml)
    }
}

/// What `script` prints after a POSIX shell has read the .env file `file` (`. file`).
fn sourced(file: &Path, script: &str) -> String {
    succeeded(
        Command::new("sh")
            .arg("-c")
            .arg(format!(". \"$1\" && {script}"))
            .arg("sh")
            .arg(file)
            .output()
            .unwrap(),
    )
}

/// The stdout of a command that must have succeeded (its stderr in the failure).
fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The paths in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
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
    common::assert_success(&out);
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
    let err = assert_failure(&out);
    assert!(err.contains("wrong name or password"), "{err}");
    assert!(!err.contains("wrong-password-here"));

    // Signing in again replaces the token of the last sign-in instead of piling up another.
    w.login();
    let again: Value = serde_json::from_str(&fs::read_to_string(w.login_file()).unwrap()).unwrap();
    let old = token;
    let token = again["token"].as_str().unwrap().to_string();
    assert_ne!(token, old);
    let err = w.olivia.with_token(old).me().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "the replaced token was revoked");
    let logins = w
        .olivia
        .tokens(None)
        .await
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("hush login"))
        .count();
    assert_eq!(logins, 1);

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
    assert_eq!(
        sourced(
            &envfile,
            "printf '%s|%s|%s' \"$API_KEY\" \"$EXTRA\" \"$PORT\""
        ),
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
    let w = World::with_web(FIRST).await;

    // An editor that changes one value (and leaves a backup beside it, as some do): a new
    // version, and neither the copy nor the backup is left.
    let sed = w.script(
        "rename.sh",
        "cp \"$1\" \"$1~\"\nsed -i 's/Jane/John/' \"$1\"",
    );
    let out = w
        .cmd(&["secrets", "edit", "web", "-m", "rename"])
        .env("EDITOR", &sed)
        .output()
        .unwrap();
    common::assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("~ NAME") && stdout.contains("Saved version 2"),
        "{stdout}"
    );
    assert_eq!(w.latest("web").await, (2, FIRST.replace("Jane", "John")));
    assert_eq!(fs::read_dir(w.path("tmp")).unwrap().count(), 0);
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());

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
    let err = w.edit_fails(&broken, "at line 2, column ");
    assert_eq!(err.matches("line 2").count(), 1, "said once: {err}");
    assert!(
        !err.contains("unclosed"),
        "an error must not quote the document: {err}"
    );
    assert_eq!(w.latest("web").await.0, 2);

    // Someone saves while the editor is open: a conflict naming them, no copy left.
    let meanwhile = w.script(
        "meanwhile.sh",
        "\"$HUSH_BIN\" secrets set web NAME=Meanwhile >/dev/null\nsed -i 's/8080/9090/' \"$1\"",
    );
    w.edit_fails(&meanwhile, "version 3 by olivia");
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
        let err = w.edit_fails(editor, words);
        assert!(!err.contains("exit status"), "{err}");
    }
    assert_eq!(w.latest("web").await.0, 3);
}

#[tokio::test]
async fn a_stale_set_is_refused_and_names_who_saved() {
    let w = World::with_web(FIRST).await;
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
    let w = World::with_web(FIRST).await;

    // An app token: printed once on stdout, with the run command on stderr.
    let out = w.run(&["tokens", "create", "--app", "web", "--name", "prod"]);
    common::assert_success(&out);
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
    common::assert_success(&out);
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
    let err = assert_failure(&out);
    assert!(
        err.contains(&format!("{} says this token was revoked", w.server.url))
            && err.contains("HUSH_TOKEN"),
        "{err}"
    );
    assert!(!err.contains(&token));
    // A revoked token leaves the list.
    assert!(
        !w.ok(&["tokens", "list", "--app", "web"])
            .contains(&token[..13])
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

    // Invitations: listed with who made them, revoked, and then the link is dead.
    let url = w
        .ok(&["members", "invite", "--role", "viewer"])
        .trim()
        .to_string();
    let pending = w.ok(&["members", "invites"]);
    let row = pending
        .lines()
        .find(|l| l.contains("viewer"))
        .expect(&pending);
    assert!(row.contains("olivia"), "{pending}");
    assert!(
        !pending.contains(url.split('#').nth(1).unwrap()),
        "never the link"
    );
    let json: Value = serde_json::from_str(&w.ok(&["members", "invites", "--json"])).unwrap();
    let invite_id = json["invites"][0]["id"].as_i64().unwrap();
    assert!(
        w.ok(&["members", "revoke-invite", &invite_id.to_string()])
            .contains("no longer works")
    );
    let dead = Client::new(&w.server.url, None)
        .unwrap()
        .accept_invite(
            url.split('#').nth(1).unwrap(),
            "mallory",
            "another-long-password",
        )
        .await;
    assert_eq!(dead.unwrap_err().status(), Some(404));
    assert!(!w.ok(&["members", "invites"]).contains("viewer"));
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
    // A role on one app: editor on web, hidden from another; `default` gives the workspace
    // role back.
    let eddie_client = Client::new(&w.server.url, None)
        .unwrap()
        .login("eddie", "another-long-password", "tests")
        .await
        .unwrap();
    let eddie_client = w.olivia.with_token(eddie_client.token);
    w.olivia
        .create_app("billing", Some(FIRST), None)
        .await
        .unwrap();
    assert!(
        w.ok(&["members", "role", "eddie", "editor", "--app", "web"])
            .contains("eddie is now editor on web")
    );
    assert!(
        w.ok(&["members", "role", "eddie", "none", "--app", "billing"])
            .contains("no longer sees billing")
    );
    let roles = w.ok(&["members", "app-roles", "eddie"]);
    assert!(
        roles
            .lines()
            .any(|l| l.contains("web") && l.contains("editor"))
            && roles
                .lines()
                .any(|l| l.contains("billing") && l.contains("none")),
        "{roles}"
    );
    let apps = eddie_client.apps().await.unwrap();
    assert_eq!(apps.len(), 1, "billing is hidden: {apps:?}");
    let version = w.latest("web").await.0;
    eddie_client
        .save_secrets("web", FIRST, version, None)
        .await
        .unwrap();
    let err = w.fails(&["members", "role", "eddie", "owner", "--app", "web"]);
    assert!(err.contains("none, viewer, editor or default"), "{err}");
    w.ok(&["members", "role", "eddie", "default", "--app", "web"]);
    assert_eq!(
        eddie_client
            .save_secrets("web", "x = 1\n", version + 1, None)
            .await
            .unwrap_err()
            .status(),
        Some(403),
        "back to viewer on web"
    );
    w.ok(&["members", "remove", &eddie["id"].to_string(), "--yes"]);
    assert!(!w.ok(&["members", "list"]).contains("eddie"));

    // Audit: JSON lines that parse, filters applied by the server. Reads are written within
    // about a second (they are gathered and folded).
    let mut jsonl = w.ok(&["audit", "--jsonl"]);
    for _ in 0..50 {
        if jsonl.contains("secrets.read") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        jsonl = w.ok(&["audit", "--jsonl"]);
    }
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

/// An address where nothing listens: a port the system handed out, then let go.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Fails when `text` holds anything that could drive a terminal: a control character other
/// than a newline, or a character that reorders or hides text.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{text}");
}

#[tokio::test]
async fn first_run_sign_in_says_no_owner_exists_and_how_to_create_one() {
    let w = World::start(false).await;
    let out = w
        .cmd(&["login", "--server", &w.server.url, "--name", "olivia"])
        .env("HUSH_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(
        err.contains(&w.server.url)
            && err.contains("no members yet")
            && err.contains("setup link")
            && err.contains("hush admin create-owner"),
        "{err}"
    );
    for internal in ["no_owner", "HTTP 401", "wrong name or password"] {
        assert!(!err.contains(internal), "{err}");
    }
    assert!(!w.login_file().exists());
}

#[tokio::test]
async fn errors_say_what_failed_where_and_what_to_do() {
    let w = World::with_web(FIRST).await;
    let host_port = w.server.url.trim_start_matches("http://").to_string();

    // A server given without http://: how to write it, not "builder error".
    let err = w.fails(&["login", "--server", &host_port, "--name", "olivia"]);
    assert!(err.contains(&format!("e.g. http://{host_port}")), "{err}");
    assert!(!err.contains("builder"), "{err}");

    // Nothing listens at the given address: which address, what happened, what to check.
    let closed = closed_port_url();
    let out = w
        .cmd(&["apps", "list"])
        .env("HUSH_SERVER", &closed)
        .env("HUSH_TOKEN", "hush_pat_unused")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{closed} refused the connection"))
            && err.contains("HUSH_SERVER")
            && err.contains("hush serve"),
        "{err}"
    );
    assert!(
        !err.contains("error sending request") && !err.contains("os error"),
        "{err}"
    );

    // The server signed in to is gone: the message says the address came from the sign-in.
    let saved = fs::read_to_string(w.login_file()).unwrap();
    fs::write(w.login_file(), saved.replace(&w.server.url, &closed)).unwrap();
    let err = w.fails(&["apps", "list"]);
    assert!(
        err.contains(&closed) && err.contains("the server you signed in to"),
        "{err}"
    );
    fs::write(w.login_file(), &saved).unwrap();

    // Something else answers there (not hush): said so, not a bare "HTTP 404".
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_url = format!("http://{}", other.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::Read;
        for stream in other.incoming() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot here\n",
            );
        }
    });
    let out = w
        .cmd(&["login", "--server", &other_url, "--name", "olivia"])
        .env("HUSH_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{other_url} answered HTTP 404 Not Found"))
            && err.contains("is a hush server"),
        "{err}"
    );

    // A token this server does not know, with no HUSH_SERVER: names the server tried and
    // that HUSH_SERVER chooses another (the README's `hush run` line without HUSH_SERVER).
    let err = {
        let out = w
            .cmd(&["secrets", "get", "web"])
            .env("HUSH_TOKEN", "hush_app_from_another_server")
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(
        err.contains(&format!("{} does not know this token", w.server.url))
            && err.contains("set HUSH_SERVER"),
        "{err}"
    );
    assert!(!err.contains("Authorization: Bearer"), "{err}");

    // A saved sign-in whose token was revoked: sign in again, to that server.
    let login: Value = serde_json::from_str(&saved).unwrap();
    let prefix: String = login["token"].as_str().unwrap().chars().take(13).collect();
    let tokens = w.olivia.tokens(None).await.unwrap();
    let id = tokens
        .iter()
        .find(|t| t["prefix"] == prefix.as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    w.olivia.revoke_token(id).await.unwrap();
    let err = w.fails(&["apps", "list"]);
    assert!(
        err.contains(&format!(
            "sign in again with `hush login --server {}`",
            w.server.url
        )),
        "{err}"
    );
    w.login();

    // A missing file: its name and what is wrong, without the OS error code.
    let err = w.fails(&["secrets", "import", "web", "/nonexistent/secrets.toml"]);
    assert!(
        err.contains("cannot read /nonexistent/secrets.toml: No such file or directory"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");

    // A TOML error: file, line and column and what to do, said once.
    let bad = w.write("bad.toml", "OK = 1\nNAME = Jane\n");
    let err = w.fails(&["secrets", "import", "web", bad.to_str().unwrap()]);
    assert!(
        err.contains(
            "bad.toml: not valid TOML 1.0 at line 2, column 8: a value is missing or not quoted"
        ),
        "{err}"
    );
    assert_eq!(err.matches("line 2").count(), 1, "{err}");
    assert!(
        !err.contains("expected `") && !err.contains("Jane"),
        "{err}"
    );
    assert_eq!(w.latest("web").await.0, 1);
}

#[tokio::test]
async fn exports_hold_only_what_their_format_can_read() {
    let w = World::with_web("A = \"1\"\n").await;

    // Accepted, with a note on what the app will and will not get.
    let out = w.run(&[
        "secrets",
        "set",
        "web",
        "bad key=1",
        "PATH=/opt/evil",
        "GOOD=it's",
    ]);
    common::assert_success(&out);
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(
        note.contains(
            "\"bad key\" is saved and `hush run` exports it, but `--format env` leaves it out"
        ),
        "{note}"
    );
    assert!(
        note.contains("PATH is saved") && note.contains("which code programs load or run"),
        "{note}"
    );
    assert!(!note.contains("tables, arrays"), "{note}");

    // The env output: only names a shell reads, each left-out key with its own reason.
    let out = w.run(&["secrets", "get", "web", "--format", "env"]);
    let env = String::from_utf8(out.stdout).unwrap();
    assert_eq!(env, "A='1'\nGOOD='it'\\''s'\n");
    let why = String::from_utf8(out.stderr).unwrap();
    assert!(
        why.contains("left out \"bad key\": a .env file or shell takes only"),
        "{why}"
    );
    assert!(
        why.contains("left out PATH: it would change which code"),
        "{why}"
    );

    // What export writes, a shell reads back.
    let file = w.path("web.env");
    w.ok(&["secrets", "export", "web", "-o", file.to_str().unwrap()]);
    assert_eq!(sourced(&file, "printf %s \"$GOOD\""), "it's");
}

#[tokio::test]
async fn saving_what_is_already_there_says_no_changes_and_saves_nothing() {
    let w = World::with_web(FIRST).await;

    let out = w.ok(&["secrets", "set", "web", "NAME=Jane"]);
    assert!(
        out.contains("No changes") && !out.contains("Saved"),
        "{out}"
    );
    assert_eq!(w.latest("web").await.0, 1);

    let same = w.write("same.toml", FIRST);
    let out = w.ok(&["secrets", "import", "web", same.to_str().unwrap()]);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(w.latest("web").await.0, 1);

    w.ok(&["secrets", "set", "web", "NAME=Ann"]);
    let out = w.ok(&["secrets", "rollback", "web", "1"]);
    assert!(out.contains("Saved version 3"), "{out}");
    let out = w.ok(&["secrets", "rollback", "web", "1"]);
    assert!(
        out.contains("No changes") && !out.contains("Saved"),
        "{out}"
    );
    assert_eq!(w.latest("web").await, (3, FIRST.to_string()));
    let history = w.ok(&["secrets", "history", "web"]);
    assert!(!history.contains("+0 ~0 -0"), "{history}");
}

/// Two named pipes for an editor stand-in: it writes the path it was given to `ready`, then
/// waits for a line on `go`. The test needs no sleeps to know the editor is open.
fn editor_pipes(w: &World) -> (PathBuf, PathBuf, PathBuf) {
    editor_pipes_named(w, "")
}

/// [`editor_pipes`] with `tag` in the pipes' names, for editors open at the same time.
fn editor_pipes_named(w: &World, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ready, go) = (
        w.path(&format!("ready{tag}.fifo")),
        w.path(&format!("go{tag}.fifo")),
    );
    for fifo in [&ready, &go] {
        let _ = fs::remove_file(fifo);
        assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success());
    }
    let editor = w.script(
        "waiting-editor.sh",
        "echo \"$1\" > \"$READY\"\nread line < \"$GO\"\nsed -i 's/Jane/Edited/' \"$1\"",
    );
    (editor, ready, go)
}

#[tokio::test]
async fn an_interrupted_edit_leaves_no_plaintext_copy() {
    use std::os::unix::process::CommandExt;
    let w = World::with_web(FIRST).await;
    // Ctrl+C reaches the whole foreground group (hush and the editor); so does a SIGTERM from
    // a service manager stopping everything.
    for signal in ["-INT", "-TERM"] {
        let (editor, ready, go) = editor_pipes(&w);
        let child = w
            .cmd(&["secrets", "edit", "web"])
            .env("EDITOR", &editor)
            .env("READY", &ready)
            .env("GO", &go)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let copy = PathBuf::from(fs::read_to_string(&ready).unwrap().trim());
        let lock = PathBuf::from(format!("{}.lock", copy.display()));
        assert_eq!(w.edit_copies(), vec![copy.clone(), lock]);
        assert_eq!(mode(&copy), 0o600);
        let group = format!("-{}", child.id());
        assert!(
            Command::new("kill")
                .args([signal, "--", &group])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        let err = assert_failure(&out);
        assert!(err.contains("nothing was saved"), "{signal}: {err}");
        assert_eq!(w.edit_copies(), Vec::<PathBuf>::new(), "{signal}: {err}");
        assert_eq!(w.latest("web").await.0, 1);
    }
}

#[tokio::test]
async fn a_copy_left_by_a_killed_edit_is_removed_by_the_next_edit_and_a_live_one_is_kept() {
    use std::os::unix::process::CommandExt;
    let w = World::with_web(FIRST).await;
    let runtime = w.path("run");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let edits = runtime.join("hush/edits");
    let edit = |editor: &Path, tag: &str| {
        let mut cmd = w.cmd(&["secrets", "edit", "web"]);
        cmd.env("XDG_RUNTIME_DIR", &runtime)
            .env("EDITOR", editor)
            .env("READY", w.path(&format!("ready{tag}.fifo")))
            .env("GO", w.path(&format!("go{tag}.fifo")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let lock_of = |copy: &Path| PathBuf::from(format!("{}.lock", copy.display()));

    // Killed with SIGKILL, editor and all, while the editor is open: nothing can clean up.
    let (editor, ready, _) = editor_pipes_named(&w, "-killed");
    let mut killed = edit(&editor, "-killed").process_group(0).spawn().unwrap();
    let stale = PathBuf::from(fs::read_to_string(&ready).unwrap().trim());
    assert!(stale.starts_with(&edits), "{}", stale.display());
    let group = format!("-{}", killed.id());
    let kill = Command::new("kill").args(["-KILL", "--", &group]).status();
    assert!(kill.unwrap().success());
    killed.wait().unwrap();
    assert_eq!(files_in(&edits), vec![stale.clone(), lock_of(&stale)]);

    // The next edit removes the killed one's copy as it starts, and stays open.
    let (editor, ready, go) = editor_pipes_named(&w, "-live");
    let live = edit(&editor, "-live").spawn().unwrap();
    let open = PathBuf::from(fs::read_to_string(&ready).unwrap().trim());
    assert_eq!(files_in(&edits), vec![open.clone(), lock_of(&open)]);

    // An edit starting meanwhile keeps the open one's copy.
    let unchanged = w.script("unchanged.sh", "true");
    let out = succeeded(edit(&unchanged, "-unused").output().unwrap());
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(files_in(&edits), vec![open.clone(), lock_of(&open)]);

    // The open edit goes on undisturbed and saves.
    fs::write(&go, "go\n").unwrap();
    let out = succeeded(live.wait_with_output().unwrap());
    assert!(out.contains("Saved version 2"), "{out}");
    assert!(w.latest("web").await.1.contains("Edited"));
    assert_eq!(files_in(&edits), Vec::<PathBuf>::new());
    // Nothing was written to the on-disk fallback folder.
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());
}

/// `hush ARGS` on a terminal (a pseudo-terminal from util-linux's `script`): returns the
/// transcript once `answers` were each typed after their prompt appeared.
fn on_terminal(w: &World, envs: &[(&str, &OsStr)], args: &str, answers: &[(&str, &str)]) -> String {
    use std::io::Read;
    let mut script = Command::new("script");
    script.args(["-qefc", &format!("{HUSH} {args}"), "/dev/null"]);
    w.isolate(&mut script);
    let mut child = script
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's `script`, for a pseudo-terminal");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    for (prompt, answer) in answers {
        while !seen.contains(prompt) {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "no {prompt:?} in:\n{seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen = seen.replacen(prompt, "", 1);
        stdin.write_all(answer.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    drop(stdin);
    child.wait().unwrap();
    seen + &rest
}

#[tokio::test]
async fn on_a_terminal_edit_offers_the_editor_again_and_ctrl_c_at_the_question_cleans_up() {
    let w = World::with_web(FIRST).await;
    // Fails the first time, then makes a change.
    let flaky = w.script(
        "flaky.sh",
        "if [ ! -e \"$1.tried\" ]; then touch \"$1.tried\"; exit 1; fi\nrm \"$1.tried\"\nsed -i 's/Jane/Again/' \"$1\"",
    );
    let out = on_terminal(
        &w,
        &[("EDITOR", flaky.as_os_str())],
        "secrets edit web",
        &[("Open the editor again? [Y/n] ", "y\n")],
    );
    assert!(
        out.contains("exited with code 1") && out.contains("Saved version 2"),
        "{out}"
    );
    assert!(w.latest("web").await.1.contains("Again"));
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());

    // Ctrl+C at the question: the copy goes, nothing is saved.
    let fails = w.script("fails.sh", "exit 1");
    let out = on_terminal(
        &w,
        &[("EDITOR", fails.as_os_str())],
        "secrets edit web",
        &[("Open the editor again? [Y/n] ", "\u{3}")],
    );
    assert!(out.contains("interrupted (Ctrl+C)"), "{out}");
    assert_eq!(w.edit_copies(), Vec::<PathBuf>::new());
    assert_eq!(w.latest("web").await.0, 2);

    // A value's control characters do not reach the terminal raw; piped, they are kept.
    w.olivia
        .save_secrets("web", "X = \"\\u001b]0;pwned\\u0007\\u001b[2J\"\n", 2, None)
        .await
        .unwrap();
    let out = on_terminal(&w, &[], "secrets get web --key X", &[]);
    assert!(out.contains("\\e]0;pwned\\x07\\e[2J"), "{out:?}");
    assert_eq!(
        w.ok(&["secrets", "get", "web", "--key", "X"]),
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\n"
    );
}

#[tokio::test]
async fn others_text_never_reaches_the_terminal_raw() {
    let w = World::new().await;
    w.login();
    // Colour, a title change, clear screen, NUL, an 8-bit CSI, a right-to-left override.
    let hostile = "\u{1b}[31mred\u{1b}]0;pwned\u{7}\u{1b}[2J\0nul\u{9b}2J\u{202e}evil";

    // secrets history: a commit message.
    w.olivia.create_app("web", Some(FIRST), None).await.unwrap();
    w.olivia
        .save_secrets("web", &FIRST.replace("Jane", "Ann"), 1, Some(hostile))
        .await
        .unwrap();
    let history = w.ok(&["secrets", "history", "web"]);
    assert_inert("secrets history", &history);
    assert!(history.contains("\\e[31mred\\e]0;pwned\\x07"), "{history}");
    assert_inert(
        "secrets history --json",
        &w.ok(&["secrets", "history", "web", "--json"]),
    );

    // Keys: diff, rollback, set and the env export's notes print key names.
    let key_doc = FIRST.replace("PORT = 8080", "PORT = 8080\n\"k\\u001b[2J\\u202e\" = \"v\"");
    w.olivia
        .save_secrets("web", &key_doc, 2, None)
        .await
        .unwrap();
    for args in [
        &["secrets", "diff", "web", "2", "3"][..],
        &["secrets", "rollback", "web", "2"],
        &["secrets", "rollback", "web", "3"],
    ] {
        let out = w.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_inert(
            &format!("{args:?}"),
            &String::from_utf8(out.stdout).unwrap(),
        );
    }
    let out = w.run(&["secrets", "get", "web", "--format", "env"]);
    let notes = String::from_utf8(out.stderr).unwrap();
    assert!(notes.contains("k\\u001B[2J\\u{202e}"), "{notes}");
    assert_inert("env notes", &notes);

    // tokens: a token's name, in the list and when it is created.
    w.olivia
        .create_app_token("web", hostile, None)
        .await
        .unwrap();
    let list = w.ok(&["tokens", "list", "--app", "web"]);
    assert_inert("tokens list", &list);
    assert!(list.contains("\\e[2J\\x00nul"), "{list}");
    // (An argument cannot hold NUL.)
    let typed = hostile.replace('\0', "");
    let out = w.run(&["tokens", "create", "--app", "web", "--name", &typed]);
    assert!(out.status.success());
    assert_inert("tokens create", &String::from_utf8(out.stderr).unwrap());

    // audit: a name typed at a failed sign-in, and token names, as table, JSON and JSON lines.
    let _ = Client::new(&w.server.url, None)
        .unwrap()
        .login(hostile, "not the password", "t")
        .await;
    // A failed sign-in is written within about a second (such events are gathered and folded).
    let mut table = w.ok(&["audit"]);
    for _ in 0..50 {
        if table.contains("\\e[31mred") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        table = w.ok(&["audit"]);
    }
    assert_inert("audit", &table);
    assert!(table.contains("\\e[31mred"), "{table}");
    for format in ["--json", "--jsonl"] {
        let text = w.ok(&["audit", format]);
        assert_inert(&format!("audit {format}"), &text);
        // Still JSON, holding the same name.
        let first = if format == "--json" {
            text.clone()
        } else {
            text.lines()
                .find(|l| l.contains("auth.login"))
                .unwrap()
                .to_string()
        };
        assert!(serde_json::from_str::<Value>(&first).is_ok(), "{first}");
        assert!(text.contains("\\u202e"), "{text}");
    }
    let json: Value = serde_json::from_str(&w.ok(&["audit", "--json"])).unwrap();
    assert!(
        json["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor_name"] == hostile)
    );

    // Member names cannot hold such characters (the server refuses them), so `members list`
    // has nothing hostile to print; it shares the table printer tested above.
}

#[tokio::test]
async fn audit_reads_as_sentences_with_times_that_say_utc() {
    let w = World::with_web(FIRST).await;
    w.ok(&["secrets", "set", "web", "NAME=Ann", "NEW=1"]);
    let table = w.ok(&["audit", "--action", "secrets.update"]);
    let row = table.lines().nth(1).expect(&table);
    assert!(row.contains("version 2; +NEW ~NAME"), "{row}");
    assert!(row.contains(" UTC "), "{row}");
    assert!(!table.contains('{') && !table.contains('"'), "{table}");
    assert!(table.starts_with("TIME "), "{table}");
}

#[test]
fn help_describes_positional_arguments_and_roles() {
    let help = |args: &[&str]| {
        let out = Command::new(HUSH)
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    // "  <FROM>  The older version's number ...": the argument, then its description.
    let described = |help: &str, arg: &str, words: &str| {
        help.lines()
            .any(|l| l.trim_start().starts_with(arg) && l.contains(words))
    };
    let diff = help(&["secrets", "diff"]);
    assert!(described(&diff, "<APP>", "The app's name"), "{diff}");
    assert!(
        described(&diff, "<FROM>", "The older version's number"),
        "{diff}"
    );
    assert!(
        described(&diff, "[TO]", "The newer version's number"),
        "{diff}"
    );
    let revoke = help(&["tokens", "revoke"]);
    assert!(described(&revoke, "<ID>", "The token's ID"), "{revoke}");
    assert!(help(&["members", "invite"]).contains("a viewer sees apps"));
}

#[tokio::test]
async fn the_server_log_has_no_colour_codes_when_it_is_not_a_terminal() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::serve_command()
        .arg("--data-dir")
        .arg(dir.path())
        .env("HUSH_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("is serving on") {
        assert!(stderr.read_line(&mut log).unwrap() > 0, "{log}");
    }
    // It listens for SIGTERM from before it says it is serving: a signal sent at once still
    // ends it gracefully (it logs "shutting down").
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    stderr.read_to_string(&mut log).unwrap();
    child.wait().unwrap();
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
