//! `hush audit`: the audit log as a table, JSON, or JSON lines for export.

use std::io::Write;

use clap::Args;
use serde_json::{Value, json};

use super::output::{
    cell, now_millis, parse_since, print_json, print_table, query_value, time_cell,
};
use crate::profile::ServerArgs;

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// An action (secrets.update), or a prefix ending in '.' (secrets.).
    #[arg(long)]
    action: Option<String>,
    /// A member's name.
    #[arg(long)]
    actor: Option<String>,
    /// An app's name.
    #[arg(long)]
    app: Option<String>,
    /// Only entries since then: a duration (30m, 24h, 7d) or a UTC date (2024-05-01T12:00).
    #[arg(long)]
    since: Option<String>,
    /// At most this many entries (default 100; all with --jsonl).
    #[arg(long)]
    limit: Option<u32>,
    /// Print JSON lines, one entry per line (for export).
    #[arg(long, conflicts_with = "json")]
    jsonl: bool,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let client = args.server.client()?;
    let mut query = Vec::new();
    for (name, value) in [
        ("action", &args.action),
        ("actor", &args.actor),
        ("app", &args.app),
    ] {
        if let Some(value) = value {
            query.push(format!("{name}={}", query_value(value)));
        }
    }
    if let Some(since) = &args.since {
        query.push(format!("since={}", parse_since(since, now_millis())?));
    }
    if let Some(limit) = args.limit {
        query.push(format!("limit={limit}"));
    }
    let query = query.join("&");
    if args.jsonl {
        let text = client.audit_export(&query).await?;
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    let events = client.audit(&query).await?;
    if args.json {
        return print_json(&json!({ "events": events }));
    }
    let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
    print_table(
        &[
            "TIME (UTC)",
            "ACTOR",
            "ACTION",
            "APP",
            "OUTCOME",
            "IP",
            "DETAIL",
        ],
        &rows,
    );
    Ok(())
}

fn event_row(e: &Value) -> Vec<String> {
    let actor = match (e["actor_name"].as_str(), e["actor_kind"].as_str()) {
        (Some(name), _) => name.to_string(),
        (None, Some("token")) => format!("token {}", cell(&e["actor_id"])),
        (None, kind) => kind.unwrap_or("-").to_string(),
    };
    let detail = match &e["detail"] {
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    vec![
        time_cell(&e["at"]),
        actor,
        cell(&e["action"]),
        cell(&e["app_name"]),
        cell(&e["outcome"]),
        cell(&e["ip"]),
        detail,
    ]
}
