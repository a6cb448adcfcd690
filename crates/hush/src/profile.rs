//! Where the CLI finds its server and credentials: flags, then the environment (`HUSH_SERVER`,
//! `HUSH_TOKEN`), then the login file `hush login` writes (`~/.config/hush/login.json`, 0600).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use hush_client::api::Client;
use serde::{Deserialize, Serialize};

#[derive(Args, Clone, Default)]
pub struct ServerArgs {
    /// The hush server, e.g. http://127.0.0.1:8200.
    #[arg(long, env = "HUSH_SERVER", global = true)]
    pub server: Option<String>,
    /// A personal access token or app token (prefer the environment or `hush login`).
    #[arg(long, env = "HUSH_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
pub struct LoginFile {
    pub server: String,
    pub token: String,
}

impl std::fmt::Debug for LoginFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFile")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

pub fn login_file_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("hush").join("login.json")
}

pub fn read_login_file() -> anyhow::Result<Option<LoginFile>> {
    let path = login_file_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is damaged; run `hush login` again", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn write_login_file(login: &LoginFile) -> anyhow::Result<PathBuf> {
    let path = login_file_path();
    let text = serde_json::to_string_pretty(login)?;
    crate::private_file::write(
        &path,
        text.as_bytes(),
        crate::private_file::Existing::Replace,
    )?;
    Ok(path)
}

impl ServerArgs {
    /// The server URL and token to use, from flags, environment or the login file.
    pub fn resolve(&self) -> anyhow::Result<(String, Option<String>)> {
        let login = read_login_file()?;
        let server = self
            .server
            .clone()
            .or_else(|| login.as_ref().map(|l| l.server.clone()))
            .unwrap_or_else(|| "http://127.0.0.1:8200".to_string());
        let token = self.token.clone().or_else(|| {
            login
                .filter(|l| l.server.trim_end_matches('/') == server.trim_end_matches('/'))
                .map(|l| l.token)
        });
        Ok((server, token))
    }

    /// A client with credentials; an error that says how to get some when there are none.
    pub fn client(&self) -> anyhow::Result<Client> {
        let (server, token) = self.resolve()?;
        if token.is_none() {
            bail!("not signed in to {server}: run `hush login`, or set HUSH_TOKEN");
        }
        Ok(Client::new(&server, token)?)
    }
}
