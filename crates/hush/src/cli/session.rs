//! `hush login` and `hush logout`.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use clap::Args;
use hush_client::api::Client;

use super::output::ask;
use crate::profile::{self, LoginFile, ServerArgs};

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Your member name (asked for when not given).
    #[arg(long)]
    name: Option<String>,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let (server, _) = args.server.resolve()?;
    // The address is checked before anything is asked.
    let client = Client::new(&server, None)?;
    let name = match args.name {
        Some(name) => name,
        None => ask("Name: ")?
            .filter(|n| !n.trim().is_empty())
            .context("give your member name with --name")?,
    };
    let password = read_password(&name, client.server())?;
    // The token this machine saved for the same server last time is replaced, not piled up.
    let previous = profile::read_login_file()
        .ok()
        .flatten()
        .filter(|old| old.server == client.server());
    let created = client
        .login_replacing(
            name.trim(),
            &password,
            &token_name(),
            previous.as_ref().map(|old| old.token.as_str()),
        )
        .await
        .with_context(|| format!("cannot sign in to {}", client.server()))?;
    let path = profile::write_login_file(&LoginFile {
        server: client.server().to_string(),
        token: created.token,
    })?;
    println!(
        "Signed in to {} as {}. The token is saved in {} (readable only by you).",
        client.server(),
        name.trim(),
        path.display()
    );
    Ok(())
}

fn read_password(name: &str, server: &str) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("HUSH_PASSWORD") {
        return Ok(password);
    }
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Password for {name} at {server}: "))
            .context("cannot read the password")?
    } else {
        ask("")?.context("no password: set HUSH_PASSWORD or give it on standard input")?
    };
    if password.is_empty() {
        bail!("no password given");
    }
    Ok(password)
}

/// Names the token after this machine, so `hush tokens list` tells sign-ins apart.
fn token_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        "hush login".into()
    } else {
        format!("hush login on {host}")
    }
}

pub async fn logout() -> anyhow::Result<()> {
    let path = profile::login_file_path();
    let Some(login) = profile::read_login_file()? else {
        println!("Not signed in (no {}).", path.display());
        return Ok(());
    };
    match revoke_own_token(&login).await {
        Ok(true) => {}
        Ok(false) => eprintln!(
            "hush: could not tell which token this sign-in used; revoke it with `hush tokens list` / `hush tokens revoke`"
        ),
        Err(err) => eprintln!(
            "hush: could not revoke the token on {} ({}); revoke it later with `hush tokens revoke`",
            login.server,
            super::error_text(&err)
        ),
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    println!(
        "Signed out of {}; removed {}.",
        login.server,
        path.display()
    );
    Ok(())
}

/// Revokes the login file's token, found among your personal tokens by its prefix.
async fn revoke_own_token(login: &LoginFile) -> anyhow::Result<bool> {
    let client = Client::new(&login.server, Some(login.token.clone()))?;
    let prefix: String = login.token.chars().take(13).collect();
    let tokens = client.tokens(None).await?;
    let matching: Vec<i64> = tokens
        .iter()
        .filter(|t| t["prefix"].as_str() == Some(prefix.as_str()) && t["revoked_at"].is_null())
        .filter_map(|t| t["id"].as_i64())
        .collect();
    let [id] = matching[..] else {
        return Ok(false);
    };
    client.revoke_token(id).await?;
    Ok(true)
}
