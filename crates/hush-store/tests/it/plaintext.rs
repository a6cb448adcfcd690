//! No secret value ever reaches the disk in plain text: not the SQLite database file, not its
//! write-ahead log (read while the pool is still open, so the WAL still holds the writes), not
//! a backup. The search is proven to work by finding the app's name, which is stored in clear.

use hush_crypto::{DataKey, MasterKey, version_aad};
use hush_store::*;
use serde_json::json;

const APP_NAME: &str = "canary-billing-service";

/// Distinctive values that cannot turn up by chance.
const SECRETS: [&str; 4] = [
    "sk_live_CANARY_51HxQ2eZvKYlo2C9wXq0",
    "correct-horse-CANARY-battery-staple",
    "postgres://admin:CANARY-pw-8e1f@db.internal:5432/prod",
    "-----BEGIN CANARY PRIVATE KEY-----",
];

fn toml_text(version: usize) -> String {
    format!(
        "API_KEY = \"{}\"\nPASSPHRASE = \"{}\"\n\n[database]\nurl = \"{}\"\n\n[tls]\nkey = \"{}\"\nrevision = {version}\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]
    )
}

fn audit_event() -> AuditEvent {
    AuditEvent {
        at: 10,
        actor_kind: ActorKind::User,
        actor_id: Some(1),
        actor_name: Some("alice".into()),
        action: "secrets.update".into(),
        app_id: Some(4_242_424_242),
        app_name: Some(APP_NAME.into()),
        ip: Some("127.0.0.1".into()),
        outcome: Outcome::Ok,
        detail: json!({"version": 3, "keys": ["API_KEY", "database.url"]}),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_secret_value_reaches_the_disk_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("hush.db");
    let store = hush_store::sqlite::open(
        &format!("sqlite://{}", db_path.display()),
        Open::CreateIfMissing,
    )
    .await
    .unwrap();

    let master = MasterKey::generate();
    let data_key = DataKey::generate();
    let app_id = 4_242_424_242;
    let app = store
        .create_app(
            NewApp {
                id: app_id,
                name: APP_NAME.into(),
                wrapped_key: master.wrap(&data_key, app_id),
                key_id: master.key_id(),
                created_by: None,
                created_at: 1,
                launch: None,
            },
            audit_event(),
        )
        .await
        .unwrap();

    for v in 1..=3 {
        let sealed = data_key.seal(toml_text(v).as_bytes(), &version_aad(app_id, v as i64));
        store
            .create_version(
                app.id,
                v as i64 - 1,
                NewVersion {
                    version: v as i64,
                    author_id: None,
                    created_at: v as i64,
                    message: Some("rotate keys".into()),
                    ciphertext: sealed,
                    summary: json!({"changed": ["API_KEY", "database.url"]}),
                    restored_from: None,
                },
                audit_event(),
            )
            .await
            .unwrap();
    }

    // What was stored opens again to the same text, through the wrapped key.
    let stored = store.latest_version(app.id).await.unwrap().unwrap();
    let reopened_key = master
        .unwrap(&store.get_app(app.id).await.unwrap().wrapped_key, app.id)
        .unwrap();
    let plain = reopened_key
        .open(&stored.ciphertext, &version_aad(app.id, 3))
        .unwrap();
    assert_eq!(plain.as_slice(), toml_text(3).as_bytes());

    let backup = dir.path().join("backup.db");
    hush_store::sqlite::backup(&store, &backup).await.unwrap();

    // Read everything on disk while the pool is still open.
    let wal_path = dir.path().join("hush.db-wal");
    let db = std::fs::read(&db_path).unwrap();
    let wal = std::fs::read(&wal_path).expect("the WAL file exists while the store is open");
    let shm = std::fs::read(dir.path().join("hush.db-shm")).unwrap_or_default();
    let copy = std::fs::read(&backup).unwrap();
    assert!(!wal.is_empty(), "the WAL holds the writes");

    for (label, bytes) in [
        ("database", &db),
        ("WAL", &wal),
        ("shm", &shm),
        ("backup", &copy),
    ] {
        for secret in SECRETS {
            assert!(
                !find(bytes, secret.as_bytes()),
                "{label} file holds a secret value in plain text"
            );
        }
        assert!(
            !find(bytes, master.to_encoded().as_bytes()),
            "{label} file holds the master key"
        );
    }
    // The control: the same search does find what is stored in clear.
    let live = [db.as_slice(), wal.as_slice()].concat();
    assert!(
        find(&live, APP_NAME.as_bytes()),
        "control: app name not found in db+WAL"
    );
    assert!(
        find(&copy, APP_NAME.as_bytes()),
        "control: app name not found in the backup"
    );
    assert!(find(&live, b"database.url"), "control: key path not found");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [&db_path, &wal_path, &backup] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
        }
    }

    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let url = format!("sqlite://{}", path.display());
    hush_store::sqlite::open(&url, Open::CreateIfMissing)
        .await
        .unwrap()
        .close()
        .await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let store = hush_store::sqlite::open(&url, Open::CreateIfMissing)
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    store.close().await;
}
