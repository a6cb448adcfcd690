//! Shared by the binary's integration tests: the real `hush serve` on a free port, and the
//! owner created with `hush admin create-owner`.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const HUSH: &str = env!("CARGO_BIN_EXE_hush");

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// `hush serve ARGS` with `envs`; returns once it says where it serves. What it logs after
    /// that goes to `log` when given (else nowhere), so it never blocks on a full pipe.
    pub fn start<I, S>(args: I, envs: &[(&str, &str)], log: Option<&Path>) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(HUSH)
            .arg("serve")
            .args(args)
            .env("HUSH_LOG", "warn")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hush serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("hush serve exited before serving:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.split("is serving on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let mut sink: Box<dyn Write + Send> = match log {
            Some(path) => Box::new(std::fs::File::create(path).unwrap()),
            None => Box::new(std::io::sink()),
        };
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut sink));
        Server { child, url }
    }

    /// The usual test server: SQLite in `data`, on `port` (0 for any), no metrics listener.
    pub fn on_data_dir(data: &Path, port: u16) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let args: [&OsStr; 6] = [
            "--listen".as_ref(),
            listen.as_ref(),
            "--metrics-listen".as_ref(),
            "off".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ];
        Server::start(args, &[], None)
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL by PID: no goodbye to the watch streams.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `hush admin create-owner --name olivia DB_ARGS` with `password`, plus `envs`.
pub fn create_owner<I, S>(db_args: I, envs: &[(&str, &str)], password: &str)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(HUSH)
        .args(["admin", "create-owner", "--name", "olivia"])
        .args(db_args)
        .envs(envs.iter().copied())
        .env("HUSH_OWNER_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-owner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A temporary directory with the folders `subs` (the one named `data` holds the database),
/// the owner `olivia` made there with `password` ([`create_owner`]), and `hush serve` on it.
pub fn served_workspace(subs: &[&str], password: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    for sub in subs {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let data = dir.path().join("data");
    create_owner([OsStr::new("--data-dir"), data.as_os_str()], &[], password);
    let server = Server::on_data_dir(&data, 0);
    (dir, server)
}

/// Fails the test, with what the command wrote to standard error, unless it succeeded.
#[track_caller]
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails the test, with what the command wrote to standard output, unless it failed; returns
/// what it wrote to standard error (what a refusal explains itself with).
#[track_caller]
pub fn assert_failure(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The lines of a file a test's app appends to (none while it does not exist).
pub fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Signs the owner `olivia` in at `url` with `password`: a client with her new personal token,
/// and the token.
pub async fn sign_in_owner(url: &str, password: &str) -> (hush_client::api::Client, String) {
    let anonymous = hush_client::api::Client::new(url, None).unwrap();
    let token = anonymous
        .login("olivia", password, "tests")
        .await
        .unwrap()
        .token;
    (anonymous.with_token(token.clone()), token)
}

/// Writes `text` to `path` (making its folder) as an executable: a stand-in for a program.
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `hush` with nothing from the test's environment but `PATH`: its home, config, cache and
/// temporary folders in `dir` (which has them, and `work`, where it runs), signed in to `server`
/// with `token`.
pub fn isolated_hush(dir: &Path, server: &str, token: &str) -> Command {
    let mut cmd = Command::new(HUSH);
    cmd.current_dir(dir.join("work"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("TMPDIR", dir.join("tmp"))
        .env("HUSH_SERVER", server)
        .env("HUSH_TOKEN", token)
        .env("HUSH_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// How long [`until`] waits.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `check` until it gives a value; panics with `what` after [`DEADLINE`].
pub async fn until<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    until_within(what, DEADLINE, check).await
}

/// Polls until the file at `path` holds `needle`; panics with `what` after [`DEADLINE`].
pub async fn until_file_holds(what: &str, path: &Path, needle: &str) {
    until(what, async || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle).then_some(())
    })
    .await
}

/// Polls `check` until it gives a value; panics with `what` after `limit`.
pub async fn until_within<T>(
    what: &str,
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// `hush serve` on any free port of 127.0.0.1 with no metrics listener, for a test to finish
/// (where the data is, how it runs).
pub fn serve_command() -> Command {
    let mut cmd = Command::new(HUSH);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "off",
    ]);
    cmd
}

/// `hush ARGS` with `envs` and nothing on standard input; what it printed and how it ended.
pub fn hush<I, S>(args: I, envs: &[(&str, &str)]) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(HUSH)
        .args(args)
        .env_remove("HUSH_DATA_DIR")
        .env_remove("HUSH_DATABASE_URL")
        .env_remove("HUSH_MASTER_KEY")
        .env_remove("HUSH_MASTER_KEY_FILE")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run hush")
}

/// A fresh master key, base64 (what HUSH_MASTER_KEY takes).
pub fn new_master_key() -> String {
    hush_crypto::MasterKey::generate().to_encoded().to_string()
}
