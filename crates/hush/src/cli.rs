//! Commands that talk to a hush server through hush-client: `login`, `logout`, `apps`,
//! `secrets`, `tokens`, `members` and `audit`. Each module turns one command group into API
//! calls and prints the answer; `formats` holds the pure conversions (JSON, `.env`, `set`).

use std::process::ExitCode;

use clap::Subcommand;

use crate::profile::ServerArgs;

mod apps;
mod audit;
mod edit_copy;
mod envs;
mod formats;
mod members;
mod output;
mod secrets;
mod session;
mod tokens;
mod trust;

// No `Debug`: `secrets set` arguments hold values.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Sign in to a hush server; keeps a personal access token in ~/.config/hush/login.json (0600).
    /// The password comes from HUSH_PASSWORD or is asked for.
    Login(session::LoginArgs),
    /// Forget the saved sign-in, and revoke its token on the server.
    Logout,
    /// List, create and delete apps.
    Apps {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: apps::AppsCommand,
    },
    /// Read, edit, import and export an app's secrets; history, diff and rollback.
    Secrets {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: secrets::SecretsCommand,
    },
    /// App tokens (what `hush run` uses) and personal access tokens.
    Tokens {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: tokens::TokensCommand,
    },
    /// Members, roles and invitations.
    Members {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: members::MembersCommand,
    },
    /// The audit log (owners): who read, changed and signed in, newest first.
    Audit(audit::AuditArgs),
    /// An app's environments (production, staging, …): list, create, delete, compare, include.
    Envs {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: envs::EnvsCommand,
    },
    /// Workspace shared documents that environments include.
    Shared {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        cmd: envs::SharedCommand,
    },
}

pub use output::error_text;

pub async fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    let server = match &cmd {
        ClientCommand::Login(args) => args.server.clone(),
        ClientCommand::Logout => ServerArgs::default(),
        ClientCommand::Apps { server, .. }
        | ClientCommand::Secrets { server, .. }
        | ClientCommand::Tokens { server, .. }
        | ClientCommand::Members { server, .. }
        | ClientCommand::Envs { server, .. }
        | ClientCommand::Shared { server, .. } => server.clone(),
        ClientCommand::Audit(args) => args.server.clone(),
    };
    run_command(cmd).await.map_err(|err| server.explain(err))
}

async fn run_command(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCommand::Login(args) => session::login(args).await?,
        ClientCommand::Logout => session::logout().await?,
        ClientCommand::Apps { server, cmd } => apps::run(&server, cmd).await?,
        ClientCommand::Secrets { server, cmd } => secrets::run(&server, cmd).await?,
        ClientCommand::Tokens { server, cmd } => tokens::run(&server, cmd).await?,
        ClientCommand::Members { server, cmd } => members::run(&server, cmd).await?,
        ClientCommand::Audit(args) => audit::run(args).await?,
        ClientCommand::Envs { server, cmd } => envs::run(&server, cmd).await?,
        ClientCommand::Shared { server, cmd } => envs::run_shared(&server, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}
