//! The `hush` command. Parses the command line and hands each subcommand to its module:
//! `serve` and `admin` run the server side; the rest talk to a server through hush-client.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The system allocator: with the hot read answered ahead of the router (hush-server's
// api/fast_read.rs) a read allocates little, and mimalloc saved 10% of its instructions
// (27.0k → 24.3k, bench/instructions.sh) for 15–40% more memory (idle after a sign-in 35.9 MB
// against 30.0 MB).

mod admin;
mod cli;
mod local;
mod private_file;
mod profile;
mod run;
mod serve;
mod text_file;

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
// Parsed once at start: the size of `serve`'s settings does not matter.
#[allow(clippy::large_enum_variant)]
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
    ///
    /// SIGINT, SIGTERM and SIGHUP sent to hush run are passed on to the command, which gets
    /// 10 s to exit before SIGKILL; one that hush run was started ignoring (SIGHUP under
    /// nohup) stays ignored. hush run exits with the command's exit code (128 + N when
    /// signal N ended it).
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
    // A question may still wait for a line on stdin in a blocking thread (the command was
    // interrupted meanwhile); do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hush: {}", cli::error_text(&err));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument and option of every command has a description in `--help`.
    #[test]
    fn every_argument_says_what_it_is() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "hush", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
