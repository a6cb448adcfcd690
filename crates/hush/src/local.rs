//! Local development commands: `hush init`, `hush check`, `hush pull`, `hush push`.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum LocalCommand {}

pub async fn run(cmd: LocalCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
