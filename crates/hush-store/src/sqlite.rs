//! SQLite backend: one file, one server process. WAL journal, a pool of readers and a single
//! writer connection (so writes never wait on each other's locks inside this process).
//! This module opens the file (mode 0600) and does what only SQLite does (`VACUUM INTO`
//! backups); the [`Store`] methods themselves are `shared.rs`'s.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};

use crate::rows::db_err;
use crate::shared::Backend;
use crate::*;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Readers for a small (2-core) server; SQLite in WAL mode lets them run beside the writer.
const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    read: SqlitePool,
    /// Exactly one connection: SQLite has one writer at a time anyway.
    write: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating when missing) the database `sqlite://PATH` names and runs its migrations.
    /// A new database file is created readable by its owner only (mode 0600), and an existing
    /// one is set to 0600, along with its `-wal` and `-shm` files (a warning when that fails).
    /// `sqlite::memory:` is refused: it would lose everything at exit.
    pub async fn connect(url: &str) -> Result<SqliteStore> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Config(
                "an in-memory SQLite database would lose every secret at exit: use sqlite://PATH"
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("cannot use the SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_owned();
        create_private_file(&path).map_err(|e| {
            StoreError::Config(format!(
                "cannot create the database file {}: {e}",
                path.display()
            ))
        })?;

        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(&path, e))?;
        MIGRATOR
            .run(&write)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(|e| open_err(&path, e))?;

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
        Ok(SqliteStore { read, write, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, checkpointing the WAL into the database file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
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

/// Reads on the reader pool, writes on the single writer connection.
#[async_trait::async_trait]
impl Backend for SqliteStore {
    type Db = Sqlite;

    const NAME: &'static str = "sqlite";

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// One process is the only server: nobody to tell.
    async fn version_created(
        &self,
        _tx: &mut Transaction<'_, Sqlite>,
        _event: &StoreEvent,
    ) -> Result<()> {
        Ok(())
    }

    async fn publish_event(&self, _event: StoreEvent) -> Result<()> {
        Ok(())
    }

    async fn event_stream(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        Ok(None)
    }

    /// `VACUUM INTO` a new file created with mode 0600; refuses to overwrite an existing file
    /// (`Conflict`).
    async fn write_backup(&self, path: &Path) -> Result<()> {
        let target = path.to_str().ok_or_else(|| {
            StoreError::Config(format!("backup path {} is not valid UTF-8", path.display()))
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Conflict(format!(
                    "{} already exists; a backup never overwrites a file",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Other(
                    format!("cannot create backup file {}: {e}", path.display()).into(),
                ));
            }
        }
        // VACUUM INTO accepts an existing empty file, and keeps the 0600 mode made above.
        if let Err(e) = sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.read)
            .await
        {
            let _ = std::fs::remove_file(path);
            return Err(db_err(e));
        }
        Ok(())
    }
}
