//! `hush audit`: the audit log as a table, JSON, or JSON lines for export.

use std::io::Write;

use clap::Args;
use serde_json::{Value, json};

use super::output::{
    cell, now_millis, parse_since, print_json, print_table, query_value, time_cell, visible_json,
};
use crate::profile::ServerArgs;

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub server: ServerArgs,
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
        std::io::stdout().write_all(visible_json(&text).as_bytes())?;
        return Ok(());
    }
    let events = client.audit(&query).await?;
    if args.json {
        return print_json(&json!({ "events": events }));
    }
    let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
    print_table(
        &["TIME", "ACTOR", "ACTION", "APP", "OUTCOME", "IP", "DETAIL"],
        &rows,
    );
    Ok(())
}

fn event_row(e: &Value) -> Vec<String> {
    let actor = match (e["actor_kind"].as_str(), e["actor_name"].as_str()) {
        (Some("token"), Some(name)) => format!("token {name}"),
        (Some("token"), None) => format!("token #{}", cell(&e["actor_id"])),
        (_, Some(name)) => name.to_string(),
        (kind, None) => kind.unwrap_or("-").to_string(),
    };
    vec![
        time_cell(&e["at"]),
        actor,
        cell(&e["action"]),
        cell(&e["app_name"]),
        cell(&e["outcome"]),
        cell(&e["ip"]),
        describe_detail(&e["detail"]),
    ]
}

/// An entry's detail in words, as the panel shows it: "version 3; +KEY ~OTHER",
/// "eddie: editor → viewer", "app token 4". Names only; details never hold values.
fn describe_detail(detail: &Value) -> String {
    let Value::Object(map) = detail else {
        return String::new();
    };
    let text = |field: &str| map.get(field).map(cell);
    let mut parts = Vec::new();
    if let Some(version) = text("version") {
        let mut part = format!("version {version}");
        if let Some(from) = text("restored_from") {
            part.push_str(&format!(", a copy of version {from}"));
        }
        parts.push(part);
    }
    if let Some(changes) = map.get("changes") {
        parts.push(change_list(changes));
    }
    match (text("member"), text("from"), text("to")) {
        (Some(member), Some(from), Some(to)) => parts.push(format!("{member}: {from} → {to}")),
        (Some(member), _, _) => parts.push(member),
        _ => {}
    }
    if let Some(role) = text("role") {
        parts.push(format!("role {role}"));
    }
    if let Some(id) = text("invite_id") {
        parts.push(format!("invitation #{id}"));
    }
    if let Some(id) = text("token_id") {
        let kind = match map.get("kind").and_then(Value::as_str) {
            Some("app") => "app token",
            Some("personal") => "personal token",
            _ => "token",
        };
        parts.push(format!("{kind} #{id}"));
    }
    if let Some(launch) = map.get("launch") {
        parts.push(match launch {
            Value::Null => "no longer launched by the server".to_string(),
            l => format!(
                "launched from {} with `{}`{}",
                cell(&l["folder"]),
                cell(&l["command"]),
                l["port"]
                    .as_u64()
                    .map(|p| format!(" on port {p}"))
                    .unwrap_or_default()
            ),
        });
    }
    // Anything this version of the CLI does not know, as "name: value".
    const KNOWN: [&str; 10] = [
        "version",
        "restored_from",
        "changes",
        "member",
        "from",
        "to",
        "role",
        "invite_id",
        "token_id",
        "launch",
    ];
    for (key, value) in map {
        if !KNOWN.contains(&key.as_str()) && key != "kind" {
            parts.push(format!("{}: {}", key.replace('_', " "), cell(value)));
        }
    }
    parts.join("; ")
}

/// `+added ~changed -removed` key names, or "no key changed".
fn change_list(changes: &Value) -> String {
    let mut out = Vec::new();
    for (field, sign) in [("added", '+'), ("changed", '~'), ("removed", '-')] {
        for key in changes[field].as_array().into_iter().flatten() {
            out.push(format!("{sign}{}", cell(key)));
        }
    }
    if out.is_empty() {
        "no key changed".into()
    } else {
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_read_as_words() {
        let d = |v: Value| describe_detail(&v);
        assert_eq!(
            d(json!({"version": 3, "changes": {"added": ["A"], "changed": ["B"], "removed": []}})),
            "version 3; +A ~B"
        );
        assert_eq!(
            d(json!({"version": 5, "restored_from": 1, "changes": {}})),
            "version 5, a copy of version 1; no key changed"
        );
        assert_eq!(
            d(json!({"member": "eddie", "from": "editor", "to": "viewer"})),
            "eddie: editor → viewer"
        );
        assert_eq!(d(json!({"token_id": 4, "kind": "app"})), "app token #4");
        assert_eq!(
            d(json!({"role": "editor", "invite_id": 2})),
            "role editor; invitation #2"
        );
        assert_eq!(
            d(
                json!({"launch": {"folder": "web", "command": "streamlit run app.py", "port": 8501}})
            ),
            "launched from web with `streamlit run app.py` on port 8501"
        );
        assert_eq!(d(json!({"new_thing": true})), "new thing: true");
        assert_eq!(d(json!({})), "");
    }
}
