//! `hush members list|invite|invites|revoke-invite|role [--app]|app-roles|remove`.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use hush_client::api::Client;

use super::output::{ask, cell, print_list, time_cell, visible};
use crate::profile::ServerArgs;

const ROLES: [&str; 3] = ["viewer", "editor", "owner"];
const APP_ROLES: [&str; 4] = ["none", "viewer", "editor", "default"];

#[derive(Subcommand)]
pub enum MembersCommand {
    /// Members and their roles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A one-time link (valid 7 days) for one person to join with a role (owners).
    Invite {
        /// What they may do: a viewer sees apps, key names and history but no values; an
        /// editor also reads and changes secrets and creates apps and app tokens; an owner
        /// also deletes apps and manages members.
        #[arg(long, value_parser = ROLES)]
        role: String,
    },
    /// Invitations that can still be used: their role, who made them, when they expire (owners).
    Invites {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an unused invitation: its link stops working at once (owners).
    RevokeInvite {
        /// The invitation's ID (see `hush members invites`).
        id: i64,
    },
    /// Change a member's role (owners); with --app, their role on that one app only.
    Role {
        /// The member's name or ID (see `hush members list`).
        member: String,
        /// The new role: viewer, editor or owner (see `hush members invite --help`). With
        /// --app: none (the app is hidden from them), viewer, editor, or default (their
        /// workspace role applies there again).
        role: String,
        /// Set the role on this app only, overriding the workspace role there.
        #[arg(long)]
        app: Option<String>,
    },
    /// A member's roles on single apps and shared documents (owners, or yourself).
    AppRoles {
        /// The member's name or ID (see `hush members list`).
        member: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a member and end their sessions (owners).
    Remove {
        /// The member's name or ID (see `hush members list`).
        member: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(server: &ServerArgs, cmd: MembersCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        MembersCommand::List { json } => {
            let members = client.members().await?;
            print_list(
                json,
                "members",
                members,
                None,
                &["ID", "NAME", "ROLE", "JOINED"],
                |m| {
                    vec![
                        cell(&m["id"]),
                        cell(&m["name"]),
                        cell(&m["role"]),
                        time_cell(&m["created_at"]),
                    ]
                },
            )?;
        }
        MembersCommand::Invite { role } => {
            let invite = client.invite(&role).await?;
            eprintln!(
                "Send this one-time link to the person who should join as {role} (valid 7 days):"
            );
            println!("{}", visible(&cell(&invite["url"])));
        }
        MembersCommand::Invites { json } => {
            let invites = client.invites().await?;
            print_list(
                json,
                "invites",
                invites,
                None,
                &["ID", "ROLE", "INVITED BY", "CREATED", "EXPIRES"],
                |i| {
                    vec![
                        cell(&i["id"]),
                        cell(&i["role"]),
                        visible(&cell(&i["invited_by"])).into_owned(),
                        time_cell(&i["created_at"]),
                        time_cell(&i["expires_at"]),
                    ]
                },
            )?;
        }
        MembersCommand::RevokeInvite { id } => {
            client.revoke_invite(id).await?;
            println!("Revoked invitation {id}: its link no longer works.");
        }
        MembersCommand::Role {
            member,
            role,
            app: None,
        } => {
            if !ROLES.contains(&role.as_str()) {
                bail!("role {role:?}: use viewer, editor or owner (or give --app APP for none)");
            }
            let (id, name) = find_member(&client, &member).await?;
            let name = visible(&name);
            client.set_role(id, &role).await?;
            println!("{name} is now {role}.");
        }
        MembersCommand::Role {
            member,
            role,
            app: Some(app),
        } => {
            if !APP_ROLES.contains(&role.as_str()) {
                bail!("role {role:?} on an app: use none, viewer, editor or default");
            }
            let (id, name) = find_member(&client, &member).await?;
            let name = visible(&name);
            let app_name = visible(&app);
            if role == "default" {
                client.remove_app_role(&app, id).await?;
                println!("{name}'s workspace role applies to {app_name} again.");
            } else {
                client.set_app_role(&app, id, &role).await?;
                match role.as_str() {
                    "none" => println!("{name} no longer sees {app_name}."),
                    _ => println!("{name} is now {role} on {app_name}."),
                }
            }
        }
        MembersCommand::AppRoles { member, json } => {
            let (id, _) = find_member(&client, &member).await?;
            let roles = client.member_app_roles(id).await?;
            print_list(json, "roles", roles, None, &["APP", "ROLE"], |r| {
                let name = visible(&cell(&r["app"])).into_owned();
                let name = if r["shared"] == true {
                    format!("{name} (shared document)")
                } else {
                    name
                };
                vec![name, cell(&r["role"])]
            })?;
        }
        MembersCommand::Remove { member, yes } => {
            let (id, name) = find_member(&client, &member).await?;
            let name = visible(&name);
            if !yes {
                let answer = ask(&format!("Remove {name} (id {id})? [y/N] "))?;
                if !matches!(answer.as_deref().map(str::trim), Some("y" | "Y" | "yes")) {
                    bail!("not confirmed; {name} was not removed");
                }
            }
            client.remove_member(id).await?;
            println!("Removed {name}.");
        }
    }
    Ok(())
}

/// A member by ID or by name: (id, name).
pub(super) async fn find_member(client: &Client, member: &str) -> anyhow::Result<(i64, String)> {
    let members = client.members().await?;
    let by_id = member.parse::<i64>().ok();
    members
        .iter()
        .find(|m| m["name"] == member || (by_id.is_some() && m["id"].as_i64() == by_id))
        .and_then(|m| Some((m["id"].as_i64()?, cell(&m["name"]))))
        .ok_or_else(|| anyhow!("no member {member:?}; see `hush members list`"))
}
