//! `hush admin backup`, `restore`, `verify`, `copy` and `rotate-master-key`, run as an operator
//! would, with each refusal.

use std::process::Command;

use sqlx::{Connection, SqliteConnection};

use super::workspace::Db::{Dir, Url};
use super::workspace::{self, APP, Embedded, admin, copy, fails, mode, ok};
use crate::args;
use crate::common::{self, HUSH, Server};
use hush_testkit::PgDatabase;

#[tokio::test]
async fn backup_restore_verify_and_every_refusal() {
    let source = Embedded::start();
    let (olivia, personal_token) = workspace::owner(&source.server.url).await;
    let app_token = workspace::fill(&olivia).await;
    let before = workspace::snapshot(&olivia).await;

    // A mistyped data directory is an error, and nothing is created: no database, no backup.
    let typo = source.path("dta");
    let backup = source.path("backup.db");
    let (_, err) = fails(admin("backup", Dir(&typo), args!["--to", backup], &[]));
    assert!(err.contains("there is no hush database"), "{err}");
    assert!(!typo.exists() && !backup.exists());
    let (_, err) = fails(admin("verify", Dir(&typo), &[], &[]));
    assert!(err.contains("master.key"), "{err}");

    // A backup while the server serves; secrets stay encrypted in it; never overwritten.
    let back_up = || admin("backup", Dir(&source.data()), args!["--to", backup], &[]);
    let out = ok(back_up());
    assert!(out.contains("Wrote a backup"), "{out}");
    assert_eq!(mode(&backup), 0o600);
    workspace::assert_no_plaintext(&backup, &[&app_token]);
    let (_, err) = fails(back_up());
    assert!(err.contains("already exists"), "{err}");

    // The backup is that one file: moved elsewhere alone, it restores whole.
    std::fs::create_dir(source.path("moved")).unwrap();
    let backup_alone = source.path("moved/backup.db");
    std::fs::copy(&backup, &backup_alone).unwrap();
    let backup = backup_alone;

    // Restore into a new data directory: created private, with everything in it.
    let restored = source.path("restored/data");
    let (_, err) = fails(admin(
        "restore",
        Dir(&restored),
        args!["--from", source.path("nope.db")],
        &[],
    ));
    assert!(err.contains("no backup file"), "{err}");
    let restore = || admin("restore", Dir(&restored), args!["--from", backup], &[]);
    let out = ok(restore());
    assert!(
        out.contains("Restored") && out.contains("versions 6"),
        "{out}"
    );
    assert_eq!(mode(&restored), 0o700);
    assert_eq!(mode(&restored.join("hush.db")), 0o600);

    // A second restore into it is refused and changes nothing.
    let (_, err) = fails(restore());
    assert!(
        err.contains("not empty") && err.contains("Nothing was written"),
        "{err}"
    );

    // Without the master key the server refuses to start (a new key could open nothing),
    // and verify says what is missing.
    let serve = common::serve_command()
        .arg("--data-dir")
        .arg(&restored)
        .env_remove("HUSH_MASTER_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{err}");
    assert!(
        err.contains("already holds apps") && err.contains("master.key"),
        "{err}"
    );
    assert!(!restored.join("master.key").exists());
    let (_, err) = fails(admin("verify", Dir(&restored), &[], &[]));
    assert!(err.contains("master.key"), "{err}");

    // A wrong key file: verify names every app and fails.
    let wrong = source.path("wrong.key");
    hush_crypto::MasterKey::create_file(&wrong).unwrap();
    let (out, err) = fails(admin(
        "verify",
        Dir(&restored),
        args!["--master-key-file", wrong],
        &[],
    ));
    for app in [APP, "web"] {
        assert!(
            out.contains(&format!("PROBLEM app \"{app}\"")) && out.contains("not in"),
            "{out}"
        );
    }
    assert!(err.contains("verify found 2 problem(s)"), "{err}");
    assert!(!out.contains("Verified"), "{out}");

    // With the right key: verified, and a server on the restored copy shows the same
    // workspace; the old personal and app tokens work there (tokens arrived).
    std::fs::copy(
        source.data().join("master.key"),
        restored.join("master.key"),
    )
    .unwrap();
    let out = ok(admin("verify", Dir(&restored), &[], &[]));
    assert!(out.contains("Verified 2 apps and 6 versions"), "{out}");
    let copy = Server::on_data_dir(&restored, 0);
    let on_copy = hush_client::api::Client::new(&copy.url, Some(personal_token)).unwrap();
    before.assert_kept_in(&workspace::snapshot(&on_copy).await);
    let runner = on_copy.with_token(app_token.clone());
    assert!(
        runner
            .secrets(APP)
            .await
            .unwrap()
            .toml
            .contains(workspace::CANARIES[0])
    );
    drop(copy);

    // Damage, each named by verify with its app and version: an altered ciphertext, a missing
    // version, a missing audit event, a row that cannot be read.
    let mut db =
        SqliteConnection::connect(&format!("sqlite://{}", restored.join("hush.db").display()))
            .await
            .unwrap();
    let app_id: i64 = sqlx::query_scalar("SELECT id FROM apps WHERE name = $1")
        .bind(APP)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let mut sealed: Vec<u8> =
        sqlx::query_scalar("SELECT ciphertext FROM versions WHERE app_id = $1 AND version = 2")
            .bind(app_id)
            .fetch_one(&mut db)
            .await
            .unwrap();
    *sealed.last_mut().unwrap() ^= 1;
    sqlx::query("UPDATE versions SET ciphertext = $1 WHERE app_id = $2 AND version = 2")
        .bind(&sealed)
        .bind(app_id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM versions WHERE app_id = $1 AND version = 3")
        .bind(app_id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE action = 'secrets.rollback' AND app_id = $1")
        .bind(app_id)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE versions SET summary = '{damaged' WHERE version = 1 \
         AND app_id = (SELECT id FROM apps WHERE name = 'web')",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let (out, err) = fails(admin("verify", Dir(&restored), &[], &[]));
    let at = |v: i64| format!("PROBLEM app \"{APP}\" (id {app_id}) version {v}");
    assert!(
        out.contains(&format!("{} does not decrypt", at(2))),
        "{out}"
    );
    assert!(out.contains(&format!("{} is missing", at(3))), "{out}");
    assert!(
        out.contains(&format!("{}: no audit event records it", at(4))),
        "{out}"
    );
    assert!(
        out.contains("PROBLEM app \"web\"")
            && out.contains("version 1 cannot be read")
            && out.contains("versions.summary is not valid JSON"),
        "{out}"
    );
    assert!(err.contains("verify found 4 problem(s)"), "{err}");
}

/// A backup killed halfway leaves no file under its name (the copy is written under another
/// and named only once whole and on disk); what older versions left then, a database without
/// members, is refused by restore instead of "restored".
#[tokio::test]
async fn a_killed_backup_leaves_no_backup_and_an_empty_one_is_refused() {
    let source = Embedded::start();
    let (olivia, _) = workspace::owner(&source.server.url).await;
    workspace::fill(&olivia).await;
    // Enough rows that the copy takes seconds.
    let db = source.data().join("hush.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000) \
         INSERT INTO audit (at, actor_kind, action, outcome, detail) \
         SELECT i, 'system', 'test.filler', 'ok', '{}' FROM n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let folder = source.path("backups");
    std::fs::create_dir(&folder).unwrap();
    let backup = folder.join("backup.db");
    let mut child = Command::new(HUSH)
        .args(args![
            "admin",
            "backup",
            "--data-dir",
            source.data(),
            "--to",
            backup
        ])
        .env_remove("HUSH_MASTER_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once the copy is being written (its partial file is growing), kill the backup.
    let partial = loop {
        let growing = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 64 * 1024));
        if let Some(path) = growing {
            break path;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it could be killed: make it longer"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_ne!(partial, backup, "the copy is written under another name");
    assert!(!backup.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!backup.exists(), "a killed backup leaves no backup");
    let (_, err) = fails(admin(
        "restore",
        Dir(&source.path("r1")),
        args!["--from", backup],
        &[],
    ));
    assert!(err.contains("no backup file"), "{err}");

    // What a backup cut short used to leave: the schema and no rows.
    let empty = source.path("empty/hush.db");
    std::fs::create_dir(source.path("empty")).unwrap();
    hush_store::sqlite::open(
        &format!("sqlite://{}", empty.display()),
        hush_store::Open::CreateIfMissing,
    )
    .await
    .unwrap()
    .close()
    .await;
    let restored = source.path("r2");
    let (_, err) = fails(admin(
        "restore",
        Dir(&restored),
        args!["--from", empty],
        &[],
    ));
    assert!(
        err.contains("holds no members") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!restored.join("hush.db").exists());

    // Left alone (without the filler rows, to be quick), the backup finishes under its name,
    // beside nothing but the killed one's partial files, and restores.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit WHERE action = 'test.filler'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let out = ok(admin(
        "backup",
        Dir(&source.data()),
        args!["--to", backup],
        &[],
    ));
    assert!(out.contains("Wrote a backup"), "{out}");
    for entry in std::fs::read_dir(&folder).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "backup.db" || name.starts_with(".backup.db.partial-"),
            "{name}"
        );
    }
    let out = ok(admin(
        "restore",
        Dir(&source.path("r3")),
        args!["--from", backup],
        &[],
    ));
    assert!(out.contains("Restored"), "{out}");
}

/// The way from one machine to a team: SQLite → PostgreSQL with `hush admin copy`, verified on
/// the target; a server on PostgreSQL then shows the same workspace. A backup made from
/// PostgreSQL holds no plaintext either, and restores into SQLite.
#[tokio::test]
async fn sqlite_to_postgres_copy_then_backup_from_postgres() {
    let Some(pg) = PgDatabase::create("sqlite_to_postgres_copy") else {
        return;
    };
    let source = Embedded::start();
    let (olivia, personal_token) = workspace::owner(&source.server.url).await;
    let app_token = workspace::fill(&olivia).await;
    let before = workspace::snapshot(&olivia).await;
    let from = format!("sqlite://{}", source.data().join("hush.db").display());
    let key_file = source.data().join("master.key");

    // A wrong key is refused before anything is written.
    let wrong = source.path("wrong.key");
    hush_crypto::MasterKey::create_file(&wrong).unwrap();
    let (_, err) = fails(copy(&from, &pg.url, &wrong));
    assert!(err.contains("nothing was copied"), "{err}");
    let (_, err) = fails(copy(source.path("nope.db"), &pg.url, &key_file));
    assert!(err.contains("cannot open the source"), "{err}");

    let out = ok(copy(&from, &pg.url, &key_file));
    assert!(out.contains("Copied") && out.contains("audit"), "{out}");
    assert!(out.contains("Verified 2 apps and 6 versions"), "{out}");
    // Copying again is refused: the target holds data now.
    let (_, err) = fails(copy(&from, &pg.url, &key_file));
    assert!(err.contains("not empty"), "{err}");

    let envs = [("HUSH_DATABASE_URL", pg.url.as_str())];
    let key = key_file.to_str().unwrap();
    let on_pg = Server::start(
        [
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--master-key-file",
            key,
        ],
        &envs,
        None,
    );
    let client = hush_client::api::Client::new(&on_pg.url, Some(personal_token)).unwrap();
    before.assert_kept_in(&workspace::snapshot(&client).await);
    // New rows get ids after the copied ones.
    client
        .save_secrets("web", "a = 3\n", 2, None)
        .await
        .unwrap();
    client
        .create_app_token("web", "after-copy", None)
        .await
        .unwrap();

    // verify on PostgreSQL with the key in the environment, as its servers get it.
    let encoded = hush_crypto::read_key_file(&source.data().join("master.key")).unwrap()[0]
        .to_encoded()
        .to_string();
    let out = ok(admin(
        "verify",
        Url(&pg.url),
        &[],
        &[("HUSH_MASTER_KEY", &encoded)],
    ));
    assert!(out.contains("Verified 2 apps and 7 versions"), "{out}");

    // A backup of the PostgreSQL database: a SQLite file without a plaintext value in it.
    let backup = source.path("from-postgres.db");
    ok(admin("backup", Url(&pg.url), args!["--to", backup], &[]));
    workspace::assert_no_plaintext(&backup, &[&app_token]);
    let restored = source.path("back-from-postgres");
    ok(admin(
        "restore",
        Dir(&restored),
        args!["--from", backup],
        &[],
    ));
    let out = ok(admin(
        "verify",
        Dir(&restored),
        args!["--master-key-file", key_file],
        &[],
    ));
    assert!(out.contains("Verified 2 apps and 7 versions"), "{out}");

    // Restore refuses the non-empty PostgreSQL database too.
    let (_, err) = fails(admin("restore", Url(&pg.url), args!["--from", backup], &[]));
    assert!(
        err.contains("cannot restore into") && err.contains("not empty"),
        "{err}"
    );
    // ... and restores into an empty one, where it verifies.
    let empty = PgDatabase::create("restore_into_postgres").unwrap();
    ok(admin(
        "restore",
        Url(&empty.url),
        args!["--from", backup],
        &[],
    ));
    let out = ok(admin(
        "verify",
        Url(&empty.url),
        args!["--master-key-file", key_file],
        &[],
    ));
    assert!(out.contains("Verified 2 apps and 7 versions"), "{out}");
}

/// `hush admin rotate-master-key` while a server keeps serving: reads and saves go on, a
/// server started from the rotated file reads everything, and `--drop-old` removes keys once
/// nothing uses them.
#[tokio::test]
async fn rotating_the_master_key_while_serving() {
    let ws = Embedded::start();
    let (olivia, _) = workspace::owner(&ws.server.url).await;
    olivia
        .create_app("web", Some("a = 1\n"), None)
        .await
        .unwrap();
    let key_file = ws.data().join("master.key");
    let old = hush_crypto::read_key_file(&key_file).unwrap()[0].key_id();

    let out = ok(admin("rotate-master-key", Dir(&ws.data()), &[], &[]));
    assert!(out.contains("Re-wrapped 1 data keys"), "{out}");
    let keys = hush_crypto::read_key_file(&key_file).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].key_id(), old);
    assert_eq!(mode(&key_file), 0o600);

    // The running server keeps serving; an app it creates now uses the new key (it re-reads
    // the file when it meets a key id it does not know).
    assert_eq!(olivia.secrets("web").await.unwrap().toml, "a = 1\n");
    olivia
        .save_secrets("web", "a = 2\n", 1, None)
        .await
        .unwrap();
    olivia
        .create_app("after", Some("b = 2\n"), None)
        .await
        .unwrap();

    // A second rotation, then the two old keys go.
    ok(admin("rotate-master-key", Dir(&ws.data()), &[], &[]));
    let out = ok(admin(
        "rotate-master-key",
        Dir(&ws.data()),
        args!["--drop-old"],
        &[],
    ));
    assert!(out.contains("Removed 2 unused master key(s)"), "{out}");
    assert_eq!(hush_crypto::read_key_file(&key_file).unwrap().len(), 1);

    let (data, port) = (ws.data(), ws.server.port());
    let Embedded { dir: _dir, server } = ws;
    drop(server);
    let fresh = Server::on_data_dir(&data, port);
    let (again, _) = workspace::owner(&fresh.url).await;
    assert_eq!(again.secrets("web").await.unwrap().toml, "a = 2\n");
    assert_eq!(again.secrets("after").await.unwrap().toml, "b = 2\n");
    let out = ok(admin("verify", Dir(&data), &[], &[]));
    assert!(out.contains("Verified 2 apps and 3 versions"), "{out}");
}

/// `hush serve` and `create-owner` create the data directory readable by its owner only;
/// `hush serve` refuses a master key file others can read, saying how to fix it.
#[test]
fn the_data_directory_is_private_and_a_readable_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("deep/data");
    let server = Server::on_data_dir(&data, 0);
    assert_eq!(mode(&dir.path().join("deep")), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    drop(server);

    let key = data.join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = common::hush(
        args![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--data-dir",
            data
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    drop(Server::on_data_dir(&data, 0));

    let owner_dir = dir.path().join("owner/data");
    common::create_owner(
        [std::ffi::OsStr::new("--data-dir"), owner_dir.as_os_str()],
        &[],
        workspace::PASSWORD,
    );
    assert_eq!(mode(&owner_dir), 0o700);
}

/// Long admin commands draw progress on a terminal, and print nothing but their result
/// elsewhere.
#[tokio::test]
async fn progress_shows_on_a_terminal_only() {
    let ws = Embedded::start();
    let (olivia, _) = workspace::owner(&ws.server.url).await;
    workspace::fill(&olivia).await;
    let data = ws.data();
    let piped = admin("verify", Dir(&data), &[], &[]);
    assert!(piped.status.success());
    assert_eq!(String::from_utf8_lossy(&piped.stderr), "");

    // `script` runs the command on a pseudo-terminal and keeps what it drew.
    let command = format!("{HUSH} admin verify --data-dir {}", data.display());
    let Ok(on_tty) = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("HUSH_MASTER_KEY")
        .output()
    else {
        eprintln!("SKIPPED (terminal): `script` (util-linux) is not installed");
        return;
    };
    let drawn = String::from_utf8_lossy(&on_tty.stdout);
    assert!(on_tty.status.success(), "{drawn}");
    assert!(
        drawn.contains("verifying") && drawn.contains("versions"),
        "{drawn}"
    );
    assert!(drawn.contains("Verified 2 apps"), "{drawn}");
}

/// When no owner is left (a database edited by hand), `hush admin restore-owner` makes a
/// member owner again; a name that is no member's is refused, naming it.
#[tokio::test]
async fn restore_owner_brings_back_an_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::create_owner(
        [std::ffi::OsStr::new("--data-dir"), data.as_os_str()],
        &[],
        workspace::PASSWORD,
    );
    let db = data.join("hush.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE users SET role = 'viewer'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, err) = fails(admin(
        "restore-owner",
        Dir(&data),
        args!["--name", "nobody"],
        &[],
    ));
    assert!(err.contains("no member is named \"nobody\""), "{err}");
    let out = ok(admin(
        "restore-owner",
        Dir(&data),
        args!["--name", "OLIVIA"],
        &[],
    ));
    assert!(out.contains("is an owner now"), "{out}");
    let role: String = sqlx::query_scalar("SELECT role FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(role, "owner");
}
