//! Accepting connections: one path for plain HTTP and TLS, with the same limits on both.
//!
//! - At most `max_connections` open at once, and `max_connections_per_address` from one
//!   address; a connection over either gets a 503 (plain HTTP) or is closed (TLS, before the
//!   handshake) instead of starving everyone else. By default the total comes from the
//!   process's file limit, leaving room for the database and files.
//! - A TLS handshake, a request's headers (and a kept-alive connection's next request) and each
//!   piece of a body must arrive in time; a handler must have its answer ready in time.
//! - HTTP/1.1 only (ALPN too), through hyper directly with its read buffer at the 8 KiB
//!   minimum: a watch stream is a connection that stays open for days, and ten thousand of
//!   them must stay small.
//! - The metrics listener takes the same path, with a cap of its own ([`serve_metrics`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tower::ServiceExt;

use crate::AppState;

mod head_deadline;
use head_deadline::HeadDeadlines;

/// How many finished handshakes may wait to be accepted (the kernel caps it at
/// `net.core.somaxconn`, 4096 on current Linux).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with a deep accept queue. The usual 128 overflows when many runners
/// connect at once (a shared save sends every runner of every including environment to read),
/// and a connection dropped there waits for the client's retransmission, a whole second.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// File descriptors kept for the database, the log, launched apps' pipes and the like.
const RESERVED_FDS: usize = 64;

/// Serves until `shutdown` resolves, then drains open requests (watch streams end with the
/// server). With `tls`, every connection is TLS.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`], over TLS when a configuration is given (see [`crate::tls::load`]).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let answerer = Answerer::Api {
        router: crate::router(state.clone()),
        state: state.clone(),
    };
    let connections = accept_until(listener, &state.config.limits, answerer, tls, shutdown).await;
    let _ = state.closing.send(true);
    if tokio::time::timeout(Duration::from_secs(10), connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open 10 s after shutdown began");
    }
    if let Some(launcher) = &state.launcher {
        launcher.stop_all(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// Open connections to the metrics listener at most (a quarter of them from one address): a
/// scraper needs one, and an open metrics port must not cost the API its file descriptors.
pub const METRICS_CONNECTIONS: usize = 64;

/// Serves `GET /metrics` on its own listener for as long as the process runs, with the API's
/// timeouts and [`METRICS_CONNECTIONS`].
pub async fn serve_metrics(listener: TcpListener, state: AppState) {
    let limits = crate::Limits {
        max_connections: METRICS_CONNECTIONS,
        max_connections_per_address: 0,
        ..state.config.limits.clone()
    };
    let answerer = Answerer::Router(crate::metrics::router(state));
    accept_until(listener, &limits, answerer, None, std::future::pending()).await;
}

/// Who answers a listener's requests.
#[derive(Clone)]
enum Answerer {
    /// The API and the panel: the hot read straight from the caches when they hold all it
    /// needs (api/fast_read.rs), anything else through the router.
    Api {
        router: axum::Router,
        state: AppState,
    },
    /// A router alone (the metrics listener).
    Router(axum::Router),
}

/// Accepts connections within `limits` until `shutdown` resolves; the connections still open,
/// for the caller to drain.
async fn accept_until(
    listener: TcpListener,
    limits: &crate::Limits,
    answerer: Answerer,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> hyper_util::server::graceful::GracefulShutdown {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Slots::new(limits.max_connections, limits.max_connections_per_address);
    tracing::debug!(
        total = slots.total,
        per_address = slots.per_address,
        "connection limits"
    );
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let head_deadlines = HeadDeadlines::start(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = slots.take(peer.ip()) else {
            tracing::debug!(peer = %peer.ip(), "refusing a connection over the limits");
            if tls.is_none() {
                tokio::spawn(refuse(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                let deadline = head_deadlines.watch();
                let connection = serve_connection(TokioIo::new(stream), &answerer, peer, &deadline);
                tokio::spawn(run_connection(
                    connections.watch(connection),
                    deadline,
                    slot,
                ));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let handshake = limits.handshake_timeout;
                let watcher = connections.watcher();
                let (answerer, head_deadlines) = (answerer.clone(), head_deadlines.clone());
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(err)) => {
                                tracing::debug!(error = %err, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out");
                                return;
                            }
                        };
                    let deadline = head_deadlines.watch();
                    let connection =
                        serve_connection(TokioIo::new(stream), &answerer, peer, &deadline);
                    run_connection(watcher.watch(connection), deadline, slot).await;
                });
            }
        }
    }
    drop(listener);
    connections
}

/// One connection: HTTP/1.1 with the read buffer at hyper's 8 KiB minimum, each request
/// marking the connection as answering until its response is handed over (the header timeout
/// is kept by [`HeadDeadlines`] instead of a hyper timer per request).
fn serve_connection<I>(
    io: I,
    answerer: &Answerer,
    peer: std::net::SocketAddr,
    deadline: &Arc<head_deadline::Connection>,
) -> hyper::server::conn::http1::Connection<
    I,
    impl hyper::service::HttpService<
        Incoming,
        ResBody = head_deadline::Answer<axum::body::Body>,
        Error = std::convert::Infallible,
        Future: Send,
    > + use<I>,
>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    let (answerer, deadline) = (answerer.clone(), deadline.clone());
    let service = hyper::service::service_fn(move |request: axum::extract::Request<Incoming>| {
        deadline.answering();
        let (answerer, deadline) = (answerer.clone(), deadline.clone());
        async move {
            let response = answer(answerer, request, peer).await;
            Ok(response.map(|body| deadline.answer(body)))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(8 * 1024);
    builder.serve_connection(io, service)
}

/// One request's response, from whoever answers this listener.
async fn answer(
    answerer: Answerer,
    mut request: axum::extract::Request<Incoming>,
    peer: std::net::SocketAddr,
) -> axum::response::Response {
    if let Answerer::Api { state, .. } = &answerer
        && let Some(response) =
            crate::api::fast_read::answer(state, &request, Some(peer.ip())).await
    {
        return response;
    }
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let (Answerer::Api { router, .. } | Answerer::Router(router)) = answerer;
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Runs one connection until it ends or its next request head is late.
async fn run_connection<F, E>(connection: F, deadline: Arc<head_deadline::Connection>, slot: Slot)
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::select! {
        biased;
        ended = connection => {
            if let Err(err) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        () = deadline.cut() => {
            tracing::debug!("no request head within the header timeout; connection closed");
        }
    }
    drop(slot);
}

/// A plain 503 for a connection over the limits, in hush's error shape, then closed.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let body = r#"{"error":"too_many_connections","message":"this server has as many connections as it takes right now; try again in a moment"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// Open connections, in all and per address.
struct Slots {
    total: usize,
    per_address: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One open connection; gives its place back when dropped.
struct Slot {
    address: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Slots {
    fn new(total: usize, per_address: usize) -> Slots {
        let total = if total > 0 {
            total
        } else {
            file_limit()
                .map(|fds| fds.saturating_sub(RESERVED_FDS).max(32))
                .unwrap_or(10_000)
        };
        let per_address = if per_address > 0 {
            per_address.min(total)
        } else {
            (total / 4).max(8)
        };
        Slots {
            total,
            per_address,
            open: Arc::default(),
        }
    }

    fn take(&self, address: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().expect("connection slots lock");
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        if open.total >= self.total || from_address >= self.per_address {
            return None;
        }
        open.total += 1;
        *open.by_address.entry(address).or_default() += 1;
        Some(Slot {
            address,
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("connection slots lock");
        open.total -= 1;
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// The process's soft limit on open files.
fn file_limit() -> Option<usize> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
}
