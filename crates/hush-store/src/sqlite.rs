//! SQLite backend: one file, one server process. WAL journal, a pool of readers beside a single
//! writer connection, `synchronous = FULL` (a commit is on the disk before anyone hears "saved";
//! the writer's group commit keeps that one fsync per group of saves). This module opens the
//! file (mode 0600); the [`Store`] methods themselves are `store.rs`'s.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sqlx::Executor;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;

use crate::rows::db_err;
use crate::store::SqlStore;
use crate::writer::{WriteMode, Writer};
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Readers for a small (2-core) server; SQLite in WAL mode lets them run beside the writer.
const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What each connection is set to. `synchronous = FULL`: in WAL mode, NORMAL would let a power
/// cut lose the newest commits, which a secrets manager must not.
const CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;";

const WRITE_MODE: WriteMode = WriteMode {
    // IMMEDIATE takes the write lock at once, so a transaction never fails half-way to get it.
    begin: "BEGIN IMMEDIATE",
    commit_can_be_unknown: false,
    save_many: crate::store::save_many_sqlite,
};

/// Opens the database `sqlite://PATH` names and runs its migrations. A new database file is
/// created readable by its owner only (mode 0600), and an existing one is set to 0600, along
/// with its `-wal` and `-shm` files (a warning when that fails). `sqlite::memory:` is refused:
/// it would lose everything at exit.
pub async fn open(url: &str, mode: Open) -> Result<SqlStore> {
    open_with_pragmas(url, mode, &[]).await
}

/// [`open`], with more `PRAGMA name = value` settings on every connection (e.g. a page limit).
pub async fn open_with_pragmas(
    url: &str,
    mode: Open,
    pragmas: &[(&str, &str)],
) -> Result<SqlStore> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Config(
            "an in-memory SQLite database would lose every secret at exit: use sqlite://PATH"
                .into(),
        ));
    }
    let path = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("cannot use the SQLite URL {url:?}: {e}")))?
        .get_filename()
        .to_owned();
    match mode {
        Open::CreateIfMissing => create_private_file(&path).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the database file {}: {e}",
                path.display()
            ))
        })?,
        Open::Existing if !path.is_file() => {
            return Err(StoreError::Config(format!(
                "there is no hush database at {} (check --data-dir or --database-url)",
                path.display()
            )));
        }
        Open::Existing => {}
    }
    sqlx::any::install_default_drivers();
    let options = AnyConnectOptions::from_str(&any_url(&path)).map_err(|e| {
        StoreError::Config(format!(
            "cannot use the SQLite file {}: {e}",
            path.display()
        ))
    })?;
    let mut setup = CONNECTION_PRAGMAS.to_string();
    for (name, value) in pragmas {
        setup.push_str(&format!(" PRAGMA {name} = {value};"));
    }
    let setup: std::sync::Arc<str> = setup.into();
    let pool = |size: u32| {
        let setup = setup.clone();
        AnyPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .after_connect(move |conn, _| {
                let setup = setup.clone();
                Box::pin(async move {
                    conn.execute(&*setup).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
    };
    let write = pool(1).await.map_err(|e| open_err(&path, e))?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&write)
        .await
        .map_err(|e| open_err(&path, e))?;
    if mode == Open::Existing && !has_schema(&write).await? {
        return Err(StoreError::Config(format!(
            "{} holds no hush database (check --data-dir or --database-url)",
            path.display()
        )));
    }
    MIGRATOR
        .run(&write)
        .await
        .map_err(|e| StoreError::Other(Box::new(e)))?;
    let read = pool(READERS).await.map_err(|e| open_err(&path, e))?;

    // A file hush created is 0600 already; one that existed is made so if we may (it may
    // belong to another user who shares it deliberately: then only warn).
    for file in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
        if let Err(e) = make_private(&file) {
            tracing::warn!(
                file = %file.display(),
                error = %e,
                "cannot make the database file readable by its owner only (mode 0600)"
            );
        }
    }
    let store = SqlStore {
        kind: Backend::Sqlite,
        read,
        writer: Writer::start(write, WRITE_MODE),
        events: None,
    };
    store.fill_name_keys().await?;
    Ok(store)
}

/// Copies `from` (either backend) into a new SQLite file at `path` (mode 0600): a backup that
/// `hush serve --database-url sqlite://PATH` or a restore can use as it is. Never overwrites a
/// file. The copy is written beside `path` under a temporary name and given its name only once
/// whole and on disk, so a failed or killed backup never leaves a file at `path` (a killed one
/// can leave its `.NAME.partial-…` file, which holds no plaintext either). Returns the rows
/// copied.
pub async fn backup(from: &dyn Store, path: &Path) -> Result<u64> {
    if path.exists() {
        return Err(exists(path));
    }
    let partial = partial_path(path);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        file.mode(0o600);
    }
    if let Err(e) = file.open(&partial) {
        return Err(StoreError::Config(format!(
            "cannot create the backup file {}: {e}",
            path.display()
        )));
    }
    let copied = async {
        let target = open(
            &format!("sqlite://{}", partial.display()),
            Open::CreateIfMissing,
        )
        .await?;
        let copied = target.import(from.export().await?).await;
        // Everything into the file itself, so the backup is that one file: closing the pool
        // does not wait for SQLite's own checkpoint, and a process that exits right after
        // could leave the rows in a -wal file beside an empty database.
        let copied = match copied {
            Ok(rows) => checkpoint(&target.read).await.map(|()| rows),
            Err(e) => Err(e),
        };
        target.close().await;
        copied
    }
    .await;
    let published = copied.and_then(|rows| publish(&partial, path).map(|()| rows));
    for file in [
        partial.clone(),
        sidecar(&partial, "-wal"),
        sidecar(&partial, "-shm"),
    ] {
        let _ = std::fs::remove_file(file);
    }
    published
}

fn exists(path: &Path) -> StoreError {
    StoreError::Conflict(format!(
        "{} already exists; a backup never overwrites a file",
        path.display()
    ))
}

/// A name beside `path` for the copy being written (hidden, and unique to this process).
fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    path.with_file_name(format!(".{name}.partial-{}-{nanos}", std::process::id()))
}

/// Puts the finished copy on disk and gives it its name, refusing to replace a file that
/// appeared there meanwhile (a hard link fails when the name is taken; a rename would not).
/// Where links cannot be made (FAT drives, many network shares) it is renamed after checking
/// that the name is free.
fn publish(partial: &Path, path: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Config(format!("cannot {what} the backup {}: {e}", path.display()))
    };
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("write", e))?;
    match std::fs::hard_link(partial, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists(path)),
        Err(_) if path.exists() => return Err(exists(path)),
        Err(_) => std::fs::rename(partial, path).map_err(|e| io("name", e))?,
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("write the folder of", e))
}

/// Moves every committed page from the write-ahead log into the database file and empties the
/// log; an error when another connection kept it from finishing.
async fn checkpoint(pool: &sqlx::AnyPool) -> Result<()> {
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    if busy != 0 {
        return Err(StoreError::Unavailable(
            "the copy could not be checkpointed into its file (it is in use)".into(),
        ));
    }
    Ok(())
}

async fn has_schema(pool: &sqlx::AnyPool) -> Result<bool> {
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(tables > 0)
}

/// The URL the `Any` driver opens: the path percent-encoded, the file opened read-write.
fn any_url(path: &Path) -> String {
    const PATH: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    format!(
        "sqlite://{}?mode=rw",
        utf8_percent_encode(&path.to_string_lossy(), PATH)
    )
}

fn open_err(path: &Path, e: sqlx::Error) -> StoreError {
    StoreError::Config(format!(
        "cannot open the SQLite database {}: {e}",
        path.display()
    ))
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `path` empty with mode 0600 unless it exists, so the database is never readable by
/// others, not even between its creation and a later chmod.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets mode 0600 on `path` if it exists.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
