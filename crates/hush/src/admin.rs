//! `hush admin …`: work on the database directly, with or without a server running.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use hush_store::{ActorKind, AuditEvent, NewUser, Outcome, Role, Store};

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
            .unwrap_or_else(crate::serve::default_data_dir)
    }

    fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("hush.db").display()))
    }

    async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        Ok(hush_store::connect(&self.url()).await?)
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create the first owner without the setup link. The password is read from
    /// HUSH_OWNER_PASSWORD or, else, from standard input.
    CreateOwner {
        /// The owner's member name (letters, digits, . _ @ + -; an email address works).
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
    /// Write a consistent copy of the embedded database (secrets stay encrypted in it).
    Backup {
        /// The file to write the copy to.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateOwner { name, db } => create_owner(&name, &db).await,
        AdminCommand::RotateMasterKey {
            master_key_file,
            drop_old,
            db,
        } => {
            let path = master_key_file.unwrap_or_else(|| db.data_dir().join("master.key"));
            let store = db.open().await?;
            if drop_old {
                let dropped = hush_server::vault::drop_unused_keys(store.as_ref(), &path).await?;
                println!(
                    "Removed {dropped} unused master key(s) from {}.",
                    path.display()
                );
            } else {
                let report = hush_server::vault::rotate_key_file(store.as_ref(), &path).await?;
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
            hush_store::sqlite::backup(store.as_ref(), &to).await?;
            println!(
                "Wrote a backup to {}. The master key is not in it: back that up separately.",
                to.display()
            );
            Ok(())
        }
    }
}

async fn create_owner(name: &str, db: &DbArgs) -> anyhow::Result<()> {
    let store = db.open().await?;
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
