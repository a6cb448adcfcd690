//! hush's server as a library: the JSON API, the web panel and the watch hub over one [`Store`].
//! The `hush serve` binary only reads its configuration, binds and calls [`serve`].

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures::StreamExt;
use hush_store::{Store, StoreEvent};
use tokio::net::TcpListener;

pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod hub;
pub mod launcher;
pub mod lint;
pub mod metrics;
pub mod panel;
pub mod tls;
pub mod vault;

pub use vault::Keyring;

/// Settings the server runs with; the binary fills them from flags, environment and file.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The address people use to reach the panel; used in setup and invite links.
    pub public_url: String,
    /// Mark cookies `Secure` (on when serving TLS or behind an HTTPS proxy).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// How often a watch stream sends a heartbeat so dead connections are noticed.
    pub heartbeat: Duration,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Where server-launched apps may live; `None` turns them off.
    pub apps_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: "http://127.0.0.1:8200".into(),
            secure_cookies: false,
            trust_forwarded_for: false,
            session_idle: Duration::from_secs(12 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            heartbeat: Duration::from_secs(15),
            body_limit: 2 * 1024 * 1024,
            apps_dir: None,
        }
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub vault: vault::Vault,
    pub apps: AppCache,
    pub hub: hub::Hub,
    pub audit: audit::AuditLog,
    pub passwords: auth::Passwords,
    pub limiter: auth::LoginLimiter,
    pub tokens: auth::TokenCache,
    pub metrics: metrics::Metrics,
    pub config: ServerConfig,
    /// Server-launched apps; `None` unless the server was given an apps directory.
    pub launcher: Option<launcher::Launcher>,
    /// Set once the server starts shutting down; ends every watch stream.
    pub closing: tokio::sync::watch::Sender<bool>,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state and starts its background tasks (audit writer, cross-server events,
    /// token last-use flushing). Needs a Tokio runtime.
    pub async fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        config: ServerConfig,
    ) -> anyhow::Result<AppState> {
        let (audit, _writer) = audit::AuditLog::start(store.clone());
        let passwords = tokio::task::spawn_blocking(auth::Passwords::new).await?;
        let state = AppState(Arc::new(Shared {
            store,
            vault: vault::Vault::new(keyring),
            apps: AppCache::default(),
            hub: hub::Hub::default(),
            audit,
            passwords,
            limiter: auth::LoginLimiter::new(Duration::from_secs(15 * 60), 10, 50),
            tokens: auth::TokenCache::default(),
            metrics: metrics::Metrics::default(),
            launcher: config.apps_dir.clone().map(launcher::Launcher::new),
            config,
            closing: tokio::sync::watch::Sender::new(false),
        }));
        if let Some(bus) = state.store.events() {
            let events = bus.subscribe().await?;
            tokio::spawn(follow_store_events(Arc::downgrade(&state.0), events));
        }
        tokio::spawn(flush_token_use(Arc::downgrade(&state.0)));
        state.start_launched_apps().await?;
        Ok(state)
    }

    async fn start_launched_apps(&self) -> anyhow::Result<()> {
        let Some(launcher) = &self.launcher else {
            return Ok(());
        };
        for (app, _) in self.store.list_apps().await? {
            if app.launch.is_none() {
                continue;
            }
            if let Err(err) = launcher.start(self, &app) {
                tracing::warn!(app = %app.name, error = %err.message, "cannot launch the app");
            }
        }
        Ok(())
    }

    /// On a server with no members yet, a fresh one-time link that creates the owner (valid for
    /// a day); `None` once someone has signed up.
    pub async fn first_run_link(&self) -> anyhow::Result<Option<String>> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let token = hush_crypto::new_token("hush_setup_");
        let now = now_millis();
        // Every earlier link stops working: there is at most one valid setup link.
        self.store
            .replace_setup_link(hush_store::NewInvite {
                token_hash: hush_crypto::token_hash(&token).to_vec(),
                kind: hush_store::InviteKind::Setup,
                role: hush_store::Role::Owner,
                created_by: None,
                created_at: now,
                expires_at: now + 24 * 3_600_000,
            })
            .await?;
        // In the fragment: browsers never send it to the server or a proxy's log.
        Ok(Some(format!(
            "{}/setup#{}",
            self.config.public_url.trim_end_matches('/'),
            token.as_str()
        )))
    }

    /// After events from other servers may have been missed: forget every cached version and
    /// tell watchers the newest one of each app (the hub ignores what they already have).
    /// Missed token revocations are covered too: the token cache is emptied.
    pub async fn catch_up(&self) {
        self.vault.forget_all();
        self.tokens.forget_all();
        match self.store.list_apps().await {
            Ok(apps) => {
                for (app, latest) in apps {
                    if let Some(meta) = latest {
                        self.hub.publish(app.id, meta.version);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot catch up with the database"),
        }
    }

    /// Applies an event from any server on the same database (this one included).
    pub fn apply_event(&self, event: &StoreEvent) {
        match *event {
            StoreEvent::NewVersion { app_id, version } => {
                self.vault.invalidate(app_id, version);
                self.hub.publish(app_id, version);
            }
            StoreEvent::AppDeleted { app_id } => {
                if let Some(launcher) = &self.launcher {
                    launcher.stop(app_id);
                }
                self.vault.forget_app(app_id);
                self.apps.forget(app_id);
                self.tokens.forget_app(app_id);
                self.hub.close(app_id);
            }
            StoreEvent::TokenRevoked { token_id } => {
                self.tokens.forget(token_id);
                self.hub.revoke(hub::Revoked::Token(token_id));
            }
            StoreEvent::SessionsRevoked { user_id } => self.hub.revoke(hub::Revoked::User(user_id)),
        }
    }
}

async fn follow_store_events(
    state: std::sync::Weak<Shared>,
    mut events: futures::stream::BoxStream<'static, hush_store::Result<StoreEvent>>,
) {
    while let Some(event) = events.next().await {
        let Some(shared) = state.upgrade() else {
            return;
        };
        match event {
            Ok(event) => AppState(shared).apply_event(&event),
            Err(err) => {
                tracing::warn!(error = %err, "the database event stream broke; catching up");
                AppState(shared).catch_up().await;
            }
        }
    }
    tracing::warn!("the database event stream ended: saves on other servers will not be pushed");
}

async fn flush_token_use(state: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Some(shared) = state.upgrade() else {
            return;
        };
        let used = shared.tokens.take_last_used();
        if used.is_empty() {
            continue;
        }
        if let Err(err) = shared.store.touch_tokens(&used).await {
            tracing::warn!(error = %err, "could not record token use");
        }
    }
}

/// Apps by name for the hot read path (an app's id, name and key never change).
#[derive(Default)]
pub struct AppCache {
    by_name: std::sync::RwLock<std::collections::HashMap<String, hush_store::App>>,
}

impl AppCache {
    pub async fn get(&self, state: &AppState, name: &str) -> error::ApiResult<hush_store::App> {
        if let Some(app) = self.by_name.read().expect("app cache lock").get(name) {
            return Ok(app.clone());
        }
        let app = api::find_app(state, name).await?;
        self.by_name
            .write()
            .expect("app cache lock")
            .insert(name.to_string(), app.clone());
        Ok(app)
    }

    pub fn forget(&self, app_id: i64) {
        self.by_name
            .write()
            .expect("app cache lock")
            .retain(|_, app| app.id != app_id);
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The whole HTTP surface: the JSON API under `/api/v1` and the web panel.
pub fn router(state: AppState) -> Router {
    api::router(state)
}

/// Serves until `shutdown` resolves, then drains open requests. Watch streams end with the server.
///
/// HTTP/1.1 with hyper directly rather than `axum::serve`: a watch stream is a connection that
/// stays open for days, and capping hyper's read buffer at its 8 KiB minimum keeps ten thousand
/// of them small.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let app = router(state.clone());
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |mut request: axum::extract::Request<Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .max_buf_size(8 * 1024)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
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
