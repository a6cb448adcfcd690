//! `hush-bench`: the Rust load tools behind `scripts/bench` (seeding apps and tokens, the SSE
//! fan-out client, save-to-app propagation, parse timing). Every result is one `RESULT {json}` line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod fanout;
mod floor;
mod parse;
mod propagate;
mod setup;
mod shared_fanout;
mod stats;

#[derive(Parser)]
#[command(
    name = "hush-bench",
    about = "Load tools for scripts/bench (127.0.0.1 only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trade a name and password for a personal access token; prints the token.
    Login {
        #[arg(long)]
        server: String,
        #[arg(long)]
        user: String,
        /// The password is read from this environment variable.
        #[arg(long, default_value = "HUSH_BENCH_PASSWORD")]
        password_env: String,
    },
    /// Create an app whose first version has KEYS generated keys and print a new app token.
    Seed {
        #[command(flatten)]
        member: Member,
        #[arg(long)]
        app: String,
        #[arg(long)]
        keys: usize,
        /// Also put `bench_value = "…"` at the top (for propagation runs).
        #[arg(long)]
        with_value: bool,
    },
    /// Open N watch streams, then save once and time until every stream has the new version.
    Fanout {
        #[command(flatten)]
        member: Member,
        /// App token of APP, read from this environment variable.
        #[arg(long, default_value = "HUSH_BENCH_TOKEN")]
        token_env: String,
        #[arg(long)]
        app: String,
        #[arg(long)]
        watchers: usize,
        /// The server's PID, to read its RSS.
        #[arg(long)]
        pid: u32,
        /// Give up after this many seconds in any one phase.
        #[arg(long, default_value_t = 90)]
        timeout: u64,
        /// Per-watcher delays (ms after the save request was sent), one per line.
        #[arg(long)]
        samples: Option<PathBuf>,
        #[arg(long, default_value = "fanout")]
        label: String,
    },
    /// ENVS app environments that include one shared document, PER_ENV watch streams on each;
    /// save the document once and time until every stream has the new revision and a read
    /// with its token returns the new value. Needs an owner's personal access token.
    SharedFanout {
        #[command(flatten)]
        member: Member,
        #[arg(long, default_value_t = 100)]
        envs: usize,
        #[arg(long, default_value_t = 10)]
        per_env: usize,
        /// The server's PID, to read its RSS.
        #[arg(long)]
        pid: u32,
        /// Give up after this many seconds in any one phase.
        #[arg(long, default_value_t = 90)]
        timeout: u64,
        #[arg(long, default_value = "shared-fanout")]
        label: String,
    },
    /// Save TRIALS times and time each save's response until FILE shows the new value.
    Propagate {
        #[command(flatten)]
        member: Member,
        #[arg(long)]
        app: String,
        /// Lines of `<unix seconds> <value>` (a stamped log), or any file that contains the value.
        #[arg(long)]
        file: PathBuf,
        /// FILE is a stamped log: use the time written on the line instead of when we saw it.
        #[arg(long)]
        stamped: bool,
        #[arg(long, default_value_t = 200)]
        trials: usize,
        /// Random pause before each save, in ms (min,max).
        #[arg(long, default_value = "50,250")]
        gap_ms: String,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Keys besides bench_value in each saved document.
        #[arg(long, default_value_t = 9)]
        keys: usize,
        #[arg(long)]
        samples: Option<PathBuf>,
        #[arg(long)]
        label: String,
    },
    /// Serve every request with the same body, as fast as hyper can: the floor hush's reads
    /// are measured against. Prints `READY <address>`.
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Size of the body, like a hush read of the same app.
        #[arg(long, default_value_t = 554)]
        body_bytes: usize,
    },
    /// Time loading generated secrets files of N keys (`key_00000 = "…"`, as Streamlit's bench).
    Parse {
        #[arg(long, value_delimiter = ',', default_value = "10,1000,10000")]
        keys: Vec<usize>,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 15)]
        repeat: usize,
    },
}

/// The server and a member's personal access token: what every command that changes the
/// workspace starts from.
#[derive(Args)]
struct Member {
    #[arg(long)]
    server: String,
    /// Personal access token (editor or owner), read from this environment variable.
    #[arg(long, default_value = "HUSH_BENCH_PAT")]
    pat_env: String,
}

impl Member {
    fn pat(&self) -> anyhow::Result<String> {
        env_var(&self.pat_env)
    }
}

fn env_var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("set {name}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Parse { keys, dir, repeat } = cli.command {
        return parse::run(&keys, &dir, repeat);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Login {
                server,
                user,
                password_env,
            } => setup::login(&server, &user, &env_var(&password_env)?).await,
            Command::Seed {
                member,
                app,
                keys,
                with_value,
            } => setup::seed(&member.server, &member.pat()?, &app, keys, with_value).await,
            Command::Fanout {
                member,
                token_env,
                app,
                watchers,
                pid,
                timeout,
                samples,
                label,
            } => {
                fanout::run(fanout::Options {
                    pat: member.pat()?,
                    server: member.server,
                    token: env_var(&token_env)?,
                    app,
                    watchers,
                    pid,
                    timeout: Duration::from_secs(timeout),
                    samples,
                    label,
                })
                .await
            }
            Command::SharedFanout {
                member,
                envs,
                per_env,
                pid,
                timeout,
                label,
            } => {
                shared_fanout::run(shared_fanout::Options {
                    pat: member.pat()?,
                    server: member.server,
                    envs,
                    per_env,
                    pid,
                    timeout: Duration::from_secs(timeout),
                    label,
                })
                .await
            }
            Command::Propagate {
                member,
                app,
                file,
                stamped,
                trials,
                gap_ms,
                timeout,
                keys,
                samples,
                label,
            } => {
                let (lo, hi) = gap_ms
                    .split_once(',')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .ok_or_else(|| anyhow::anyhow!("--gap-ms: give MIN,MAX in ms"))?;
                propagate::run(propagate::Options {
                    pat: member.pat()?,
                    server: member.server,
                    app,
                    file,
                    stamped,
                    trials,
                    gap_ms: (lo, hi),
                    timeout: Duration::from_secs(timeout),
                    keys,
                    samples,
                    label,
                })
                .await
            }
            Command::Floor { listen, body_bytes } => floor::run(listen, body_bytes).await,
            Command::Parse { .. } => unreachable!("handled above"),
        }
    })
}
