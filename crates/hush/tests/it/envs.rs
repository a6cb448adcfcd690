//! Environments and shared documents through the `hush` binary: the real `hush serve` on a free
//! port, the CLI (`hush envs`, `hush shared`, `--env`) and `hush run --env` following a shared
//! document live; and a database made by the previous release served by this one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use hush_client::api::Client;

use crate::common;

use common::{Server, served_workspace, until};

const PASSWORD: &str = "correct-horse-battery";

struct World {
    dir: tempfile::TempDir,
    server: Server,
    owner: Client,
    personal: String,
}

impl World {
    async fn new() -> World {
        let (dir, server) = served_workspace(
            &["data", "home", "config", "cache", "tmp", "work"],
            PASSWORD,
        );
        let (owner, personal) = common::sign_in_owner(&server.url, PASSWORD).await;
        World {
            dir,
            server,
            owner,
            personal,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hush ARGS` with this world's home and the given token, nothing else from outside.
    fn hush(&self, token: &str) -> Command {
        common::isolated_hush(self.dir.path(), &self.server.url, token)
    }

    /// Runs the CLI as the owner; expects success and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.hush(&self.personal).args(args).output().unwrap();
        succeeded(args, out)
    }

    /// Runs the CLI as the owner; expects failure and returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        common::assert_failure(&self.hush(&self.personal).args(args).output().unwrap())
    }

    /// The app `web` with `production` as its first secrets, and its environment `staging`
    /// made with the CLI.
    async fn web_with_staging(&self, production: &str) {
        self.owner
            .create_app("web", Some(production), None)
            .await
            .unwrap();
        self.ok(&["envs", "create", "web", "staging"]);
    }

    /// Waits for web's running copy on staging to report the revision the server announces
    /// now; checks that it says what that revision is made of (staging's own version 1 and
    /// common-db's `common_db_version`), in the API and in `hush envs instances`.
    async fn assert_staging_copy_applied(&self, common_db_version: i64) {
        let staging = self.owner.with_env(Some("staging"));
        let revision = staging.secrets("web").await.unwrap().revision();
        let applied = until(
            "the running copy to report the current revision",
            async || {
                let list = staging.instances("web").await.ok()?;
                list.into_iter()
                    .find(|i| i["applied_version"] == revision && i["status"] == "running")
            },
        )
        .await;
        assert_eq!(
            applied["applied"],
            serde_json::json!({
                "version": 1,
                "shared": [{ "name": "common-db", "version": common_db_version }],
            })
        );
        let listed = self.ok(&["envs", "instances", "web", "staging"]);
        let pair = format!("staging v1, common-db v{common_db_version}");
        assert!(listed.contains(&pair), "{listed}");
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}

fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A background `hush run`, stopped with SIGTERM when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stand-in for Streamlit (rerun mode): writes where its secrets file is, then waits.
fn fake_streamlit(world: &World) -> PathBuf {
    let fake = world.path("bin/streamlit");
    common::write_executable(
        &fake,
        "#!/bin/sh\necho \"$STREAMLIT_SECRETS_FILES\" > out.txt\nexec sleep 1000\n",
    );
    fake
}

fn secrets_file_of(out: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(out).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| PathBuf::from(line))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_on_staging_gets_a_shared_document_change_live() {
    let world = World::new().await;
    world.web_with_staging("MODE = \"production\"\n").await;
    let own = world.write("staging.toml", "MODE = \"staging\"\n");
    world.ok(&["secrets", "import", "web", &own, "--env", "staging"]);
    let common = world.write("common.toml", "DB_HOST = \"db-v1\"\nMODE = \"shared\"\n");
    world.ok(&["shared", "create", "common-db", "--file", &common]);
    world.ok(&["envs", "include", "web", "staging", "common-db"]);
    let created = world.ok(&[
        "tokens", "create", "--app", "web", "--env", "staging", "--name", "runner",
    ]);
    let token = created
        .lines()
        .find(|l| l.starts_with("hush_app_"))
        .expect("the token is printed")
        .trim()
        .to_string();
    let list = world.ok(&["tokens", "list", "--app", "web"]);
    let row = list.lines().find(|l| l.contains("runner")).expect(&list);
    assert!(
        row.split_whitespace().any(|c| c == "staging"),
        "the list says which environment: {list}"
    );

    let fake = fake_streamlit(&world);
    let stderr = world.path("run.stderr");
    let running = Running(
        world
            .hush(&token)
            .args(["run", "--app", "web", "--env", "staging", "--"])
            .args([fake.to_str().unwrap(), "run", "app.py"])
            .stdout(fs::File::create(world.path("run.stdout")).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let out = world.path("work/out.txt");
    let file = until("the app to start", async || secrets_file_of(&out)).await;
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("db-v1"),
        "the shared value is delivered: {text}"
    );
    assert!(
        text.contains("MODE = \"staging\""),
        "the environment's own value wins: {text}"
    );
    // It reports what its revision is made of: staging's own version 1, common-db's 1.
    world.assert_staging_copy_applied(1).await;

    // A shared save reaches the running copy live.
    let common2 = world.write("common2.toml", "DB_HOST = \"db-v2\"\nMODE = \"shared\"\n");
    world.ok(&[
        "shared",
        "set",
        "common-db",
        &common2,
        "-m",
        "move the database",
    ]);
    common::until_file_holds(
        "the secrets file to hold the new shared value",
        &file,
        "db-v2",
    )
    .await;
    // It reports the revision it applied, the one the server announces, and its new pair.
    world.assert_staging_copy_applied(2).await;
    // Production never saw it.
    assert!(world.owner.instances("web").await.unwrap().is_empty());
    assert_eq!(
        world.owner.secrets("web").await.unwrap().toml,
        "MODE = \"production\"\n"
    );
    drop(running);
    let log = fs::read_to_string(&stderr).unwrap_or_default();
    assert!(!log.contains("db-v1") && !log.contains("db-v2"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn envs_and_shared_documents_from_the_cli() {
    let world = World::new().await;
    world
        .web_with_staging("A = \"same\"\nB = \"prod-b\"\nONLY_PROD = 1\n")
        .await;
    let bad = world.fails(&["envs", "create", "web", "Staging"]);
    assert!(bad.contains("lowercase"), "{bad}");
    let file = world.write(
        "s.toml",
        "A = \"same\"\nB = \"staging-b\"\nONLY_STAGING = 2\n",
    );
    world.ok(&["secrets", "import", "web", &file, "--env", "staging"]);
    let listed = world.ok(&["envs", "list", "web"]);
    assert!(
        listed.contains("production") && listed.contains("staging"),
        "{listed}"
    );

    let compared = world.ok(&["envs", "compare", "web", "staging", "production"]);
    assert!(compared.contains("- ONLY_STAGING"), "{compared}");
    assert!(compared.contains("+ ONLY_PROD"), "{compared}");
    assert!(compared.contains("~ B"), "{compared}");
    assert!(!compared.contains("~ A"), "{compared}");

    // Shared documents: created, included, read through the environment, history.
    let common = world.write("c.toml", "DB = \"shared-db\"\n");
    world.ok(&["shared", "create", "common-db", "--file", &common]);
    let missing = world.fails(&["envs", "include", "web", "staging", "nope"]);
    assert!(missing.contains("nope"), "{missing}");
    world.ok(&["envs", "include", "web", "staging", "common-db"]);
    let got = world.ok(&["secrets", "get", "web", "--env", "staging", "--key", "DB"]);
    assert_eq!(got.trim(), "shared-db");
    let effective = world.ok(&["envs", "effective", "web", "staging"]);
    assert!(
        effective
            .lines()
            .any(|l| l.contains("DB") && l.contains("common-db")),
        "{effective}"
    );
    let common2 = world.write("c2.toml", "DB = \"shared-db-2\"\n");
    world.ok(&["shared", "set", "common-db", &common2]);
    let history = world.ok(&["shared", "history", "common-db"]);
    assert!(history.lines().count() >= 3, "{history}");
    assert!(
        world
            .ok(&["shared", "get", "common-db"])
            .contains("shared-db-2")
    );
    assert!(world.ok(&["shared", "list"]).contains("web/staging"));
    let refused = world.fails(&["shared", "delete", "common-db"]);
    assert!(refused.contains("web/staging"), "{refused}");

    // Local development against an environment: pull writes the effective secrets.
    world.ok(&["pull", "web", "--env", "staging", "--yes"]);
    let pulled = fs::read_to_string(world.path("work/.streamlit/secrets.toml")).unwrap();
    assert!(
        pulled.contains("shared-db-2") && pulled.contains("staging-b"),
        "{pulled}"
    );

    // Editing starts from the environment's own document, never the merged one.
    world.ok(&["secrets", "set", "web", "C=3", "--env", "staging"]);
    let staging = world.owner.with_env(Some("staging"));
    let own = staging.document("web").await.unwrap();
    assert!(!own.toml.contains("shared-db"), "{}", own.toml);
    assert!(own.toml.contains("C = "), "{}", own.toml);
    // A pulled file pushed back: what the shared documents give stays theirs.
    world.ok(&["pull", "web", "--env", "staging", "--yes"]);
    let local = world.path("work/.streamlit/secrets.toml");
    let pulled = fs::read_to_string(&local).unwrap();
    fs::write(&local, format!("{pulled}D = \"new\"\n")).unwrap();
    let pushed = world.ok(&["push", "web", "--env", "staging", "--yes"]);
    assert!(pushed.contains("DB (common-db)"), "{pushed}");
    let own = staging.document("web").await.unwrap();
    assert!(!own.toml.contains("shared-db"), "{}", own.toml);
    assert!(own.toml.contains("D = \"new\""), "{}", own.toml);
    assert!(own.toml.contains("C = "), "{}", own.toml);
    world.ok(&["envs", "include", "web", "staging"]);
    world.ok(&["shared", "delete", "common-db"]);
    world.ok(&["envs", "delete", "web", "staging"]);
    assert!(!world.ok(&["envs", "list", "web"]).contains("staging"));
}

/// `hush shared roles|role`: an owner makes an editor a viewer of one document, which the
/// server then enforces, and gives the workspace role back; bad input is refused with the
/// server's or the CLI's words.
#[tokio::test(flavor = "multi_thread")]
async fn roles_on_a_shared_document_from_the_cli() {
    let world = World::new().await;
    world
        .owner
        .create_shared("common-db", Some("DB = \"one\"\n"))
        .await
        .unwrap();
    let invite = world.owner.invite("editor").await.unwrap();
    let anonymous = Client::new(&world.server.url, None).unwrap();
    let invite_token = invite["url"].as_str().unwrap().split('#').nth(1).unwrap();
    anonymous
        .accept_invite(invite_token, "erin", PASSWORD)
        .await
        .unwrap();
    let erin_token = anonymous
        .login("erin", PASSWORD, "tests")
        .await
        .unwrap()
        .token;
    let erin = anonymous.with_token(erin_token.clone());

    let none_yet = world.ok(&["shared", "roles", "common-db"]);
    assert!(none_yet.contains("No member has a role"), "{none_yet}");
    let set = world.ok(&["shared", "role", "common-db", "erin", "viewer"]);
    assert!(
        set.contains("erin is now viewer on shared document common-db"),
        "{set}"
    );
    let roles = world.ok(&["shared", "roles", "common-db"]);
    assert!(
        roles
            .lines()
            .any(|l| l.contains("erin") && l.contains("viewer")),
        "{roles}"
    );
    let of_erin = world.ok(&["members", "app-roles", "erin"]);
    assert!(of_erin.contains("common-db (shared document)"), "{of_erin}");
    let json: serde_json::Value =
        serde_json::from_str(&world.ok(&["shared", "roles", "common-db", "--json"])).unwrap();
    assert_eq!(json["roles"][0]["member"], "erin");
    assert_eq!(json["roles"][0]["role"], "viewer");
    // What the server enforces from then on.
    let refused = erin
        .save_shared("common-db", "DB = \"two\"\n", 1, None)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403));
    assert!(erin.shared_doc("common-db").await.unwrap()["toml"].is_null());

    let none = world.fails(&["shared", "role", "common-db", "erin", "none"]);
    assert!(none.contains("viewer") && none.contains("editor"), "{none}");
    let nobody = world.fails(&["shared", "role", "common-db", "nobody", "editor"]);
    assert!(nobody.contains("no member \"nobody\""), "{nobody}");
    let ghost = world.fails(&["shared", "role", "ghost", "erin", "editor"]);
    assert!(
        ghost.contains("no shared document named \"ghost\""),
        "{ghost}"
    );
    let both = world.fails(&["shared", "role", "common-db", "erin", "editor", "--remove"]);
    assert!(both.contains("--remove"), "{both}");
    // Not an owner: the server's refusal, and nothing changes.
    let stderr = common::assert_failure(
        &world
            .hush(&erin_token)
            .args(["shared", "role", "common-db", "erin", "editor"])
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("owner"), "{stderr}");
    assert!(
        world
            .ok(&["shared", "roles", "common-db"])
            .contains("viewer")
    );

    let removed = world.ok(&["shared", "role", "common-db", "erin", "--remove"]);
    assert!(
        removed.contains("erin's workspace role applies to shared document common-db again"),
        "{removed}"
    );
    erin.save_shared("common-db", "DB = \"two\"\n", 1, None)
        .await
        .unwrap();
    let again = world.fails(&["shared", "role", "common-db", "erin", "--remove"]);
    assert!(again.contains("no role of their own"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_history_diff_rollback_and_a_push_that_keeps_comments_from_the_cli() {
    let world = World::new().await;
    world.web_with_staging("A = 1\n").await;
    let v1 = world.write("c1.toml", "DB = \"db-one\"\nOLD = 1\n");
    world.ok(&["shared", "create", "common-db", "--file", &v1]);
    let v2 = world.write("c2.toml", "DB = \"db-two\"\nNEW = 2\n");
    world.ok(&["shared", "set", "common-db", &v2]);

    let diff = world.ok(&["shared", "diff", "common-db", "1"]);
    assert!(diff.contains("version 1 → version 2"), "{diff}");
    for line in ["+ NEW", "- OLD", "~ DB"] {
        assert!(diff.contains(line), "{line}: {diff}");
    }
    assert!(
        !diff.contains("db-one") && !diff.contains("db-two"),
        "{diff}"
    );
    let missing = world.fails(&["shared", "diff", "common-db", "1", "9"]);
    assert!(missing.contains("no version 9"), "{missing}");
    let rolled = world.ok(&["shared", "rollback", "common-db", "1"]);
    assert!(
        rolled.contains("Saved version 3 of shared document common-db: a copy of version 1"),
        "{rolled}"
    );
    assert!(world.ok(&["shared", "get", "common-db"]).contains("db-one"));
    let history = world.ok(&["shared", "history", "common-db"]);
    assert!(history.contains("Rollback to version 1"), "{history}");

    // hush push --env on an environment with includes: the keys left to the shared document
    // are cut out of the pushed text, and every comment of the rest is kept.
    let staging = world.owner.with_env(Some("staging"));
    staging
        .save_secrets("web", "# staging's own\nOWN = \"s\"\n", 0, None)
        .await
        .unwrap();
    world.ok(&["envs", "include", "web", "staging", "common-db"]);
    // Pulled (the merged document, without comments) and pushed back unchanged: nothing is
    // saved, so the saved text keeps its comment.
    world.ok(&["pull", "web", "--env", "staging", "--yes"]);
    let pushed = world.ok(&["push", "web", "--env", "staging", "--yes"]);
    assert!(pushed.contains("Nothing to push"), "{pushed}");
    let own = staging.document("web").await.unwrap();
    assert_eq!(
        (own.version, own.toml.as_str()),
        (1, "# staging's own\nOWN = \"s\"\n")
    );

    let local = world.path("work/.streamlit/secrets.toml");
    fs::write(
        &local,
        "# where the app's data lives\nDB = \"db-one\"\nOLD = 1\n\n\
         # staging's own, edited\nOWN = \"s2\" # changed today\n\n\
         [feature]\n# on in staging only\nflag = true\n",
    )
    .unwrap();
    let pushed = world.ok(&["push", "web", "--env", "staging", "--yes"]);
    assert!(pushed.contains("DB (common-db)"), "{pushed}");
    let own = staging.document("web").await.unwrap();
    assert_eq!(own.version, 2);
    assert_eq!(
        own.toml,
        "# staging's own, edited\nOWN = \"s2\" # changed today\n\n\
         [feature]\n# on in staging only\nflag = true\n",
        "only the shared keys are cut out; the comments stay"
    );
}

/// The fixture's copy in a data directory of its own, served with its master key.
fn previous_release() -> (tempfile::TempDir, String, String) {
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hush-store/tests/fixtures/previous-release");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
    fs::copy(fixtures.join("hush.db"), data.join("hush.db")).unwrap();
    let key = fs::read_to_string(fixtures.join("master.key")).unwrap();
    let token = fs::read_to_string(fixtures.join("app-token.txt")).unwrap();
    (dir, key.trim().to_string(), token.trim().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_the_previous_release_is_served_as_production() {
    let (dir, key, token) = previous_release();
    let data = dir.path().join("data");
    let server = Server::start(
        [
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("HUSH_MASTER_KEY", key.as_str())],
        None,
    );
    // The old app token still reads, and what it reads is production's whole history.
    let runner = Client::new(&server.url, Some(token.clone())).unwrap();
    let read = runner.secrets("web").await.unwrap();
    assert_eq!(read.version, 2);
    assert!(read.toml.contains("web-pass-v2") && read.toml.contains("# a comment kept"));
    assert_eq!(
        runner
            .with_env(Some("production"))
            .secrets("web")
            .await
            .unwrap()
            .toml,
        read.toml
    );
    let (owner, _) = common::sign_in_owner(&server.url, "fixture-password-123").await;
    let envs = owner.envs("web").await.unwrap();
    assert_eq!(envs["envs"].as_array().unwrap().len(), 1);
    assert_eq!(envs["envs"][0]["name"], "production");
    assert_eq!(envs["envs"][0]["version"], 2);
    assert_eq!(owner.versions("web").await.unwrap().len(), 2);
    let v1 = owner.version("web", 1).await.unwrap();
    assert!(v1.toml.contains("web-pass-v1"));
    assert_eq!(
        owner.secrets("api").await.unwrap().toml,
        "API_KEY = \"api-key-1\"\n"
    );
    // New environments work next to the old data; the old token stays production's.
    owner.create_env("web", "staging").await.unwrap();
    let (status, ..) = match runner.with_env(Some("staging")).secrets("web").await {
        Err(hush_client::api::ClientError::Api { status, code, .. }) => (status, code, ()),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(status, 403);

    // `hush admin verify` opens every version of every environment and shared document.
    owner
        .with_env(Some("staging"))
        .save_secrets("web", "S = 1\n", 0, None)
        .await
        .unwrap();
    owner
        .create_shared("common", Some("C = 2\n"))
        .await
        .unwrap();
    owner
        .set_includes("web", "staging", &["common"])
        .await
        .unwrap();
    let out = common::hush(
        ["admin", "verify", "--data-dir", data.to_str().unwrap()],
        &[("HUSH_MASTER_KEY", key.as_str())],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 apps and 5 versions"), "{text}");
}
