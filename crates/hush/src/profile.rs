//! Where the CLI finds its server and credentials: flags, then the environment (`HUSH_SERVER`,
//! `HUSH_TOKEN`), then the login file `hush login` writes (`~/.config/hush/login.json`, 0600).

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use hush_client::api::{Client, ClientError};
use serde::{Deserialize, Serialize};

#[derive(Args, Clone, Default)]
pub struct ServerArgs {
    /// The hush server, e.g. http://127.0.0.1:8200.
    #[arg(long, env = "HUSH_SERVER", global = true)]
    pub server: Option<String>,
    /// A personal access token or app token (prefer the environment or `hush login`).
    #[arg(long, env = "HUSH_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The app environment to use (production when absent), e.g. staging or development.
    #[arg(long, env = "HUSH_ENV", global = true)]
    pub env: Option<String>,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("env", &self.env)
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

/// Where the CLI's server address came from, for messages that say where it went.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ServerFrom {
    /// --server or HUSH_SERVER.
    Given,
    /// The login file.
    Login,
    /// Nothing was given: the default address.
    Default,
}

/// The address hush tries when nothing names a server.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8200";

/// The server and token to use, and where each came from.
pub struct Resolved {
    pub server: String,
    pub server_from: ServerFrom,
    pub token: Option<String>,
    /// Whether the token came from --token or HUSH_TOKEN (else from the login file).
    pub token_given: bool,
}

impl ServerArgs {
    /// The server URL and token to use, from flags, environment or the login file.
    pub fn resolve(&self) -> anyhow::Result<(String, Option<String>)> {
        let resolved = self.resolved()?;
        Ok((resolved.server, resolved.token))
    }

    /// [`ServerArgs::resolve`], saying where each part came from.
    pub fn resolved(&self) -> anyhow::Result<Resolved> {
        let login = read_login_file()?;
        let (server, server_from) = match (&self.server, &login) {
            (Some(server), _) => (server.clone(), ServerFrom::Given),
            (None, Some(login)) => (login.server.clone(), ServerFrom::Login),
            (None, None) => (DEFAULT_SERVER.to_string(), ServerFrom::Default),
        };
        let token_given = self.token.is_some();
        let token = self.token.clone().or_else(|| {
            login
                .filter(|l| l.server.trim_end_matches('/') == server.trim_end_matches('/'))
                .map(|l| l.token)
        });
        Ok(Resolved {
            server,
            server_from,
            token,
            token_given,
        })
    }

    /// A client with credentials; an error that says how to get some when there are none.
    pub fn client(&self) -> anyhow::Result<Client> {
        let Resolved {
            server,
            server_from,
            token,
            ..
        } = self.resolved()?;
        if token.is_none() {
            if server_from == ServerFrom::Default {
                bail!(
                    "not signed in: run `hush login --server URL` (e.g. {DEFAULT_SERVER}), or set \
                     HUSH_SERVER and HUSH_TOKEN"
                );
            }
            bail!(
                "not signed in to {server}: run `hush login --server {server}`, or set HUSH_TOKEN"
            );
        }
        Ok(Client::new(&server, token)?.with_env(self.env.as_deref()))
    }

    /// `err` with what to do added when the server could not be reached or refused the
    /// token: which address was tried, where it came from, and how to change it.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let Some(cause) = err.chain().find_map(|e| e.downcast_ref::<ClientError>()) else {
            return err;
        };
        let Ok(resolved) = self.resolved() else {
            return err;
        };
        let server = resolved.server.trim_end_matches('/');
        let login_file = login_file_path();
        let hint = match (cause, resolved.server_from) {
            (ClientError::Transport(_), ServerFrom::Given) => {
                "check that `hush serve` runs there, or correct --server / HUSH_SERVER".to_string()
            }
            (ClientError::Transport(_), ServerFrom::Login) => format!(
                "it is the server you signed in to ({}); check that `hush serve` runs there, \
                 or name another with --server / HUSH_SERVER",
                login_file.display()
            ),
            (ClientError::Transport(_), ServerFrom::Default) => {
                "no server was named, so hush tried the default; set HUSH_SERVER or --server, \
                 or sign in with `hush login --server URL`"
                    .to_string()
            }
            (
                ClientError::Api {
                    status: 401, code, ..
                },
                from,
            ) if code == "unauthorized" || code == "token_expired" => {
                let what = if code == "unauthorized" {
                    "does not know this token"
                } else {
                    "says this token was revoked or has expired"
                };
                let (token, fix) = if !resolved.token_given {
                    (
                        "your saved sign-in",
                        format!("sign in again with `hush login --server {server}`"),
                    )
                } else {
                    let fix = match from {
                        ServerFrom::Given => {
                            "a token works only on the server that created it: \
                             check that --server / HUSH_SERVER names that server, or create a new \
                             token with `hush tokens create`"
                        }
                        ServerFrom::Login => {
                            "a token works only on the server that created it, \
                             and with no --server or HUSH_SERVER hush used the one you signed in \
                             to; set HUSH_SERVER to the server that created the token"
                        }
                        ServerFrom::Default => {
                            "a token works only on the server that created \
                             it, and with no --server or HUSH_SERVER hush used the default \
                             address; set HUSH_SERVER to the server that created the token"
                        }
                    };
                    ("the token from --token / HUSH_TOKEN", fix.to_string())
                };
                return anyhow!("{server} {what} ({token}); {fix}");
            }
            _ => return err,
        };
        anyhow!("{}; {hint}", crate::cli::error_text(&err))
    }
}
