//! A workspace worth backing up, and a way to compare two: apps with several versions (a
//! rollback among them), an app token, a second member, and the audit log they wrote.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use hush_client::api::Client;
use serde_json::Value;

use crate::common::{self, Server};

pub const PASSWORD: &str = "a long enough password 42";
pub const APP: &str = "canary-billing";
/// Secret values that cannot turn up by chance: no database file or backup may hold them.
pub const CANARIES: [&str; 3] = [
    "sk_live_CANARY_d7f3e1a9",
    "pw-CANARY-9b2c-unique",
    "CANARY-only-in-version-three",
];

/// A data directory with its owner (olivia) and a server on it.
pub struct Embedded {
    pub dir: tempfile::TempDir,
    pub server: Server,
}

impl Embedded {
    pub fn start() -> Embedded {
        let (dir, server) = common::served_workspace(&[], PASSWORD);
        Embedded { dir, server }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Signs olivia in at `url`: a client with her new personal token, and the token.
pub async fn owner(url: &str) -> (Client, String) {
    common::sign_in_owner(url, PASSWORD).await
}

/// Fills the workspace; returns an app token for [`APP`].
pub async fn fill(olivia: &Client) -> String {
    let v1 = format!("API_KEY = \"{}\"\n", CANARIES[0]);
    olivia.create_app(APP, Some(&v1), None).await.unwrap();
    let v2 = format!("{v1}\n[db]\npassword = \"{}\"\n", CANARIES[1]);
    olivia.save_secrets(APP, &v2, 1, Some("db")).await.unwrap();
    let v3 = format!("{v2}extra = \"{}\"\n", CANARIES[2]);
    olivia.save_secrets(APP, &v3, 2, None).await.unwrap();
    olivia.rollback(APP, 1, 3).await.unwrap();
    olivia
        .create_app("web", Some("a = 1\n"), None)
        .await
        .unwrap();
    olivia
        .save_secrets("web", "a = 2\n", 1, None)
        .await
        .unwrap();
    let invite = olivia.invite("viewer").await.unwrap();
    let link = invite["url"].as_str().unwrap();
    let token = link.rsplit_once('#').unwrap().1;
    Client::new(olivia.server(), None)
        .unwrap()
        .accept_invite(token, "victor", PASSWORD)
        .await
        .unwrap();
    olivia
        .create_app_token(APP, "reader", None)
        .await
        .unwrap()
        .token
}

/// What the API shows of a workspace: every version of every app with its text, the members,
/// and the audit log.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub versions: Vec<(String, i64, String)>,
    pub members: Vec<String>,
    pub audit: Vec<Value>,
}

pub async fn snapshot(client: &Client) -> Snapshot {
    let mut versions = Vec::new();
    for name in names(&client.apps().await.unwrap()) {
        for info in client.versions(&name).await.unwrap() {
            let text = client.version(&name, info.version).await.unwrap().toml;
            versions.push((name.clone(), info.version, text));
        }
    }
    versions.sort();
    let mut members = names(&client.members().await.unwrap());
    members.sort();
    let audit = client
        .audit_export("")
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    Snapshot {
        versions,
        members,
        audit,
    }
}

/// The `name` of each of the API's `entries` (apps, members).
fn names(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| entry["name"].as_str().unwrap().to_string())
        .collect()
}

impl Snapshot {
    /// `later` shows this workspace as it was, plus only what happened since (the audit
    /// events of reading it back).
    pub fn assert_kept_in(&self, later: &Snapshot) {
        assert_eq!(self.versions, later.versions);
        assert_eq!(self.members, later.members);
        let newest = self.audit.iter().map(|e| e["id"].as_i64().unwrap()).max();
        let mut kept: Vec<&Value> = later
            .audit
            .iter()
            .filter(|e| Some(e["id"].as_i64().unwrap()) <= newest)
            .collect();
        kept.reverse();
        let mut before: Vec<&Value> = self.audit.iter().collect();
        before.reverse();
        assert_eq!(before, kept, "the audit log arrived whole");
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Fails when `file` holds any secret value; shows that the search works by finding the app's
/// name, which is stored in clear.
pub fn assert_no_plaintext(file: &Path, tokens: &[&str]) {
    let bytes = std::fs::read(file).unwrap();
    for value in CANARIES.iter().chain(tokens).chain([&PASSWORD]) {
        assert!(
            !contains(&bytes, value),
            "{} holds the plaintext {value:?}",
            file.display()
        );
    }
    assert!(
        contains(&bytes, APP),
        "control: the app's name is in {} (beside it: {:?})",
        file.display(),
        std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Where an admin command finds its database.
#[derive(Clone, Copy)]
pub enum Db<'a> {
    Dir(&'a Path),
    Url(&'a str),
}

/// `hush admin COMMAND --data-dir DIR | --database-url URL MORE…` with `envs`.
pub fn admin(command: &str, db: Db, more: &[&OsStr], envs: &[(&str, &str)]) -> Output {
    let (flag, value) = match db {
        Db::Dir(dir) => ("--data-dir", dir.as_os_str()),
        Db::Url(url) => ("--database-url", OsStr::new(url)),
    };
    let head = ["admin", command, flag].map(OsStr::new);
    common::hush(
        head.iter()
            .copied()
            .chain([value])
            .chain(more.iter().copied()),
        envs,
    )
}

/// `hush admin copy --from FROM --to TO --master-key-file KEY`.
pub fn copy(from: impl AsRef<OsStr>, to: &str, key: &Path) -> Output {
    common::hush(
        crate::args![
            "admin",
            "copy",
            "--from",
            from,
            "--to",
            to,
            "--master-key-file",
            key
        ],
        &[],
    )
}

/// What a command that succeeded printed; fails the test, with its errors, if it failed.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "hush failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What a command that failed printed (stdout, stderr); fails the test if it succeeded.
pub fn fails(out: Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(
        !out.status.success(),
        "hush should have failed:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// `&OsStr`s from anything path- or string-like, for argument lists.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new(&$a)),*] };
}
