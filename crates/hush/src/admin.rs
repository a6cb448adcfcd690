//! `hush admin …`: work on the database directly, with or without a server running: the first
//! owner, master-key rotation, and backup, restore, copy and verify. Every command but
//! `create-owner` (and the target of `restore` and `copy`) opens an existing database only: a
//! mistyped `--data-dir` is an error, never a new empty database.

mod copy;
mod progress;
mod rotate;
mod verify;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hush_crypto::MasterKey;
use hush_store::{ActorKind, AuditEvent, NewUser, Open, Outcome, Role, Store};

use crate::serve;

#[derive(Args, Debug)]
pub struct DbArgs {
    /// Data directory of the embedded database (as for `hush serve`).
    #[arg(long, env = "HUSH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "HUSH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl DbArgs {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(serve::default_data_dir)
    }

    /// The embedded database's file, unless a database URL was given.
    fn embedded_file(&self) -> Option<PathBuf> {
        match self.database_url {
            Some(_) => None,
            None => Some(self.data_dir().join("hush.db")),
        }
    }

    fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| sqlite_url(&self.data_dir().join("hush.db")))
    }

    /// Where a key file is looked for when none is named: only beside the embedded database
    /// (a shared database's servers are given their key explicitly).
    fn default_key_dir(&self) -> Option<PathBuf> {
        self.embedded_file().map(|_| self.data_dir())
    }

    /// The existing hush database these arguments name; never creates one.
    async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(hush_store::open(&self.url(), Open::Existing).await?)
    }
}

/// Which master keys open the apps' data keys: `HUSH_MASTER_KEY`, else the key file.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The master key file (default: DATA_DIR/master.key). HUSH_MASTER_KEY, when set, is used
    /// instead, as by `hush serve`.
    #[arg(long, env = "HUSH_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The keys, and where they came from (for messages).
    fn load(&self, data_dir: Option<&Path>) -> anyhow::Result<(Vec<MasterKey>, String)> {
        if let Some(keys) = serve::keys_from_env()? {
            return Ok((keys, "HUSH_MASTER_KEY".into()));
        }
        let path = match (&self.master_key_file, data_dir) {
            (Some(path), _) => path.clone(),
            (None, Some(dir)) => dir.join("master.key"),
            (None, None) => {
                bail!("give the master key: --master-key-file PATH, or HUSH_MASTER_KEY")
            }
        };
        let keys = hush_crypto::read_key_file(&path)?;
        Ok((keys, path.display().to_string()))
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create the first owner without the setup link. The password is read from
    /// HUSH_OWNER_PASSWORD or, else, from standard input. The only admin command that creates
    /// a database (and its data directory, readable by its owner only) when there is none.
    CreateOwner {
        /// The owner's member name (letters, digits, . _ @ + -; an email address works).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make an existing member an owner, whatever the others' roles: the way back when no
    /// owner is left (the server never lets the last owner go, but a database edit could).
    RestoreOwner {
        /// The member's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Re-wrap every app's data key under a new master key, while servers keep serving.
    /// The new key is put first in the key file; the old one stays (servers that have not
    /// restarted still use it) until `--drop-old` is given on a later run.
    RotateMasterKey {
        /// The key file the servers read (default: DATA_DIR/master.key).
        #[arg(long, env = "HUSH_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
        /// Remove keys that no app uses any more from the file instead of rotating.
        #[arg(long)]
        drop_old: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Write a consistent copy of the database (either backend) to a new SQLite file. Secrets
    /// stay encrypted in it; the master key is not in it: back that up apart.
    Backup {
        /// The backup file to create; an existing file is never overwritten.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Copy a backup into a database that holds no hush data yet (a new data directory, or an
    /// empty PostgreSQL database with --database-url). A database that holds data is refused.
    Restore {
        /// A file written by `hush admin backup`.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check the whole database with the master key: every version of every app opens,
    /// versions run from 1 without gaps, and each has its audit event. Exits non-zero, naming
    /// each problem, when anything is wrong.
    Verify {
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Copy everything (apps, versions, members, tokens, audit log) from one database into
    /// another that holds no hush data yet, e.g. from SQLite to PostgreSQL, then verify the
    /// copy. Stop the servers first: saves made after the copy began are not in it.
    Copy {
        /// The database to copy: sqlite://PATH or postgres://…
        #[arg(long)]
        from: String,
        /// The database to copy into: a new sqlite://PATH, or an empty postgres://… database.
        #[arg(long)]
        to: String,
        /// The master key file, to verify the copy (or HUSH_MASTER_KEY).
        #[arg(long, env = "HUSH_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
    },
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateOwner { name, db } => create_owner(&name, &db).await,
        AdminCommand::RestoreOwner { name, db } => {
            let store = db.open().await?;
            let event = AuditEvent {
                at: hush_store::now_millis(),
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: None,
                action: "member.role".into(),
                app_id: None,
                app_name: None,
                ip: None,
                outcome: Outcome::Ok,
                detail: serde_json::json!({ "by": "hush admin restore-owner" }),
            };
            let user = store.restore_owner(&name, event).await.map_err(|e| match e {
                hush_store::StoreError::NotFound => anyhow::anyhow!(
                    "no member is named {name:?}; `hush members list` (or the panel's Members page) shows the names"
                ),
                e => e.into(),
            })?;
            println!("{} (id {}) is an owner now.", user.name, user.id);
            Ok(())
        }
        AdminCommand::RotateMasterKey {
            master_key_file,
            drop_old,
            db,
        } => {
            let path = master_key_file.unwrap_or_else(|| db.data_dir().join("master.key"));
            let store = db.open().await?;
            if drop_old {
                let dropped = rotate::drop_unused_keys(store.as_ref(), &path).await?;
                println!(
                    "Removed {dropped} unused master key(s) from {}.",
                    path.display()
                );
            } else {
                let report = rotate::rotate_key_file(store.as_ref(), &path).await?;
                println!(
                    "Re-wrapped {} data keys under the new master key {}. Back up {} now. Once every server \
                     has restarted, run `hush admin rotate-master-key --drop-old` to remove the old key.",
                    report.rewrapped,
                    report.new_key_id,
                    path.display()
                );
            }
            Ok(())
        }
        AdminCommand::Backup { to, db } => {
            let store = db.open().await?;
            let rows = hush_store::sqlite::backup(store.as_ref(), &to).await?;
            println!(
                "Wrote a backup of {rows} rows to {}. The master key is not in it: back that up separately.",
                to.display()
            );
            Ok(())
        }
        AdminCommand::Restore { from, db } => restore(&from, &db).await,
        AdminCommand::Verify { keys, db } => {
            let (keys, source) = keys.load(db.default_key_dir().as_deref())?;
            let store = db.open().await?;
            verify::run(store.as_ref(), &keys, &source).await
        }
        AdminCommand::Copy {
            from,
            to,
            master_key_file,
        } => {
            let (keys, source) = KeyArgs { master_key_file }.load(None)?;
            copy::copy(&from, &to, &keys, &source).await
        }
    }
}

async fn restore(from: &Path, db: &DbArgs) -> anyhow::Result<()> {
    if !from.is_file() {
        bail!(
            "there is no backup file at {}: give a file written by `hush admin backup --to`",
            from.display()
        );
    }
    let source = hush_store::open(&sqlite_url(from), Open::Existing)
        .await
        .with_context(|| format!("cannot read the backup {}", from.display()))?;
    // Every workspace worth restoring has its owner: a file without members is not a backup
    // (a copy cut short by an older hush, or a database never set up), and restoring it would
    // look like success.
    if source.user_count().await? == 0 {
        bail!(
            "{} holds no members, so it is not a whole backup; nothing was written",
            from.display()
        );
    }
    if db.embedded_file().is_some() {
        serve::create_data_dir(&db.data_dir())?;
    }
    let (_, rows) = copy::into_new_database(source.as_ref(), &db.url(), "restore").await?;
    println!(
        "Restored {rows} from {} into {}.",
        from.display(),
        serve::redact_password(&db.url())
    );
    println!(
        "The master key is not in a backup: put the key file the backup was made with where the \
         server reads it{}, then run `hush admin verify`.",
        match db.embedded_file() {
            Some(_) => format!(" ({})", db.data_dir().join("master.key").display()),
            None => String::new(),
        }
    );
    Ok(())
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn create_owner(name: &str, db: &DbArgs) -> anyhow::Result<()> {
    if db.embedded_file().is_some() {
        serve::create_data_dir(&db.data_dir())?;
    }
    let store = hush_store::open(&db.url(), Open::CreateIfMissing).await?;
    if store.user_count().await? > 0 {
        bail!(
            "this workspace already has members; an owner can invite more from the panel or with `hush members invite`"
        );
    }
    hush_store::check_member_name(name).map_err(|rule| anyhow::anyhow!(rule))?;
    let password = match std::env::var("HUSH_OWNER_PASSWORD") {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Password for {name}: "))?
        }
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    hush_crypto::password::check_rules(&password).map_err(|rule| anyhow::anyhow!(rule))?;
    let password_hash =
        tokio::task::spawn_blocking(move || hush_crypto::password::hash(&password)).await?;
    let now = hush_store::now_millis();
    let user = store
        .create_first_owner(
            NewUser {
                name: name.to_string(),
                role: Role::Owner,
                password_hash,
                created_at: now,
            },
            AuditEvent {
                at: now,
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: Some(name.to_string()),
                action: "setup.owner_created".into(),
                app_id: None,
                app_name: None,
                ip: None,
                outcome: Outcome::Ok,
                detail: serde_json::json!({ "by": "hush admin create-owner" }),
            },
        )
        .await?;
    println!("Created owner {} (id {}).", user.name, user.id);
    Ok(())
}
