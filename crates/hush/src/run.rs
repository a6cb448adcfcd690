//! `hush run`: start a command with an app's secrets (environment variables and a private
//! secrets file, through hush-runner) and keep them current while it runs.
//!
//! With a server ([`server`]): fetch the newest version, start the command, follow the app's
//! watch stream through hush-runner's delivery loop, and report the applied version back. When
//! the server goes away the app keeps running on the last good secrets while `hush run`
//! reconnects and catches up. Starting while the server is down uses the encrypted local copy
//! ([`fallback`]). With `--local` ([`local`]): the same delivery from the local secrets files,
//! following edits. Everything `hush run` says goes to stderr in one style ([`log`]).

mod fallback;
mod local;
mod log;
mod server;
mod workload;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use hush_runner::{OnChange, RunnerConfig, Signal};

use crate::profile::ServerArgs;

/// Arguments of `hush run`. No `Debug`: it holds the token.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The app whose secrets to deliver.
    #[arg(long, env = "HUSH_APP")]
    pub app: Option<String>,
    /// No server: deliver the local secrets files (~/.streamlit/secrets.toml,
    /// ./.streamlit/secrets.toml, STREAMLIT_SECRETS_FILES, …) and follow edits to them.
    #[arg(long)]
    pub local: bool,
    /// What to do when the secrets change: `rerun` (Streamlit re-runs the script; the default
    /// for `streamlit run`), `restart` (the default otherwise), `signal:HUP` (any signal name),
    /// or `none` (only replace the secrets file).
    #[arg(long, value_name = "MODE", value_parser = parse_on_change)]
    pub on_change: Option<OnChange>,
    /// Replace every secret string (4 characters or more, and each line of a multi-line one) in
    /// the command's output with a placeholder, for the whole run: values of earlier versions
    /// too. Numbers and booleans are not masked (a port or a flag would hide every such number
    /// in the output): keep a secret number as a quoted string.
    #[arg(long)]
    pub mask_output: bool,
    /// Start from the encrypted local copy of the last fetched secrets when the server cannot be
    /// reached, if that copy is younger than this (e.g. 90s, 30m, 24h, 7d); 0 keeps no copy.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub fallback_max_age: Duration,
    /// No stored token: trade the JWT in this file (signed by an issuer the app trusts: a CI
    /// job's OIDC token, a Kubernetes service-account token) for a short-lived app token, and
    /// trade the file's content again before that token expires.
    #[arg(long, env = "HUSH_WORKLOAD_TOKEN_FILE", value_name = "FILE")]
    pub workload_token_file: Option<PathBuf>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    log::init();
    if let Some(hint) = plain_interpreter_hint(&args.command, Path::new(".")) {
        tracing::warn!("{hint}");
    }
    if args.local {
        return local::run(args).await;
    }
    server::run(args).await
}

/// The runner's configuration for this command: mode, masking, signals, and the environment
/// without `HUSH_TOKEN` (the app gets its secrets, never the credential to fetch them).
fn runner_config(args: &RunArgs) -> RunnerConfig {
    let mut config = RunnerConfig::new(args.command.clone());
    if let Some(mode) = args.on_change {
        config.on_change = mode;
    }
    config.mask_output = args.mask_output;
    config.forward_signals = true;
    config.base_env = Some(
        std::env::vars_os()
            .filter(|(key, _)| key != "HUSH_TOKEN")
            .collect::<Vec<(OsString, OsString)>>(),
    );
    config
}

/// Streamlit fills `st.secrets` from the file hush hands over (`STREAMLIT_SECRETS_FILES`) only
/// under `streamlit run`; a plain `python3 script.py` that reads `st.secrets` finds nothing. When
/// the command is a Python interpreter running a script whose text uses `st.secrets`, this says
/// so, and what to use instead. `dir` is where relative script paths start.
fn plain_interpreter_hint(command: &[String], dir: &Path) -> Option<String> {
    if hush_runner::looks_like_streamlit_run(command) {
        return None;
    }
    let at = command.iter().position(|arg| is_python(arg))?;
    let script = python_script(&command[at + 1..])?;
    let path = dir.join(script);
    let text = std::fs::read(&path).ok()?;
    let text = String::from_utf8_lossy(&text[..text.len().min(1 << 20)]);
    if !text.contains("st.secrets") && !text.contains("streamlit.secrets") {
        return None;
    }
    Some(format!(
        "{script} reads st.secrets, which Streamlit fills from the secrets hush hands over only \
         under `streamlit run`: in a plain Python script use `import hush` and `hush.secrets` \
         (the same API), or start it with `streamlit run {script}`; os.environ works either way"
    ))
}

/// `python`, `python3`, `python3.11`, `/venv/bin/python3`, `pypy3`.
fn is_python(arg: &str) -> bool {
    let name = arg.rsplit('/').next().unwrap_or(arg);
    let rest = name
        .strip_prefix("python")
        .or_else(|| name.strip_prefix("pypy"));
    rest.is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The script a Python command line runs: the first argument that is not an interpreter
/// option, when it is a `.py` file (not `-m module` or `-c code`).
fn python_script(args: &[String]) -> Option<&str> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-m" | "-c" | "-" => return None,
            // Options that take a value.
            "-W" | "-X" | "--check-hash-based-pycs" => {
                args.next();
            }
            option if option.starts_with('-') => {}
            script => return script.ends_with(".py").then_some(script),
        }
    }
    None
}

fn parse_on_change(s: &str) -> Result<OnChange, String> {
    match s {
        "rerun" | "streamlit" => Ok(OnChange::StreamlitRerun),
        "restart" => Ok(OnChange::Restart),
        "none" => Ok(OnChange::None),
        _ => {
            let Some(name) = s.strip_prefix("signal:") else {
                return Err("use rerun, restart, signal:NAME (e.g. signal:HUP) or none".into());
            };
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&full)
                .map(OnChange::Signal)
                .map_err(|_| format!("{name:?} is not a signal name; e.g. signal:HUP, signal:USR1"))
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: give a whole number with a unit, e.g. 90s, 30m, 24h, 7d"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// `3h 12m`, `45s`: for messages.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The directory of the main script of `streamlit run <script>`: Streamlit also reads
/// `<script dir>/.streamlit/secrets.toml` (compat §1.1).
fn streamlit_script_dir(command: &[String]) -> Option<PathBuf> {
    if !hush_runner::looks_like_streamlit_run(command) {
        return None;
    }
    let run = command
        .windows(2)
        .position(|pair| pair[0].rsplit('/').next() == Some("streamlit") && pair[1] == "run")?;
    let script = Path::new(command.get(run + 2)?);
    let dir = script.parent()?;
    Some(if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn on_change_modes_parse() {
        assert_eq!(parse_on_change("rerun"), Ok(OnChange::StreamlitRerun));
        assert_eq!(parse_on_change("restart"), Ok(OnChange::Restart));
        assert_eq!(parse_on_change("none"), Ok(OnChange::None));
        assert_eq!(
            parse_on_change("signal:HUP"),
            Ok(OnChange::Signal(Signal::SIGHUP))
        );
        assert_eq!(
            parse_on_change("signal:sigusr1"),
            Ok(OnChange::Signal(Signal::SIGUSR1))
        );
        assert!(parse_on_change("signal:NOPE").is_err());
        assert!(parse_on_change("reload").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn the_streamlit_script_dir_is_found() {
        assert_eq!(
            streamlit_script_dir(&cmd("streamlit run apps/web/app.py --server.port 1")),
            Some("apps/web".into())
        );
        assert_eq!(
            streamlit_script_dir(&cmd("python -m streamlit run app.py")),
            Some(".".into())
        );
        assert_eq!(streamlit_script_dir(&cmd("python app.py")), None);
    }

    #[test]
    fn a_plain_interpreter_reading_st_secrets_gets_the_hint() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "script.py",
            "import streamlit as st\nprint(st.secrets['db_username'])\n",
        );
        write("plain.py", "import os\nprint(os.environ['db_username'])\n");
        let hint = |c: &str| plain_interpreter_hint(&cmd(c), dir.path());

        for c in [
            "python3 script.py",
            "/venv/bin/python -u script.py",
            "python3.11 -X dev script.py arg",
            "uv run python script.py",
        ] {
            let h = hint(c).unwrap_or_else(|| panic!("no hint for {c}"));
            assert!(h.contains("script.py") && h.contains("hush.secrets"), "{h}");
        }
        for c in [
            "streamlit run script.py",
            "python -m streamlit run script.py",
            "python3 plain.py",
            "python3 -m script",
            "python3 -c script.py",
            "python3 missing.py",
            "node script.py",
        ] {
            assert_eq!(hint(c), None, "{c}");
        }
    }

    #[test]
    fn python_interpreters_are_recognised() {
        for p in [
            "python",
            "python3",
            "python3.12",
            "/usr/bin/python3",
            "pypy3",
        ] {
            assert!(is_python(p), "{p}");
        }
        for p in ["pythonista", "ipython", "sh", "python3-config"] {
            assert!(!is_python(p), "{p}");
        }
    }
}
