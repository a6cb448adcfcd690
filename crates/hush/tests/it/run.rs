//! `hush run` against a real `hush serve`: the built binary on a free port with a temporary data
//! directory, driven through hush's own client. Each test has its own server, home and cache.
//! Nothing sleeps to wait for something: every wait polls with a deadline.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use hush_client::api::Client;
use serde_json::Value;

use crate::common;

use common::{
    DEADLINE, HUSH, Server, assert_failure, file_lines, served_workspace, until, until_file_holds,
};
const PASSWORD: &str = "correct-horse-battery";

// ---- the server ----

/// One test's world: a temp dir with home, cache and data, a server with an owner, an app
/// with secrets and an app token for it.
struct World {
    dir: tempfile::TempDir,
    server: Server,
    owner: Client,
    app: String,
    token: String,
}

impl World {
    async fn new(app: &str, toml: &str) -> World {
        let (dir, server) = served_workspace(
            &["data", "home", "config", "cache", "tmp", "work"],
            PASSWORD,
        );
        let (owner, _) = common::sign_in_owner(&server.url, PASSWORD).await;
        owner.create_app(app, Some(toml), None).await.unwrap();
        let token = owner
            .create_app_token(app, "run", None)
            .await
            .unwrap()
            .token;
        World {
            dir,
            server,
            owner,
            app: app.to_string(),
            token,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn restart_server(&mut self) {
        let port = self.server.port();
        self.server.kill();
        self.server = Server::on_data_dir(&self.path("data"), port);
    }

    /// `hush run` with this world's home, cache and credentials (token in the environment).
    fn hush(&self) -> Command {
        common::isolated_hush(self.dir.path(), &self.server.url, &self.token)
    }

    /// Starts `hush run --app <app> <extra…> -- <command…>` in the background.
    fn spawn(&self, extra: &[&str], command: &[&str]) -> Running {
        let stderr = self.path("run.stderr");
        let child = self
            .hush()
            .args(["run", "--app", &self.app])
            .args(extra)
            .arg("--")
            .args(command)
            .stdout(fs::File::create(self.path("run.stdout")).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Running { child, stderr }
    }

    /// Runs `hush run` to the end.
    fn run(&self, extra: &[&str], command: &[&str]) -> Output {
        self.hush()
            .args(["run", "--app", &self.app])
            .args(extra)
            .arg("--")
            .args(command)
            .output()
            .unwrap()
    }

    /// Runs `hush run --app <app> -- <command…>` to the end with `token` instead of the world's.
    fn run_as(&self, token: &str, app: &str, command: &[&str]) -> Output {
        self.hush()
            .env("HUSH_TOKEN", token)
            .args(["run", "--app", app, "--"])
            .args(command)
            .output()
            .unwrap()
    }

    async fn save(&self, toml: &str) -> i64 {
        let latest = self.owner.secrets(&self.app).await.unwrap().version;
        self.owner
            .save_secrets(&self.app, toml, latest, None)
            .await
            .unwrap()
            .version
    }

    async fn instance(&self) -> Option<Value> {
        let list = self.owner.instances(&self.app).await.ok()?;
        list.into_iter().next()
    }
}

/// A background `hush run`; stopped with SIGTERM (forwarded to the app) when dropped.
struct Running {
    child: Child,
    stderr: PathBuf,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM to `hush run` (it forwards it), then its exit status.
    fn terminate(&mut self) -> ExitStatus {
        signal("TERM", self.pid());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "hush run did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.still_running() {
            signal("TERM", self.pid());
            let deadline = Instant::now() + Duration::from_secs(15);
            while self.still_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie's state is Z.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

// ---- waiting ----

/// Writes a file as an editor that saves safely does: a whole new file renamed over the old, so
/// a reader never sees it half-written.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    let temp = path.with_extension("tmp-edit");
    fs::write(&temp, text)?;
    fs::rename(&temp, path)
}

async fn line_count(path: &Path, n: usize) -> Vec<String> {
    until(&format!("{n} line(s) in {}", path.display()), async || {
        let l = file_lines(path);
        (l.len() >= n).then_some(l)
    })
    .await
}

async fn instance_at(world: &World, version: i64, pid: u32) -> Value {
    until(
        &format!("an instance reporting version {version}, pid {pid}"),
        async || {
            world.instance().await.filter(|i| {
                i["applied_version"] == version && i["pid"] == pid && i["status"] == "running"
            })
        },
    )
    .await
}

fn field(line: &str, i: usize) -> &str {
    line.split('|').nth(i).unwrap()
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread")]
async fn restart_mode_gives_a_new_process_the_new_environment_and_reports_it() {
    let world = World::new(
        "web",
        "A = \"one\"\nF = 1e10\nP = 3.14\nI = 0xff\nGONE = \"bye\"\n",
    )
    .await;
    let out = world.path("work/out.txt");
    let mut running = world.spawn(
        &[],
        &[
            "sh",
            "-c",
            r#"echo "$$|$A|$F|$P|$I|${GONE-unset}|${HUSH_TOKEN-unset}" >> out.txt; exec sleep 1000"#,
        ],
    );

    let first = line_count(&out, 1).await.remove(0);
    let pid1: u32 = field(&first, 0).parse().unwrap();
    // Python's str(): floats keep their `.0`, integers are decimal; the token stays with hush.
    assert_eq!(
        &first[first.find('|').unwrap()..],
        "|one|10000000000.0|3.14|255|bye|unset"
    );
    let reported = instance_at(&world, 1, pid1).await;
    assert!(!reported["hostname"].as_str().unwrap().is_empty());

    let v2 = world.save("A = \"two\"\nF = 2.5\nP = 1e-7\nI = -3\n").await;
    let second = line_count(&out, 2).await.remove(1);
    let pid2: u32 = field(&second, 0).parse().unwrap();
    assert_ne!(pid1, pid2, "restart mode starts a new process");
    assert_eq!(
        &second[second.find('|').unwrap()..],
        "|two|2.5|1e-07|-3|unset|unset"
    );
    until("the old process to be gone", async || {
        (!alive(pid1)).then_some(())
    })
    .await;
    instance_at(&world, v2, pid2).await;

    // SIGTERM reaches the app, and its death by SIGTERM is hush run's exit code (128 + 15).
    let status = running.terminate();
    assert_eq!(status.code(), Some(143), "{}", running.stderr());
    assert!(!alive(pid2));
}

#[tokio::test(flavor = "multi_thread")]
async fn streamlit_rerun_mode_replaces_the_file_without_a_restart() {
    let world = World::new("dash", "A = \"one\"\n[db]\nhost = \"h1\"\n").await;
    // A stand-in for Streamlit: the runner recognises `streamlit run` and picks rerun mode.
    let fake = world.path("bin/streamlit");
    common::write_executable(
        &fake,
        "#!/bin/sh\necho \"$$|$STREAMLIT_SERVER_RUN_ON_SAVE|$STREAMLIT_SECRETS_FILES|$A\" >> out.txt\nexec sleep 1000\n",
    );

    let out = world.path("work/out.txt");
    let running = world.spawn(&[], &[fake.to_str().unwrap(), "run", "app.py"]);
    let first = line_count(&out, 1).await.remove(0);
    let pid: u32 = field(&first, 0).parse().unwrap();
    assert_eq!(field(&first, 1), "true", "STREAMLIT_SERVER_RUN_ON_SAVE");
    assert_eq!(field(&first, 3), "one");
    let secrets_file = PathBuf::from(field(&first, 2));
    assert!(fs::read_to_string(&secrets_file).unwrap().contains("h1"));
    let mode = fs::metadata(&secrets_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let v2 = world.save("A = \"two\"\n[db]\nhost = \"h2\"\n").await;
    until_file_holds("the secrets file to hold version 2", &secrets_file, "h2").await;
    instance_at(&world, v2, pid).await;
    assert!(alive(pid), "rerun mode must not restart the app");
    assert_eq!(file_lines(&out).len(), 1, "the app was started once");
    drop(running);
    assert!(
        !secrets_file.exists(),
        "the secrets file is removed at exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_survives_a_server_restart_and_gets_the_next_save() {
    let mut world = World::new("api", "A = \"one\"\n").await;
    let out = world.path("work/out.txt");
    let mut running = world.spawn(
        &["--on-change", "none"],
        &[
            "sh",
            "-c",
            r#"echo "$$|$HUSH_SECRETS_FILE" >> out.txt; exec sleep 1000"#,
        ],
    );
    let first = line_count(&out, 1).await.remove(0);
    let pid: u32 = field(&first, 0).parse().unwrap();
    let secrets_file = PathBuf::from(field(&first, 1));
    instance_at(&world, 1, pid).await;

    world.server.kill();
    until_file_holds(
        "hush run to notice the server is gone",
        &running.stderr,
        "lost the hush server",
    )
    .await;
    assert!(
        running.still_running() && alive(pid),
        "the app keeps running"
    );

    world.restart_server();
    let v2 = world.save("A = \"two\"\n").await;
    until_file_holds("version 2 after the server came back", &secrets_file, "two").await;
    instance_at(&world, v2, pid).await;
    assert!(alive(pid));
    assert_eq!(file_lines(&out).len(), 1, "the app was never restarted");
    assert!(
        running.stderr().contains("reached the hush server at"),
        "{}",
        running.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_pass_through_and_a_fresh_fallback_copy_starts_the_app() {
    let mut world = World::new("job", "A = \"one\"\nKEY = \"s3cr3t-value\"\n").await;
    let out = world.run(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));

    // --mask-output hides secret values in what the app prints.
    let out = world.run(&["--mask-output"], &["sh", "-c", "echo \"key is $KEY\""]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("key is <concealed by hush>"), "{stdout}");
    assert!(!stdout.contains("s3cr3t-value"), "{stdout}");

    // A refused token is an error, never a reason to use the local copy.
    let stderr = assert_failure(&world.run_as("hush_app_not-a-real-token", "job", &["true"]));
    assert!(
        stderr.contains("cannot fetch the secrets of \"job\""),
        "{stderr}"
    );

    // The first run left an encrypted copy; no plain text of it anywhere in the cache.
    let cache = world.path("cache/hush/fallback");
    let copies: Vec<_> = fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        fs::metadata(&copies[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!String::from_utf8_lossy(&fs::read(&copies[0]).unwrap()).contains("one"));

    world.server.kill();
    let script = r#"echo "$A" > fallback.txt"#;
    let out = world.run(&[], &["sh", "-c", script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("local fallback copy of version 1"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(world.path("work/fallback.txt")).unwrap(),
        "one\n"
    );

    // Another token has no copy of its own.
    let stderr = assert_failure(&world.run_as("hush_app_another-token", "job", &["true"]));
    assert!(
        stderr.contains("no local fallback copy of \"job\" for this token"),
        "{stderr}"
    );

    // Another app has no copy.
    let stderr = assert_failure(&world.run_as(&world.token, "other", &["true"]));
    assert!(
        stderr.contains("there is no local fallback copy"),
        "{stderr}"
    );

    // Once the copy is older than the maximum age, it is refused with a clear error.
    let stderr = until("the copy to be older than 1s", async || {
        let out = world.run(&["--fallback-max-age", "1s"], &["true"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (!out.status.success()).then_some(stderr)
    })
    .await;
    assert!(
        stderr.contains("longer than --fallback-max-age 1s"),
        "{stderr}"
    );

    // 0 turns the copy off (and removes it).
    let stderr = assert_failure(&world.run(&["--fallback-max-age", "0"], &["true"]));
    assert!(
        stderr.contains("no local fallback copy is used"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 0);

    // Back online: runs normally again and writes a new copy.
    world.restart_server();
    let out = world.run(&[], &["sh", "-c", "exit 0"]);
    assert!(out.status.success());
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn local_mode_follows_edits_and_keeps_the_last_good_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    fs::create_dir_all(work.join(".streamlit")).unwrap();
    fs::create_dir_all(&home).unwrap();
    let secrets = work.join(".streamlit/secrets.toml");
    let hush = || {
        let mut cmd = Command::new(HUSH);
        cmd.current_dir(&work)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null());
        cmd
    };

    // No secrets file: a clear error, before anything starts.
    let stderr = assert_failure(
        &hush()
            .args(["run", "--local", "--", "true"])
            .output()
            .unwrap(),
    );
    assert!(
        stderr.contains("no local secrets: none of")
            && stderr.contains(".streamlit/secrets.toml")
            && stderr.contains("hush init"),
        "{stderr}"
    );

    fs::write(&secrets, "A = \"one\"\nF = 1.0\n").unwrap();
    let stderr_path = dir.path().join("run.stderr");
    let child = hush()
        .args(["run", "--local", "--"])
        .args(["sh", "-c", r#"echo "$$|$A|$F" >> out.txt; exec sleep 1000"#])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running {
        child,
        stderr: stderr_path,
    };
    let out = work.join("out.txt");
    let first = line_count(&out, 1).await.remove(0);
    assert!(first.ends_with("|one|1.0"), "{first}");

    replace_file(&secrets, "A = \"two\"\nF = 2.0\n").unwrap();
    let second = line_count(&out, 2).await.remove(1);
    assert!(second.ends_with("|two|2.0"), "{second}");

    // An invalid edit is reported and changes nothing.
    replace_file(&secrets, "A = \"three\nF = 3.0\n").unwrap();
    until_file_holds(
        "the parse error to be reported",
        &running.stderr,
        "the app keeps the last good secrets",
    )
    .await;
    assert!(running.stderr().contains("secrets.toml"));
    assert_eq!(file_lines(&out).len(), 2);
    assert!(running.still_running());

    replace_file(&secrets, "A = \"three\"\nF = 3.0\n").unwrap();
    let third = line_count(&out, 3).await.remove(2);
    assert!(third.ends_with("|three|3.0"), "{third}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_token_keeps_its_own_fallback_copy() {
    let mut world = World::new("shared", "A = \"one\"\n").await;
    let second = world
        .owner
        .create_app_token("shared", "second", None)
        .await
        .unwrap()
        .token;
    let with_second = |cmd: &mut Command| {
        cmd.env("HUSH_TOKEN", &second);
    };
    let script = r#"echo "$A" >> seen.txt"#;
    assert!(world.run(&[], &["sh", "-c", script]).status.success());
    let mut cmd = world.hush();
    with_second(&mut cmd);
    let out = cmd
        .args(["run", "--app", "shared", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success());
    let cache = world.path("cache/hush/fallback");
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        2,
        "one copy per token"
    );

    // The second token turns its copy off: the first token's copy stays.
    let mut cmd = world.hush();
    with_second(&mut cmd);
    let out = cmd
        .args([
            "run",
            "--app",
            "shared",
            "--fallback-max-age",
            "0",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);

    world.server.kill();
    let out = world.run(&[], &["sh", "-c", script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the first token still starts offline: {stderr}"
    );
    assert_eq!(
        file_lines(&world.path("work/seen.txt")),
        ["one", "one", "one"]
    );
    world.restart_server();
}

/// The directories named `hush-run-*` under `parent`.
fn secrets_dirs(parent: &Path) -> Vec<PathBuf> {
    fs::read_dir(parent)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("hush-run-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_with_sigkill_takes_its_app_along_and_leaves_no_plaintext_for_long() {
    let world = World::new("killed", "PASSWORD = \"pl41ntext-value\"\n").await;
    let runtime = world.path("runtime");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let out = world.path("work/out.txt");
    let stderr = world.path("killed.stderr");
    let mut hush = world
        .hush()
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["run", "--app", "killed", "--"])
        // The app starts a process of its own, as a shell script or a server with workers does.
        .args([
            "sh",
            "-c",
            r#"sleep 1000 & echo "$$|$!|$HUSH_SECRETS_FILE" >> out.txt; wait"#,
        ])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let first = line_count(&out, 1).await.remove(0);
    let app: u32 = field(&first, 0).parse().unwrap();
    let worker: u32 = field(&first, 1).parse().unwrap();
    let secrets_file = PathBuf::from(field(&first, 2));
    assert!(
        secrets_file.starts_with(&runtime),
        "the secrets live in $XDG_RUNTIME_DIR: {}",
        secrets_file.display()
    );
    assert!(
        fs::read_to_string(&secrets_file)
            .unwrap()
            .contains("pl41ntext-value")
    );

    signal("KILL", hush.id());
    let _ = hush.wait();
    until(
        "the app and what it started to die with their runner",
        async || (!alive(app) && !alive(worker)).then_some(()),
    )
    .await;
    until("the killed runner's plaintext to be removed", async || {
        (!secrets_file.exists() && secrets_dirs(&runtime).is_empty()).then_some(())
    })
    .await;

    // The next runner has its own directory while it runs, and none is left after it.
    let next = world
        .hush()
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["run", "--app", "killed", "--", "sh", "-c"])
        .arg(r#"ls -d "$XDG_RUNTIME_DIR"/hush-run-* > dirs.txt"#)
        .output()
        .unwrap();
    common::assert_success(&next);
    let during = file_lines(&world.path("work/dirs.txt"));
    assert_eq!(during.len(), 1, "the live runner's directory: {during:?}");
    assert!(
        secrets_dirs(&runtime).is_empty(),
        "and it is gone after it ended"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hush_run_speaks_in_one_style_and_names_sections_once() {
    let world = World::new("styled", "A = \"one\"\n[my_cool_secrets]\nk = \"v\"\n").await;
    let out = world.path("work/out.txt");
    let running = world.spawn(
        &["--on-change", "none"],
        &["sh", "-c", r#"echo "$$" >> out.txt; exec sleep 1000"#],
    );
    let pid: u32 = line_count(&out, 1).await[0].parse().unwrap();
    let v2 = world
        .save("A = \"two\"\nFLAG = true\n[my_cool_secrets]\nk = \"w\"\n")
        .await;
    instance_at(&world, v2, pid).await;
    until("the new key to be named", async || {
        running.stderr().contains("FLAG (a boolean)").then_some(())
    })
    .await;
    let stderr = running.stderr();
    for line in stderr.lines() {
        assert!(line.starts_with("hush: "), "one style: {line:?}\n{stderr}");
    }
    assert_eq!(
        stderr.matches("my_cool_secrets").count(),
        1,
        "a section is named once, not for every version:\n{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_python_script_reading_st_secrets_is_told_what_to_use() {
    let world = World::new("py", "db_username = \"Jane\"\n").await;
    fs::write(
        world.path("work/script.py"),
        "import os\nif os.environ.get('NEVER'):\n    import streamlit as st\n    print(st.secrets['db_username'])\nprint(os.environ['db_username'])\n",
    )
    .unwrap();
    fs::write(
        world.path("work/plain.py"),
        "import os\nprint(os.environ['db_username'])\n",
    )
    .unwrap();
    let out = world.run(&[], &["python3", "script.py"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Jane\n");
    let hints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("hush.secrets"))
        .collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    assert!(hints[0].contains("script.py") && hints[0].contains("streamlit run"));

    let out = world.run(&[], &["python3", "plain.py"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hush.secrets"));
}

/// `hush run --local` in `work` (with `home` as HOME): the text the app got, and the output.
fn local_run(dir: &Path, envs: &[(&str, &str)]) -> (Option<String>, Output) {
    let work = dir.join("work");
    let _ = fs::remove_file(work.join("handed.toml"));
    let out = Command::new(HUSH)
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("TMPDIR", dir)
        .envs(envs.iter().copied())
        .args(["run", "--local", "--", "sh", "-c"])
        .arg(r#"cat "$HUSH_SECRETS_FILE" > handed.toml"#)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (fs::read_to_string(work.join("handed.toml")).ok(), out)
}

#[test]
fn local_mode_hands_over_the_files_order_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["home/.streamlit", "work/.streamlit"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let project = dir.path().join("work/.streamlit/secrets.toml");
    let text = "# the project's secrets\na = \"x\"\nt = { x = 1 }\nb = 2\nl = [{ n = 1 }]\n\n[[arr]]\nq = 1\n\n[s]\nk = 1\n";
    fs::write(&project, text).unwrap();

    // One file: its text, untouched.
    let (handed, out) = local_run(dir.path(), &[]);
    assert_eq!(
        handed.as_deref(),
        Some(text),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Two files: merged in Streamlit's order (the global file's keys first, each key where it
    // was first seen), inline tables and arrays of tables kept in place.
    fs::write(
        dir.path().join("home/.streamlit/secrets.toml"),
        "g = \"global\"\nb = 1\n",
    )
    .unwrap();
    let (handed, out) = local_run(dir.path(), &[]);
    let handed = handed.unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let doc = hush_core::Document::parse(&handed).unwrap();
    let keys: Vec<&str> = doc.root().keys().map(String::as_str).collect();
    assert_eq!(keys, ["g", "b", "a", "t", "l", "arr", "s"], "{handed}");
    fs::remove_file(dir.path().join("home/.streamlit/secrets.toml")).unwrap();

    // A parse error names the file, line and column, and does not send the user to `hush init`.
    fs::write(&project, "a = \"x\nb = 2\n").unwrap();
    let (handed, out) = local_run(dir.path(), &[]);
    assert!(handed.is_none());
    let stderr = assert_failure(&out);
    assert!(
        stderr.contains("secrets.toml") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fix the file") && !stderr.contains("hush init"),
        "{stderr}"
    );

    // A path that is neither a .toml file nor a folder says so.
    let (handed, out) = local_run(
        dir.path(),
        &[("STREAMLIT_SECRETS_FILES", "/nowhere/secrets")],
    );
    assert!(handed.is_none());
    let stderr = assert_failure(&out);
    assert!(
        stderr.contains("/nowhere/secrets") && stderr.contains("STREAMLIT_SECRETS_FILES"),
        "{stderr}"
    );
    assert!(!stderr.contains("hush init"), "{stderr}");
}

// ---- apps the server launches ----

/// What an app prints, twice: a line with its secrets on stdout and on stderr, and a line
/// longer than the runner's 64 KiB pieces with the password across the cut.
const CHATTY_APP: &str = r#"echo "user $db_username pw $db_password"
echo "stderr: user $db_username pw $db_password" >&2
python3 -c 'import os; print("x" * (65536 - 5) + os.environ["db_password"] + " end")'
echo "$$" > started
exec sleep 1000
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_launched_apps_output_reaches_the_server_log_masked() {
    let dir = tempfile::tempdir().unwrap();
    let (data, apps) = (dir.path().join("data"), dir.path().join("apps"));
    fs::create_dir_all(apps.join("web")).unwrap();
    fs::create_dir_all(&data).unwrap();
    fs::write(apps.join("web/app.sh"), CHATTY_APP).unwrap();
    common::create_owner(
        [std::ffi::OsStr::new("--data-dir"), data.as_os_str()],
        &[],
        PASSWORD,
    );
    let (stdout, stderr) = (
        dir.path().join("serve.stdout"),
        dir.path().join("serve.stderr"),
    );
    let mut serve = common::serve_command()
        .arg("--data-dir")
        .arg(&data)
        .arg("--apps-dir")
        .arg(&apps)
        .env("HUSH_LOG", "info")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let url = until("hush serve to listen", async || {
        let log = fs::read_to_string(&stderr).unwrap_or_default();
        let rest = log.split("is serving on ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    })
    .await;
    let (owner, _) = common::sign_in_owner(&url, PASSWORD).await;
    owner
        .create_app(
            "web",
            Some("db_username = \"Jane\"\ndb_password = \"12345qwerty\"\n"),
            Some(serde_json::json!({ "folder": "web", "command": "sh app.sh" })),
        )
        .await
        .unwrap();
    let started = apps.join("web/started");
    let both =
        || fs::read_to_string(&stdout).unwrap_or_default() + &fs::read_to_string(&stderr).unwrap();
    let first: u32 = until("the app's lines in the server's log", async || {
        let log = both();
        let pid = fs::read_to_string(&started).ok()?.trim().parse().ok()?;
        (log.contains(" end") && log.contains("stderr: user")).then_some(pid)
    })
    .await;

    // A new password restarts the app: old and new are both masked.
    owner
        .save_secrets(
            "web",
            "db_username = \"Jane\"\ndb_password = \"n3w-passw0rd\"\n",
            1,
            None,
        )
        .await
        .unwrap();
    until("the restarted app's lines", async || {
        let pid: u32 = fs::read_to_string(&started).ok()?.trim().parse().ok()?;
        (pid != first && both().matches(" end").count() >= 2).then_some(())
    })
    .await;
    let _ = serve.kill();
    let _ = serve.wait();

    let log = both();
    for value in ["Jane", "12345qwerty", "n3w-passw0rd"] {
        assert!(
            !log.contains(value),
            "the server's log holds {value:?}:\n{log}"
        );
    }
    let out = fs::read_to_string(&stdout).unwrap();
    assert!(
        out.contains("user <concealed by hush> pw <concealed by hush>"),
        "the app's output is still there, masked:\n{out}"
    );
    assert_eq!(out.matches("<concealed by hush> end").count(), 2, "{out}");
}
