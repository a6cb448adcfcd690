//! The `hush` command. Parses the command line and hands each subcommand to its module:
//! `serve` and `admin` run the server side; the rest talk to a server through hush-client.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod cli;
mod local;
mod private_file;
mod profile;
mod run;
mod serve;

#[derive(Parser)]
#[command(
    name = "hush",
    version,
    about = "Secrets for your apps: TOML in, environment variables and st.secrets out."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hush server (embedded SQLite by default; PostgreSQL with --database-url).
    Serve(serve::ServeArgs),
    /// Print a fully commented example configuration file for `hush serve --config`.
    PrintConfig,
    /// Server administration that works on the database directly.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Run a command with an app's secrets as environment variables and a secrets file, and
    /// keep them current while it runs.
    Run(run::RunArgs),
    #[command(flatten)]
    Local(local::LocalCommand),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the async runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::PrintConfig => {
                print!("{}", serve::EXAMPLE_CONFIG);
                Ok(ExitCode::SUCCESS)
            }
            Command::Admin(cmd) => admin::run(cmd).await.map(|()| ExitCode::SUCCESS),
            Command::Run(args) => run::run(args).await,
            Command::Local(cmd) => local::run(cmd).await,
            Command::Client(cmd) => cli::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hush: {}", cli::error_text(&err));
            ExitCode::FAILURE
        }
    }
}
