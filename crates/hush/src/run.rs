//! `hush run`: delivery into a command (placeholder until wired to hush-runner).

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The command to run, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub async fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("hush run is not wired up yet")
}
