//! `hush apps list|create|delete|trust`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;

use super::formats::{self, Format};
use super::output::{ask, cell, print_list, time_cell};
use crate::profile::ServerArgs;

#[derive(Subcommand)]
pub enum AppsCommand {
    /// Apps with their newest version, who saved it and how many copies run.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create an app, optionally with its first secrets.
    Create {
        /// The new app's name: lowercase letters, digits, - and _ (at most 63).
        name: String,
        /// The first secrets: a TOML, JSON or .env file (by its extension).
        #[arg(long)]
        secrets_file: Option<PathBuf>,
        /// The secrets file's format, when the extension does not say.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Issuers whose signed tokens (CI jobs, platforms) a run may trade for this app's token.
    Trust {
        #[command(subcommand)]
        cmd: super::trust::TrustCommand,
    },
    /// Delete an app with all its versions and tokens.
    Delete {
        /// The app's name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(server: &ServerArgs, cmd: AppsCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        AppsCommand::List { json } => {
            let apps = client.apps().await?;
            print_list(
                json,
                "apps",
                apps,
                Some("No apps yet: create one with `hush apps create NAME`."),
                &["NAME", "VERSION", "UPDATED", "BY", "RUNNING"],
                app_row,
            )?;
        }
        AppsCommand::Create {
            name,
            secrets_file,
            format,
        } => {
            let toml = match &secrets_file {
                Some(path) => Some(read_secrets_file(path, format)?),
                None => None,
            };
            let app = client.create_app(&name, toml.as_deref(), None).await?;
            match app["latest_version"].as_i64() {
                Some(v) if v > 0 => println!("Created app {name} with its secrets as version {v}."),
                _ => println!(
                    "Created app {name}. Add secrets with `hush secrets edit {name}` or `hush secrets import {name} FILE`."
                ),
            }
        }
        AppsCommand::Trust { cmd } => super::trust::run(&client, cmd).await?,
        AppsCommand::Delete { name, yes } => {
            if !yes {
                let answer = ask(&format!(
                    "This deletes app {name} with every version of its secrets and its tokens.\nType the app's name to confirm: "
                ))?;
                if answer.as_deref().map(str::trim) != Some(name.as_str()) {
                    bail!("not confirmed; app {name} was not deleted");
                }
            }
            client.delete_app(&name).await?;
            println!("Deleted app {name}.");
        }
    }
    Ok(())
}

fn app_row(app: &Value) -> Vec<String> {
    let running = app["instances"].as_array().map_or(0, |list| {
        list.iter().filter(|i| i["status"] != "gone").count()
    });
    vec![
        cell(&app["name"]),
        cell(&app["latest_version"]),
        time_cell(&app["updated_at"]),
        cell(&app["updated_by"]),
        running.to_string(),
    ]
}

/// Reads a TOML, JSON or .env file as secrets TOML text, checked as the server will check it.
pub fn read_secrets_file(path: &std::path::Path, format: Option<Format>) -> anyhow::Result<String> {
    let text = crate::text_file::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let format = format.unwrap_or_else(|| Format::from_path(path));
    let toml = formats::to_toml(&text, format).with_context(|| path.display().to_string())?;
    formats::check_for_save(&toml, &path.display().to_string())?;
    Ok(toml)
}
