//! `hush run` against a real `hush serve`: the built binary on a free port with a temporary data
//! directory, driven through hush's own client. Each test has its own server, home and cache.
//! Nothing sleeps to wait for something: every wait polls with a deadline.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use hush_client::api::Client;
use serde_json::Value;

mod common;

use common::{HUSH, Server};
const PASSWORD: &str = "correct-horse-battery";
const DEADLINE: Duration = Duration::from_secs(30);

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
        let dir = tempfile::tempdir().unwrap();
        for sub in ["data", "home", "config", "cache", "tmp", "work"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let data = dir.path().join("data");
        let status = Command::new(HUSH)
            .args(["admin", "create-owner", "--name", "olivia", "--data-dir"])
            .arg(&data)
            .env("HUSH_OWNER_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "create-owner failed");
        let server = Server::on_data_dir(&data, 0);
        let anonymous = Client::new(&server.url, None).unwrap();
        let personal = anonymous.login("olivia", PASSWORD, "tests").await.unwrap();
        let owner = anonymous.with_token(personal.token);
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
        let mut cmd = Command::new(HUSH);
        cmd.current_dir(self.path("work"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("TMPDIR", self.path("tmp"))
            .env("HUSH_SERVER", &self.server.url)
            .env("HUSH_TOKEN", &self.token)
            .env("HUSH_LOG", "info")
            .stdin(Stdio::null());
        cmd
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

/// Polls `check` until it gives a value; panics with `what` after [`DEADLINE`].
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The lines of a file the app appends to (none while it does not exist).
fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn line_count(path: &Path, n: usize) -> Vec<String> {
    until(&format!("{n} line(s) in {}", path.display()), async || {
        let l = lines(path);
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
    fs::create_dir_all(fake.parent().unwrap()).unwrap();
    let mut f = fs::File::create(&fake).unwrap();
    writeln!(
        f,
        "#!/bin/sh\necho \"$$|$STREAMLIT_SERVER_RUN_ON_SAVE|$STREAMLIT_SECRETS_FILES|$A\" >> out.txt\nexec sleep 1000"
    )
    .unwrap();
    drop(f);
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();

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
    until("the secrets file to hold version 2", async || {
        let text = fs::read_to_string(&secrets_file).unwrap_or_default();
        text.contains("h2").then_some(())
    })
    .await;
    instance_at(&world, v2, pid).await;
    assert!(alive(pid), "rerun mode must not restart the app");
    assert_eq!(lines(&out).len(), 1, "the app was started once");
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
    until("hush run to notice the server is gone", async || {
        running
            .stderr()
            .contains("lost the hush server")
            .then_some(())
    })
    .await;
    assert!(
        running.still_running() && alive(pid),
        "the app keeps running"
    );

    world.restart_server();
    let v2 = world.save("A = \"two\"\n").await;
    until("version 2 after the server came back", async || {
        let text = fs::read_to_string(&secrets_file).unwrap_or_default();
        text.contains("two").then_some(())
    })
    .await;
    instance_at(&world, v2, pid).await;
    assert!(alive(pid));
    assert_eq!(lines(&out).len(), 1, "the app was never restarted");
    assert!(running.stderr().contains("connected to the hush server"));
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
    let refused = world
        .hush()
        .env("HUSH_TOKEN", "hush_app_not-a-real-token")
        .args(["run", "--app", "job", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
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

    // Another token cannot open it.
    let other = world
        .hush()
        .env("HUSH_TOKEN", "hush_app_another-token")
        .args(["run", "--app", "job", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success());
    assert!(stderr.contains("cannot be opened"), "{stderr}");

    // Another app has no copy.
    let none = world
        .hush()
        .args(["run", "--app", "other", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
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
    let off = world.run(&["--fallback-max-age", "0"], &["true"]);
    let stderr = String::from_utf8_lossy(&off.stderr);
    assert!(!off.status.success());
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
    let out = hush()
        .args(["run", "--local", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("No secrets found") && stderr.contains("hush init"),
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

    fs::write(&secrets, "A = \"two\"\nF = 2.0\n").unwrap();
    let second = line_count(&out, 2).await.remove(1);
    assert!(second.ends_with("|two|2.0"), "{second}");

    // An invalid edit is reported and changes nothing.
    fs::write(&secrets, "A = \"three\nF = 3.0\n").unwrap();
    until("the parse error to be reported", async || {
        running
            .stderr()
            .contains("the app keeps the last good secrets")
            .then_some(())
    })
    .await;
    assert!(running.stderr().contains("secrets.toml"));
    assert_eq!(lines(&out).len(), 2);
    assert!(running.still_running());

    fs::write(&secrets, "A = \"three\"\nF = 3.0\n").unwrap();
    let third = line_count(&out, 3).await.remove(2);
    assert!(third.ends_with("|three|3.0"), "{third}");
}
