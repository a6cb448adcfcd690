//! SSE fan-out: N raw-TCP watch streams on one server (a few KB each on this side), the
//! server's RSS before and after they connect, then one save and how long until each stream
//! carries the new version.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hush_client::api::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::stats::{doc_with_value, emit, summary};

pub struct Options {
    pub server: String,
    pub pat: String,
    pub token: String,
    pub app: String,
    pub watchers: usize,
    pub pid: u32,
    pub timeout: Duration,
    pub samples: Option<PathBuf>,
    pub label: String,
}

/// Resident set size of a process, in kB.
pub fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")
}

/// Reads the stream until `needle` has gone by (it may be split across reads).
pub async fn read_until(
    stream: &mut TcpStream,
    window: &mut Vec<u8>,
    needle: &[u8],
) -> anyhow::Result<()> {
    let mut buf = [0u8; 512];
    loop {
        if window.windows(needle.len()).any(|w| w == needle) {
            let keep = window.len().saturating_sub(needle.len());
            window.drain(..keep);
            return Ok(());
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            bail!(
                "the server closed a watch stream: {}",
                String::from_utf8_lossy(window)
            );
        }
        window.extend_from_slice(&buf[..n]);
        if window.len() > 4096 {
            let cut = window.len() - needle.len();
            window.drain(..cut);
        }
    }
}

/// Opens one watch stream (while holding one of `gate`'s permits) and reads it until it
/// announces `needle`; says on `ready` whether it got there.
pub async fn open_watcher(
    addr: &str,
    request: &str,
    gate: &Semaphore,
    window: &mut Vec<u8>,
    needle: &[u8],
    ready: &mpsc::UnboundedSender<anyhow::Result<()>>,
) -> Option<TcpStream> {
    let connected = async {
        let _permit = gate.acquire().await?;
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        read_until(&mut stream, window, needle).await?;
        anyhow::Ok(stream)
    }
    .await;
    match connected {
        Ok(stream) => {
            let _ = ready.send(Ok(()));
            Some(stream)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            None
        }
    }
}

pub fn version_needle(version: i64) -> Vec<u8> {
    format!("\"version\":{version}}}").into_bytes()
}

/// What `count` watchers report, each report within `timeout` of the one before; fails with
/// the first watcher error, or saying how many had `what` in time.
pub async fn gather<T>(
    reports: &mut mpsc::UnboundedReceiver<anyhow::Result<T>>,
    count: usize,
    timeout: Duration,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        match tokio::time::timeout(timeout, reports.recv()).await {
            Ok(Some(Ok(report))) => got.push(report),
            Ok(Some(Err(e))) => bail!("a watcher broke: {e:#}"),
            Ok(None) => bail!("watchers ended early"),
            Err(_) => bail!("only {} of {count} watchers {what} in time", got.len()),
        }
    }
    Ok(got)
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let client = Client::new(&opts.server, Some(opts.pat.clone()))?;
    let app: serde_json::Value = client.app(&opts.app).await?;
    let current = app["latest_version"].as_i64().context("latest_version")?;
    let addr = opts
        .server
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let request = Arc::new(format!(
        "GET /api/v1/apps/{}/watch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\n\r\n",
        opts.app, opts.token
    ));

    // Let the server settle, then read its RSS with no watcher connected.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kb(opts.pid)?;

    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<anyhow::Result<Instant>>();
    let (close_tx, close_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(256));
    let opened = Instant::now();
    for _ in 0..opts.watchers {
        let (request, addr, gate) = (request.clone(), addr.clone(), gate.clone());
        let (ready_tx, done_tx, mut close_rx) =
            (ready_tx.clone(), done_tx.clone(), close_rx.clone());
        tokio::spawn(async move {
            let mut window = Vec::with_capacity(1024);
            let needle = version_needle(current);
            let Some(mut stream) =
                open_watcher(&addr, &request, &gate, &mut window, &needle, &ready_tx).await
            else {
                return;
            };
            let got = read_until(&mut stream, &mut window, &version_needle(current + 1))
                .await
                .map(|()| Instant::now());
            let _ = done_tx.send(got);
            // Hold the connection until everyone is measured.
            let _ = close_rx.wait_for(|c| *c).await;
        });
    }
    drop((ready_tx, done_tx));
    let mut ready = 0;
    while ready < opts.watchers {
        match tokio::time::timeout(opts.timeout, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(e))) => bail!("a watcher failed to connect after {ready} did: {e:#}"),
            Ok(None) => bail!("watchers ended early"),
            Err(_) => bail!(
                "only {ready} of {} watchers connected in time",
                opts.watchers
            ),
        }
    }
    let connect_s = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_connected = rss_kb(opts.pid)?;

    let toml = doc_with_value(9, "fanout-new");
    let sent = Instant::now();
    client
        .save_secrets(&opts.app, &toml, current, Some("fan-out bench"))
        .await?;
    let answered = Instant::now();
    let seen = gather(
        &mut done_rx,
        opts.watchers,
        opts.timeout,
        "saw the new version",
    )
    .await?;
    let from_request: Vec<f64> = seen
        .iter()
        .map(|at| at.duration_since(sent).as_secs_f64() * 1e3)
        .collect();
    // A stream may carry the version before the save's response arrives: 0 then.
    let from_response: Vec<f64> = seen
        .iter()
        .map(|at| at.saturating_duration_since(answered).as_secs_f64() * 1e3)
        .collect();
    let rss_notified = rss_kb(opts.pid)?;
    let _ = close_tx.send(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_closed = rss_kb(opts.pid)?;

    if let Some(path) = &opts.samples {
        let text: String = from_request.iter().map(|v| format!("{v:.3}\n")).collect();
        std::fs::write(path, text)?;
    }
    let per_conn = (rss_connected as f64 - rss_before as f64) * 1024.0 / opts.watchers as f64;
    emit(&json!({
        "bench": "fanout",
        "label": opts.label,
        "watchers": opts.watchers,
        "connect_s": connect_s,
        "save_ms": answered.duration_since(sent).as_secs_f64() * 1e3,
        "rss_before_kb": rss_before,
        "rss_connected_kb": rss_connected,
        "rss_notified_kb": rss_notified,
        "rss_closed_kb": rss_closed,
        "bytes_per_watcher": per_conn,
        "from_response": summary(&from_response),
        "from_request": summary(&from_request),
    }));
    Ok(())
}
