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
    #[arg(long, conflicts_with = "sso")]
    name: Option<String>,
    /// Sign in through the server's single sign-on, in the browser.
    #[arg(long)]
    sso: bool,
    /// With --sso: print the address to open instead of opening a browser.
    #[arg(long, requires = "sso")]
    no_browser: bool,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let (server, _) = args.server.resolve()?;
    // The address is checked before anything is asked.
    let client = Client::new(&server, None)?;
    // What the server offers, before anything is asked or a browser is sent anywhere: a
    // server that is away, or offers the other way only, is said at once.
    let offered = client
        .sso_info()
        .await
        .with_context(|| format!("cannot sign in to {}", client.server()))?;
    if args.sso {
        if offered["enabled"] != true {
            bail!(
                "{} has no single sign-on set up; sign in with your name and password (hush login)",
                client.server()
            );
        }
        return login_sso(&client, args.no_browser).await;
    }
    if offered["password_login"] == false {
        bail!(
            "{} signs people in through single sign-on only; run hush login --sso",
            client.server()
        );
    }
    let name = match args.name {
        Some(name) => name,
        None => ask("Name: ")?
            .filter(|n| !n.trim().is_empty())
            .context("give your member name with --name")?,
    };
    let password = read_password(&name, client.server())?;
    let created = client
        .login_replacing(
            name.trim(),
            &password,
            &token_name(),
            previous_token(&client).as_deref(),
        )
        .await
        .with_context(|| format!("cannot sign in to {}", client.server()))?;
    save_login(&client, created.token, name.trim())
}

/// How long `hush login --sso` waits for the browser to come back.
const SSO_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The browser signs in at the server's single sign-on, which sends it back to a listener on
/// 127.0.0.1 (a random port) with a one-time code; the code is traded for a personal token.
async fn login_sso(client: &Client, no_browser: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the browser's return")?;
    let port = listener.local_addr()?.port();
    let state = hush_crypto::new_token("");
    let url = format!(
        "{}/api/v1/auth/sso/start?cli_port={port}&cli_state={}",
        client.server().trim_end_matches('/'),
        state.as_str()
    );
    eprintln!("Sign in in your browser; if it does not open, open this address:\n  {url}");
    if !no_browser {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let state = std::sync::Arc::new(state);
    let (codes, mut code) = tokio::sync::mpsc::channel::<String>(1);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CALLBACK_CONNECTIONS));
    let accept = async {
        loop {
            // A free slot first: a flood of connections waits in the kernel's queue instead
            // of piling up tasks, and the browser's return is answered as soon as one frees.
            let slot = slots.clone().acquire_owned().await?;
            let (conn, _) = listener.accept().await?;
            // Each connection on its own and with a deadline: one that connects and sends
            // nothing (any local process can) must not keep the browser's return waiting.
            let (state, codes) = (state.clone(), codes.clone());
            tokio::spawn(async move {
                let answered = tokio::time::timeout(CALLBACK_READ, answer_callback(conn, &state));
                if let Ok(Some(code)) = answered.await {
                    let _ = codes.send(code).await;
                }
                drop(slot);
            });
        }
    };
    let code = tokio::time::timeout(SSO_WAIT, async {
        tokio::select! {
            Some(code) = code.recv() => anyhow::Ok(code),
            failed = accept => failed,
        }
    })
    .await
    .context("the browser did not come back within 5 minutes; run hush login --sso again")??;
    let created = client
        .sso_exchange(&code, &token_name(), previous_token(client).as_deref())
        .await
        .with_context(|| format!("cannot sign in to {}", client.server()))?;
    let me = client
        .clone()
        .with_token(created.token.clone())
        .me()
        .await?;
    save_login(
        client,
        created.token,
        me["user"]["name"].as_str().unwrap_or("?"),
    )
}

/// How long the browser's return may take to send its request line.
const CALLBACK_READ: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections to the login listener answered at once.
const CALLBACK_CONNECTIONS: usize = 64;
/// The longest request line the listener reads (the browser's is a few hundred bytes).
const CALLBACK_LINE: usize = 8192;

/// Answers one connection to the login listener; the one-time code when it is the browser's
/// return with this login's `state`.
async fn answer_callback(mut conn: tokio::net::TcpStream, state: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The request line may arrive in pieces: read until it ends (or the buffer is full).
    let mut buf = vec![0u8; CALLBACK_LINE];
    let mut n = 0;
    while n < buf.len() && !buf[..n].windows(2).any(|w| w == b"\r\n") {
        match conn.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(read) => n += read,
        }
    }
    let request = String::from_utf8_lossy(&buf[..n]).to_string();
    let target = request
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let query = target.strip_prefix("/callback?").unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(String::from)
    };
    let ok = param("state").is_some_and(|s| hush_crypto::ct_eq(s.as_bytes(), state.as_bytes()));
    let (status, page) = if ok {
        ("200 OK", "Signed in to hush: you can close this tab.")
    } else {
        (
            "400 Bad Request",
            "This is not the sign-in hush login is waiting for.",
        )
    };
    let body = format!("<!doctype html><title>hush login</title><p>{page}</p>");
    let _ = conn
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    if ok { param("code") } else { None }
}

/// The token this machine saved for `client`'s server last time: a new sign-in replaces it
/// instead of piling up another.
fn previous_token(client: &Client) -> Option<String> {
    profile::read_login_file()
        .ok()
        .flatten()
        .filter(|old| old.server == client.server())
        .map(|old| old.token)
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

/// Saves the token `hush login` got from `client`'s server, for `name`, and says where.
fn save_login(client: &Client, token: String, name: &str) -> anyhow::Result<()> {
    let path = profile::write_login_file(&LoginFile {
        server: client.server().to_string(),
        token,
    })?;
    println!(
        "Signed in to {} as {name}. The token is saved in {} (readable only by you).",
        client.server(),
        path.display()
    );
    Ok(())
}
