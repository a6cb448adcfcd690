//! `hush apps trust list|add|remove APP`: the issuers whose signed tokens (CI jobs, platforms)
//! may be traded for a short-lived token of the app (owners).

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

use super::output::{cell, print_json, print_table, time_cell, visible};
use hush_client::api::Client;

#[derive(Subcommand)]
pub enum TrustCommand {
    /// The issuers the app trusts.
    List {
        /// The app whose workload trusts these are.
        app: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Trust an issuer's tokens for the app, when they name the audience and match every
    /// condition.
    Add {
        /// The app whose workload trusts these are.
        app: String,
        /// The tokens' `iss`, e.g. `https://token.actions.githubusercontent.com`.
        #[arg(long)]
        issuer: String,
        /// The `aud` the tokens must name.
        #[arg(long)]
        audience: String,
        /// CLAIM=GLOB, e.g. repository=acme/web or ref=refs/heads/main (`*` any run of
        /// characters, `?` one); at least one, repeat for more.
        #[arg(long = "condition", value_name = "CLAIM=GLOB", required = true)]
        conditions: Vec<String>,
        /// Where the issuer's keys are (default: from its OpenID discovery document).
        #[arg(long)]
        jwks_url: Option<String>,
        /// How long the app token given in exchange lives (1 to 720; default 15).
        #[arg(long)]
        token_minutes: Option<i64>,
    },
    /// Stop trusting an issuer (see `hush apps trust list APP` for the id).
    Remove {
        /// The app that trusts the issuer.
        app: String,
        /// The trust's id, from `hush apps trust list`.
        id: i64,
    },
}

pub async fn run(client: &Client, cmd: TrustCommand) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::List { app, json } => {
            let trusts = client.workload_trusts(&app).await?;
            if json {
                return print_json(&json!({ "trusts": trusts }));
            }
            let rows: Vec<Vec<String>> = trusts
                .iter()
                .map(|t| {
                    vec![
                        cell(&t["id"]),
                        visible(&cell(&t["issuer"])).into_owned(),
                        visible(&cell(&t["audience"])).into_owned(),
                        visible(&conditions_text(&t["conditions"])).into_owned(),
                        cell(&t["token_minutes"]),
                        time_cell(&t["created_at"]),
                    ]
                })
                .collect();
            print_table(
                &["ID", "ISSUER", "AUDIENCE", "CONDITIONS", "MINUTES", "ADDED"],
                &rows,
            );
        }
        TrustCommand::Add {
            app,
            issuer,
            audience,
            conditions,
            jwks_url,
            token_minutes,
        } => {
            let mut map = serde_json::Map::new();
            for condition in &conditions {
                let Some((claim, glob)) = condition.split_once('=') else {
                    bail!("--condition {condition:?}: write CLAIM=GLOB, e.g. repository=acme/web");
                };
                map.insert(claim.trim().to_string(), Value::String(glob.to_string()));
            }
            let trust = client
                .add_workload_trust(
                    &app,
                    json!({
                        "issuer": issuer, "audience": audience, "conditions": map,
                        "jwks_url": jwks_url, "token_minutes": token_minutes,
                    }),
                )
                .await?;
            println!(
                "{} now trusts tokens from {} for audience {} (trust {}); run jobs with `hush run --app {} --workload-token-file FILE`.",
                visible(&app),
                visible(&issuer),
                visible(&audience),
                cell(&trust["id"]),
                visible(&app)
            );
        }
        TrustCommand::Remove { app, id } => {
            client.remove_workload_trust(&app, id).await?;
            println!(
                "{} no longer trusts workload tokens of trust {id}.",
                visible(&app)
            );
        }
    }
    Ok(())
}

fn conditions_text(conditions: &Value) -> String {
    conditions
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
