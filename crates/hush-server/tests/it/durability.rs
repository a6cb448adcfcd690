//! Faults a secrets manager must survive without losing an acknowledged save: a full disk.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestServer;
use hush_crypto::MasterKey;
use hush_server::Keyring;

/// A small disk for the database: a 20 MiB tmpfs where this process may mount one (root), else
/// SQLite's own page limit (`PRAGMA max_page_count`) on an ordinary directory — so the test
/// always runs somewhere. Either way "freeing space" is deleting the ballast that filled it.
struct SmallDisk {
    dir: PathBuf,
    mounted: bool,
    _tmp: tempfile::TempDir,
}

const DISK_BYTES: u64 = 20 * 1024 * 1024;

impl SmallDisk {
    fn new() -> SmallDisk {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("disk");
        std::fs::create_dir(&dir).unwrap();
        // HUSH_TEST_NO_TMPFS=1 tries the page-limit way on a machine that could mount.
        let mounted = std::env::var_os("HUSH_TEST_NO_TMPFS").is_none()
            && std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={DISK_BYTES}"), "tmpfs"])
                .arg(&dir)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("NOTE: cannot mount a tmpfs here; using SQLite's max_page_count instead");
        }
        SmallDisk {
            dir,
            mounted,
            _tmp: tmp,
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join("hush.db").display())
    }

    async fn open(&self) -> std::sync::Arc<dyn hush_store::Store> {
        if self.mounted {
            hush_store::connect(&self.url()).await.unwrap()
        } else {
            let pages = (DISK_BYTES / 4096).to_string();
            std::sync::Arc::new(
                hush_store::sqlite::open_with_pragmas(
                    &self.url(),
                    hush_store::Open::CreateIfMissing,
                    &[("max_page_count", &pages)],
                )
                .await
                .unwrap(),
            )
        }
    }

    /// Fills what is left: a ballast file on the tmpfs (the database is left almost no room).
    fn fill(&self) -> Option<PathBuf> {
        if !self.mounted {
            return None;
        }
        use std::io::Write;
        let path = self.dir.join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xA5u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        Some(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

fn big_document(seed: usize, bytes: usize) -> String {
    let mut text = format!("seed = {seed}\n");
    let mut line = 0;
    while text.len() < bytes {
        let value: String = (0..64)
            .map(|i| char::from(b'a' + ((seed * 31 + line * 7 + i * 13) % 26) as u8))
            .collect();
        text.push_str(&format!("k{line} = \"{value}\"\n"));
        line += 1;
    }
    text
}

async fn ready_status(url: &str) -> (u16, String) {
    let response = reqwest::get(format!("{url}/api/v1/ready")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn sqlite_keeps_every_acknowledged_save_across_a_full_disk() {
    let disk = SmallDisk::new();
    let keyring_key = MasterKey::generate();
    let encoded = keyring_key.to_encoded();
    let store = disk.open().await;
    let server = TestServer::start_on(
        store,
        Keyring::from_keys(vec![MasterKey::from_encoded(&encoded).unwrap()]),
    )
    .await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    owner.create_app("ballast", None, None).await.unwrap();

    // Fill the disk: with a file on the tmpfs, or with ballast versions under the page limit.
    let ballast_file = disk.fill();
    let mut ballast_version: i64 = 0;
    if ballast_file.is_none() {
        // Big versions until one does not fit, then smaller ones, so no room is left.
        for size in [600_000, 200_000, 50_000, 10_000] {
            while let Ok(saved) = owner
                .save_secrets(
                    "ballast",
                    &big_document(ballast_version as usize, size),
                    ballast_version,
                    None,
                )
                .await
            {
                ballast_version = saved.version;
            }
        }
    }

    // Saves fail while the disk is full: a clear 503 that says nothing was saved.
    let mut acknowledged: Vec<(i64, String)> = vec![(1, "a = 1\n".into())];
    let mut base = 1;
    for attempt in 0..2 {
        let doc = big_document(1000 + attempt, 300_000);
        let err = match owner.save_secrets("web", &doc, base, None).await {
            Ok(saved) => panic!("a save on a full disk answered version {}", saved.version),
            Err(err) => err,
        };
        assert_eq!(err.status(), Some(503), "{err}");
        assert!(err.to_string().contains("nothing was saved"), "{err}");
    }
    let (status, body) = ready_status(&server.url).await;
    assert_eq!(status, 503, "not ready while writes fail: {body}");
    assert!(body.contains("writ"), "the reason is given: {body}");

    // Free the space: service resumes by itself, and every answered save is committed.
    match &ballast_file {
        Some(path) => std::fs::remove_file(path).unwrap(),
        None => owner.delete_app("ballast").await.unwrap(),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = ready_status(&server.url).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still not ready after space was freed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..8 {
        let doc = big_document(2000 + n, 50_000);
        let saved = owner.save_secrets("web", &doc, base, None).await.unwrap();
        assert_eq!(saved.version, base + 1);
        base = saved.version;
        acknowledged.push((base, doc));
    }
    let db_path = disk.dir.join("hush.db");
    assert_can_write_from_another_process(&db_path);
    server.stop().await;

    // After a restart every acknowledged version is there, with exactly its content.
    let store = disk.open().await;
    let server = TestServer::start_on(
        store,
        Keyring::from_keys(vec![MasterKey::from_encoded(&encoded).unwrap()]),
    )
    .await;
    let owner = server.login("olivia").await;
    let versions = owner.versions("web").await.unwrap();
    assert_eq!(
        versions.len(),
        acknowledged.len(),
        "contiguous, nothing lost, nothing extra"
    );
    for (version, text) in &acknowledged {
        let stored = owner.version("web", *version).await.unwrap();
        assert_eq!(&stored.toml, text, "version {version}");
    }
    let audit = owner.audit("action=secrets.update&app=web").await.unwrap();
    assert_eq!(
        audit.len(),
        acknowledged.len(),
        "each acknowledged save has its audit event"
    );
    server.stop().await;
}

/// The writer connection is not left inside an open transaction: another process can write.
fn assert_can_write_from_another_process(db: &Path) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1],timeout=2)\nc.execute('BEGIN IMMEDIATE')\nc.execute('ROLLBACK')\nprint('ok')",
        )
        .arg(db)
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "another process cannot take the write lock: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
