//! Commands that talk to a hush server through hush-client.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {}

pub async fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
