//! `hush tokens create|list|revoke`.

use clap::Subcommand;
use serde_json::Value;

use super::output::{cell, print_list, time_cell, visible, visible_text};
use crate::profile::ServerArgs;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token. It is printed once, on standard output; keep it somewhere safe.
    Create {
        /// An app token, which reads this app's secrets (for `hush run`).
        #[arg(
            long,
            required_unless_present = "personal",
            conflicts_with = "personal"
        )]
        app: Option<String>,
        /// A personal access token, which acts as you (for scripts and CI).
        #[arg(long)]
        personal: bool,
        /// A name that says where the token is used.
        #[arg(long)]
        name: String,
        /// Let the token expire after this many days (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// An app's tokens (--app), or else your personal tokens. Never the tokens themselves.
    List {
        /// List this app's tokens instead of your personal ones.
        #[arg(long)]
        app: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once (its ID is in `hush tokens list`).
    Revoke {
        /// The token's ID (the ID column of `hush tokens list`).
        id: i64,
    },
}

pub async fn run(server: &ServerArgs, cmd: TokensCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        TokensCommand::Create {
            app,
            personal: _,
            name,
            expires_in_days,
        } => {
            let created = match &app {
                Some(app) => client.create_app_token(app, &name, expires_in_days).await?,
                None => client.create_personal_token(&name, expires_in_days).await?,
            };
            let what = match &app {
                Some(app) => format!("app token for {app}"),
                None => "personal access token".into(),
            };
            // The token alone on stdout (so `$(hush tokens create …)` works); the rest on stderr.
            eprintln!(
                "Created {what} \"{}\" (id {}). Copy it now: it is not shown again.",
                visible(&created.name),
                created.id
            );
            println!("{}", created.token);
            if let Some(run) = &created.run_command {
                eprintln!("Run the app with it:\n  {}", visible_text(run));
            }
        }
        TokensCommand::List { app, json } => {
            let tokens = client.tokens(app.as_deref()).await?;
            print_list(
                json,
                "tokens",
                tokens,
                Some("No tokens."),
                &[
                    "ID",
                    "NAME",
                    "PREFIX",
                    "APP",
                    "ENV",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED",
                    "STATE",
                ],
                token_row,
            )?;
        }
        TokensCommand::Revoke { id } => {
            client.revoke_token(id).await?;
            println!("Revoked token {id}.");
        }
    }
    Ok(())
}

fn token_row(t: &Value) -> Vec<String> {
    let state = if !t["revoked_at"].is_null() {
        "revoked"
    } else if t["expires_at"]
        .as_i64()
        .is_some_and(|e| e <= super::output::now_millis())
    {
        "expired"
    } else {
        "active"
    };
    vec![
        cell(&t["id"]),
        cell(&t["name"]),
        format!("{}…", cell(&t["prefix"])),
        cell(&t["app"]),
        cell(&t["env"]),
        time_cell(&t["created_at"]),
        if t["expires_at"].is_null() {
            "never".into()
        } else {
            time_cell(&t["expires_at"])
        },
        time_cell(&t["last_used_at"]),
        state.into(),
    ]
}
