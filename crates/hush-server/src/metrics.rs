//! Prometheus metrics, served on their own listener (loopback by default) in the text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use crate::AppState;

#[derive(Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_errors: AtomicU64,
    pub secret_reads: AtomicU64,
    pub secret_saves: AtomicU64,
    pub logins_failed: AtomicU64,
    /// Cache fills from the database on the read path of environments: an environment found by
    /// name, or its includes read. A shared save's announcement must not make every runner's
    /// read do one.
    pub environment_loads: AtomicU64,
    /// Merged secrets bodies built for environments with includes (one per state).
    pub effective_builds: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The metrics endpoint, meant for a separate listener: `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(state)
}

async fn render(State(state): State<AppState>) -> String {
    let m = &state.metrics;
    let mut out = String::new();
    let counters = [
        (
            "hush_http_requests_total",
            "HTTP requests served.",
            &m.http_requests,
        ),
        (
            "hush_http_errors_total",
            "HTTP responses with status 500 or above.",
            &m.http_errors,
        ),
        (
            "hush_secret_reads_total",
            "Secret values read (by app tokens and people).",
            &m.secret_reads,
        ),
        (
            "hush_secret_saves_total",
            "New secrets versions saved.",
            &m.secret_saves,
        ),
        (
            "hush_logins_failed_total",
            "Failed sign-ins.",
            &m.logins_failed,
        ),
        (
            "hush_environment_loads_total",
            "Environments (by name) and their includes read from the database on a cache miss.",
            &m.environment_loads,
        ),
        (
            "hush_effective_builds_total",
            "Merged secrets bodies built for environments that include shared documents.",
            &m.effective_builds,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP hush_watchers Open watch streams.\n# TYPE hush_watchers gauge\nhush_watchers {}",
        state.hub.watchers()
    );
    let _ = writeln!(
        out,
        "# HELP hush_audit_healthy 1 when the audit log is being written.\n# TYPE hush_audit_healthy gauge\nhush_audit_healthy {}",
        u8::from(state.audit.is_healthy())
    );
    out
}
