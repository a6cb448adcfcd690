//! Save-to-app propagation: save a new `bench_value`, then time from the save's HTTP response
//! until FILE shows it (the runner's secrets file, or a log the app writes when it (re)starts
//! or re-runs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hush_client::api::Client;
use serde_json::json;

use crate::stats::{Rng, doc_with_value, emit, summary, unix_now};

pub struct Options {
    pub server: String,
    pub pat: String,
    pub app: String,
    pub file: PathBuf,
    pub stamped: bool,
    pub trials: usize,
    pub gap_ms: (u64, u64),
    pub timeout: Duration,
    pub keys: usize,
    pub samples: Option<PathBuf>,
    pub label: String,
}

/// Polls FILE every 0.5 ms until it holds `value`; returns the unix time it was seen, or the
/// time on its stamped line.
fn wait_for(file: &Path, value: &str, stamped: bool, timeout: Duration) -> Option<f64> {
    let start = Instant::now();
    let needle = format!(" {value}");
    let quoted = format!("\"{value}\"");
    while start.elapsed() < timeout {
        if let Ok(text) = std::fs::read_to_string(file) {
            let seen = unix_now();
            if stamped {
                if let Some(line) = text.lines().find(|l| l.ends_with(&needle)) {
                    return line.split_whitespace().next()?.parse().ok();
                }
            } else if text.contains(&quoted) {
                return Some(seen);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    None
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let client = Client::new(&opts.server, Some(opts.pat.clone()))?;
    let app: serde_json::Value = client.app(&opts.app).await?;
    let mut base = app["latest_version"].as_i64().context("latest_version")?;
    let mut rng = Rng::new();
    let mut delays = Vec::with_capacity(opts.trials);
    let mut timeouts = 0;
    for i in 0..opts.trials {
        let pause = rng.range(opts.gap_ms.0, opts.gap_ms.1);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let value = format!("pv-{i}-{:08x}", rng.next() as u32);
        let toml = doc_with_value(opts.keys, &value);
        let saved = client
            .save_secrets(&opts.app, &toml, base, Some("propagation bench"))
            .await?;
        let answered = unix_now();
        base = saved.version;
        let (file, stamped, timeout) = (opts.file.clone(), opts.stamped, opts.timeout);
        let seen =
            tokio::task::spawn_blocking(move || wait_for(&file, &value, stamped, timeout)).await?;
        match seen {
            Some(at) => delays.push((at - answered) * 1e3),
            None => {
                timeouts += 1;
                eprintln!(
                    "# {}: trial {i} did not arrive within {timeout:?}",
                    opts.label
                );
                if timeouts >= 3 {
                    bail!("{}: 3 changes never arrived; giving up", opts.label);
                }
            }
        }
    }
    if let Some(path) = &opts.samples {
        let text: String = delays.iter().map(|v| format!("{v:.3}\n")).collect();
        std::fs::write(path, text)?;
    }
    let mut out = summary(&delays);
    out["bench"] = json!("propagation");
    out["label"] = json!(opts.label);
    out["timeouts"] = json!(timeouts);
    emit(&out);
    Ok(())
}
