//! `hush envs list|create|delete|compare|include|effective|instances` (an app's environments)
//! and `hush shared list|get|set|history|diff|rollback|create|delete|roles|role` (workspace
//! shared documents, and members' roles on one).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::output::{array_items, cell, list_cell, print_json, print_list, print_table, visible};
use crate::profile::ServerArgs;

#[derive(Subcommand)]
pub enum EnvsCommand {
    /// The app's environments with their version and included shared documents.
    List {
        /// The app's name.
        app: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add an environment (owners), e.g. staging or development.
    Create {
        /// The app's name.
        app: String,
        /// The new environment's name: lowercase letters, digits, - and _ (at most 63).
        name: String,
    },
    /// Delete an environment with its history and tokens (owners; production stays).
    Delete {
        /// The app's name.
        app: String,
        /// The environment's name.
        name: String,
    },
    /// Which keys exist in one environment and not the other, and which differ (values for
    /// editors only), comparing their effective secrets.
    Compare {
        /// The app's name.
        app: String,
        /// One environment.
        a: String,
        /// The other.
        b: String,
        /// Print JSON instead of lists.
        #[arg(long)]
        json: bool,
    },
    /// Set the shared documents an environment includes, in order (owners); later ones win,
    /// and the environment's own document wins over all. No names: include nothing.
    Include {
        /// The app's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Shared document names, in order.
        documents: Vec<String>,
    },
    /// The environment's running copies: the revision each applied and what it is made of (the
    /// environment's own version and each included shared document's).
    Instances {
        /// The app's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The effective secrets' root keys and the document each comes from.
    Effective {
        /// The app's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(server: &ServerArgs, cmd: EnvsCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        EnvsCommand::List { app, json } => {
            let envs = client.envs(&app).await?;
            if json {
                return print_json(&envs);
            }
            let rows: Vec<Vec<String>> = array_items(&envs["envs"])
                .iter()
                .map(|e| {
                    vec![
                        cell(&e["name"]),
                        cell(&e["version"]),
                        cell(&e["revision"]),
                        list_cell(&e["includes"]),
                    ]
                })
                .collect();
            print_table(&["ENV", "VERSION", "REVISION", "INCLUDES"], &rows);
        }
        EnvsCommand::Create { app, name } => {
            client.create_env(&app, &name).await?;
            println!(
                "Created environment {name} of {app}. Save its secrets with `hush secrets edit {app} --env {name}`."
            );
        }
        EnvsCommand::Delete { app, name } => {
            client.delete_env(&app, &name).await?;
            println!("Deleted environment {name} of {app} with its history and tokens.");
        }
        EnvsCommand::Compare { app, a, b, json } => {
            let seen = client.compare(&app, &a, &b).await?;
            if json {
                return print_json(&seen);
            }
            let list = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let only_a = list(&seen["only_in_a"]);
            let only_b = list(&seen["only_in_b"]);
            let differing = seen["differing"].as_array().cloned().unwrap_or_default();
            if only_a.is_empty() && only_b.is_empty() && differing.is_empty() {
                println!("{a} and {b} have the same effective secrets.");
                return Ok(());
            }
            for key in &only_a {
                println!("- {key}  (only in {a})");
            }
            for key in &only_b {
                println!("+ {key}  (only in {b})");
            }
            for d in &differing {
                let key = d["key"].as_str().unwrap_or_default();
                if seen["values_shown"] == true {
                    println!("~ {key}  ({a}: {}, {b}: {})", d["a"], d["b"]);
                } else {
                    println!("~ {key}  (differs)");
                }
            }
        }
        EnvsCommand::Include {
            app,
            env,
            documents,
        } => {
            let names: Vec<&str> = documents.iter().map(String::as_str).collect();
            client.set_includes(&app, &env, &names).await?;
            if names.is_empty() {
                println!("{app}/{env} includes no shared document now.");
            } else {
                println!("{app}/{env} includes {} (in that order).", names.join(", "));
            }
        }
        EnvsCommand::Instances { app, env, json } => {
            let list = client.with_env(Some(&env)).instances(&app).await?;
            print_list(
                json,
                "instances",
                list,
                Some(&format!("No running copies of {app}/{env} have reported.")),
                &["INSTANCE", "HOST", "STATUS", "REVISION", "APPLIED"],
                |i| {
                    vec![
                        cell(&i["instance_id"]),
                        cell(&i["hostname"]),
                        cell(&i["status"]),
                        cell(&i["applied_version"]),
                        applied_parts(&env, &i["applied"]),
                    ]
                },
            )?;
        }
        EnvsCommand::Effective { app, env, json } => {
            let eff = client.effective(&app, &env).await?;
            if json {
                return print_json(
                    &json!({ "keys": eff["keys"], "includes": eff["includes"], "revision": eff["revision"] }),
                );
            }
            let rows: Vec<Vec<String>> = array_items(&eff["keys"])
                .iter()
                .map(|k| vec![cell(&k["key"]), cell(&k["from"]), list_cell(&k["hides"])])
                .collect();
            print_table(&["KEY", "FROM", "HIDES"], &rows);
        }
    }
    Ok(())
}

/// `staging v3, common-db v7`: what a running copy applied; `-` when it did not say.
fn applied_parts(env: &str, applied: &Value) -> String {
    if applied.is_null() {
        return "-".into();
    }
    let mut parts = vec![format!("{env} v{}", cell(&applied["version"]))];
    for doc in array_items(&applied["shared"]) {
        parts.push(format!("{} v{}", cell(&doc["name"]), cell(&doc["version"])));
    }
    parts.join(", ")
}

#[derive(Subcommand)]
pub enum SharedCommand {
    /// Shared documents with their version and the environments that include them.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a shared document (owners), optionally with its first version from a TOML file.
    Create {
        /// The document's name: lowercase letters, digits, - and _ (at most 63).
        name: String,
        /// Its first version, a TOML file.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print a shared document's TOML (editors; viewers get its key names).
    Get {
        /// The document's name.
        name: String,
    },
    /// Save a TOML file as the document's new version (editors); every environment that
    /// includes it gets it at once.
    Set {
        /// The document's name.
        name: String,
        /// The TOML file.
        file: PathBuf,
        /// A note for the history.
        #[arg(long, short)]
        message: Option<String>,
    },
    /// The document's versions, newest first.
    History {
        /// The document's name.
        name: String,
    },
    /// Which keys differ between two versions (TO defaults to the newest). Names only.
    Diff {
        /// The document's name.
        name: String,
        /// The older version's number (see `hush shared history`).
        from: i64,
        /// The newer version's number (default: the newest).
        to: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save an old version's text again as the newest version (editors; history is kept).
    /// Every environment that includes the document gets it at once, as after a save.
    Rollback {
        /// The document's name.
        name: String,
        /// The version to save again (see `hush shared history`).
        version: i64,
    },
    /// Delete a shared document (owners); refused while an environment includes it.
    Delete {
        /// The document's name.
        name: String,
    },
    /// The roles members have on one document (owners).
    Roles {
        /// The document's name.
        name: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a member's role on one document, replacing their workspace role for it (owners):
    /// a viewer sees its key names only; an editor reads, saves and rolls it back.
    Role {
        /// The document's name.
        name: String,
        /// The member's name or ID (see `hush members list`).
        member: String,
        /// viewer or editor. (No `none`: a document's keys reach every app that includes it.)
        #[arg(value_parser = DOC_ROLES, required_unless_present = "remove")]
        role: Option<String>,
        /// Remove their role on the document: their workspace role applies to it again.
        #[arg(long, conflicts_with = "role")]
        remove: bool,
    },
}

const DOC_ROLES: [&str; 2] = ["viewer", "editor"];

pub async fn run_shared(server: &ServerArgs, cmd: SharedCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        SharedCommand::List { json } => {
            let docs = client.shared_docs().await?;
            print_list(
                json,
                "documents",
                docs,
                Some("No shared documents yet: create one with `hush shared create NAME`."),
                &["NAME", "VERSION", "INCLUDED BY"],
                |d| {
                    vec![
                        cell(&d["name"]),
                        cell(&d["version"]),
                        list_cell(&d["included_by"]),
                    ]
                },
            )?;
        }
        SharedCommand::Create { name, file } => {
            let toml = match &file {
                Some(path) => Some(read(path)?),
                None => None,
            };
            let made = client.create_shared(&name, toml.as_deref()).await?;
            println!(
                "Created shared document {name} (version {}).",
                made["version"]
            );
        }
        SharedCommand::Get { name } => {
            let doc = client.shared_doc(&name).await?;
            match doc["toml"].as_str() {
                Some(text) => print!("{text}"),
                None => {
                    for key in doc["keys"].as_array().cloned().unwrap_or_default() {
                        println!("{}", key.as_str().unwrap_or_default());
                    }
                }
            }
        }
        SharedCommand::Set {
            name,
            file,
            message,
        } => {
            let text = read(&file)?;
            let base = client.shared_doc(&name).await?["version"]
                .as_i64()
                .unwrap_or(0);
            let saved = client
                .save_shared(&name, &text, base, message.as_deref())
                .await?;
            if saved.unchanged {
                println!("No change: {name} is at version {} already.", saved.version);
            } else {
                println!("Saved version {} of shared document {name}.", saved.version);
            }
        }
        SharedCommand::History { name } => {
            let versions = client.shared_versions(&name).await?;
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    vec![
                        v.version.to_string(),
                        v.author.clone().unwrap_or_default(),
                        v.message.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["VERSION", "BY", "MESSAGE"], &rows);
        }
        SharedCommand::Diff {
            name,
            from,
            to,
            json,
        } => {
            let answer = client.shared_diff(&name, from, to).await?;
            if json {
                return print_json(&answer);
            }
            super::secrets::print_version_diff(&name, &answer);
        }
        SharedCommand::Rollback { name, version } => {
            let base = client.shared_doc(&name).await?["version"]
                .as_i64()
                .unwrap_or(0);
            let saved = client
                .shared_rollback(&name, version, base)
                .await
                .map_err(super::secrets::save_error)?;
            let saved_as = format!("shared document {name}");
            super::secrets::print_rollback(&name, &saved_as, version, &saved);
        }
        SharedCommand::Delete { name } => {
            client.delete_shared(&name).await?;
            println!("Deleted shared document {name}.");
        }
        SharedCommand::Roles { name, json } => {
            let roles = client.shared_roles(&name).await?;
            print_list(
                json,
                "roles",
                roles,
                Some("No member has a role of their own on it: workspace roles apply."),
                &["MEMBER", "ROLE"],
                |r| vec![visible(&cell(&r["member"])).into_owned(), cell(&r["role"])],
            )?;
        }
        SharedCommand::Role {
            name,
            member,
            role,
            remove,
        } => {
            let (id, member_name) = super::members::find_member(&client, &member).await?;
            let member_name = visible(&member_name);
            match role {
                Some(role) if !remove => {
                    client.set_shared_role(&name, id, &role).await?;
                    println!("{member_name} is now {role} on shared document {name}.");
                }
                _ => {
                    client.remove_shared_role(&name, id).await?;
                    println!(
                        "{member_name}'s workspace role applies to shared document {name} again."
                    );
                }
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    let text = crate::text_file::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if let Err(e) = hush_core::Document::parse_for_save(&text) {
        bail!("{}: {e}", path.display());
    }
    Ok(text)
}
