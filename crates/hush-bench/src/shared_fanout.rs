//! A shared document's save reaching every environment that includes it: ENVS apps, each with
//! a `staging` environment that includes one shared document, PER_ENV raw-TCP watch streams on
//! each (that environment's own app token). One save of the shared document, then, per stream:
//! when it carries the environment's new revision, and when a read of the secrets with that
//! stream's token (what a runner does next, before it replaces its file) returns the new value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hush_client::api::Client;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::fanout::{gather, open_watcher, read_until, rss_kb, version_needle};
use crate::stats::{emit, summary};

pub struct Options {
    pub server: String,
    pub pat: String,
    pub envs: usize,
    pub per_env: usize,
    pub pid: u32,
    pub timeout: Duration,
    pub label: String,
}

struct Env {
    app: String,
    token: String,
    revision: i64,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let owner = Client::new(&opts.server, Some(opts.pat.clone()))?;
    let doc = "bench-shared";
    owner
        .create_shared(doc, Some("SHARED_VALUE = \"old\"\n"))
        .await
        .context("create the shared document")?;
    let mut envs = Vec::with_capacity(opts.envs);
    for i in 0..opts.envs {
        let app = format!("sf-{i:03}");
        owner
            .create_app(&app, Some("OWN = 1\n"), None)
            .await
            .with_context(|| format!("create {app}"))?;
        owner.create_env(&app, "staging").await?;
        let staging = owner.with_env(Some("staging"));
        staging.save_secrets(&app, "OWN = 2\n", 0, None).await?;
        owner.set_includes(&app, "staging", &[doc]).await?;
        let token = staging.create_app_token(&app, "bench", None).await?.token;
        let runner = Client::new(&opts.server, Some(token.clone()))?.with_env(Some("staging"));
        let revision = runner.secrets(&app).await?.revision();
        envs.push(Env {
            app,
            token,
            revision,
        });
    }
    let addr = opts
        .server
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kb(opts.pid)?;
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<anyhow::Result<(Instant, Instant)>>();
    let (close_tx, close_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(256));
    let total = opts.envs * opts.per_env;
    for env in &envs {
        let request = Arc::new(format!(
            "GET /api/v1/apps/{}/envs/staging/watch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Accept: text/event-stream\r\n\r\n",
            env.app, env.token
        ));
        let reader = Client::new(&opts.server, Some(env.token.clone()))?.with_env(Some("staging"));
        for _ in 0..opts.per_env {
            let (request, addr, gate, reader) =
                (request.clone(), addr.clone(), gate.clone(), reader.clone());
            let (ready_tx, done_tx, mut close_rx) =
                (ready_tx.clone(), done_tx.clone(), close_rx.clone());
            let (app, revision) = (env.app.clone(), env.revision);
            tokio::spawn(async move {
                let mut window = Vec::with_capacity(1024);
                let needle = version_needle(revision);
                let Some(mut stream) =
                    open_watcher(&addr, &request, &gate, &mut window, &needle, &ready_tx).await
                else {
                    return;
                };
                let got = async {
                    read_until(&mut stream, &mut window, &version_needle(revision + 1)).await?;
                    let announced = Instant::now();
                    let read = reader.secrets(&app).await?;
                    if !read.toml.contains("\"new\"") {
                        bail!("the read after the announcement has the old value");
                    }
                    anyhow::Ok((announced, Instant::now()))
                }
                .await;
                let _ = done_tx.send(got);
                let _ = close_rx.wait_for(|c| *c).await;
            });
        }
    }
    drop((ready_tx, done_tx));
    let mut ready = 0;
    while ready < total {
        match tokio::time::timeout(opts.timeout, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(e))) => bail!("a watcher failed to connect after {ready} did: {e:#}"),
            Ok(None) => bail!("watchers ended early"),
            Err(_) => bail!("only {ready} of {total} watchers connected in time"),
        }
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_connected = rss_kb(opts.pid)?;

    let sent = Instant::now();
    owner
        .save_shared(
            doc,
            "SHARED_VALUE = \"new\"\n",
            1,
            Some("shared fan-out bench"),
        )
        .await?;
    let answered = Instant::now();
    let seen = gather(&mut done_rx, total, opts.timeout, "had the new revision").await?;
    let since_sent = |at: &Instant| at.duration_since(sent).as_secs_f64() * 1e3;
    let announced: Vec<f64> = seen.iter().map(|(a, _)| since_sent(a)).collect();
    let fetched: Vec<f64> = seen.iter().map(|(_, f)| since_sent(f)).collect();
    let rss_after = rss_kb(opts.pid)?;
    let _ = close_tx.send(true);
    emit(&json!({
        "bench": "shared-fanout",
        "label": opts.label,
        "environments": opts.envs,
        "watchers": total,
        "save_ms": answered.duration_since(sent).as_secs_f64() * 1e3,
        "rss_before_kb": rss_before,
        "rss_connected_kb": rss_connected,
        "rss_after_kb": rss_after,
        "announced_ms": summary(&announced),
        "fetched_ms": summary(&fetched),
    }));
    Ok(())
}
