//! What every handler shares ([`AppState`]), the server's settings, and the background tasks:
//! hearing other servers' changes, recording token use, sweeping dead rows.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hush_store::{
    InviteKind, NewInvite, Role, Store, StoreError, StoreEvent, SweepPolicy, now_millis,
};

use crate::api::RefusalBudget;
use crate::auth::{Passwords, SignInLimiter, TokenCache};
use crate::error::ApiResult;
use crate::vault::{Keyring, Vault};
use crate::{audit, hub, launcher, metrics};

/// Settings the server runs with; the binary fills them from flags, environment and file.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The address people use to reach the panel; used in setup and invite links.
    pub public_url: String,
    /// Mark cookies `Secure` (on when serving TLS or behind an HTTPS proxy).
    pub secure_cookies: bool,
    /// Send `Strict-Transport-Security` (on when serving TLS).
    pub hsts: bool,
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
    pub limits: Limits,
    /// Reports of running copies older than this are swept.
    pub instance_retention: Duration,
    /// Single sign-on with OpenID Connect; `None`: off.
    pub sso: Option<crate::auth::sso::SsoConfig>,
    /// Names and passwords are accepted at sign-in (off once single sign-on works).
    pub password_login: bool,
}

/// What one client, and all together, may hold of the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at most; 0: from the process's file limit (leaving room for the rest).
    pub max_connections: usize,
    /// Open connections from one address at most; 0: a quarter of `max_connections`.
    pub max_connections_per_address: usize,
    /// A request's headers (and a kept-alive connection's next request) must arrive within this;
    /// a late connection is closed at most a tenth of it later (`http/head_deadline.rs`).
    pub header_timeout: Duration,
    /// A request body may pause at most this long between pieces.
    pub body_idle_timeout: Duration,
    /// A handler must have its answer ready within this (streams then go on as long as they like).
    pub request_timeout: Duration,
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 0,
            max_connections_per_address: 0,
            header_timeout: Duration::from_secs(15),
            body_idle_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: "http://127.0.0.1:8200".into(),
            secure_cookies: false,
            hsts: false,
            trust_forwarded_for: false,
            session_idle: Duration::from_secs(12 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            heartbeat: Duration::from_secs(15),
            body_limit: 2 * 1024 * 1024,
            apps_dir: None,
            limits: Limits::default(),
            instance_retention: Duration::from_secs(7 * 24 * 3600),
            sso: None,
            password_login: true,
        }
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub apps: AppCache,
    /// Each environment's included shared documents.
    pub includes: crate::envs::IncludesCache,
    /// Merged response bodies of environments with includes.
    pub bodies: crate::envs::BodyCache,
    pub hub: hub::Hub,
    pub audit: audit::AuditLog,
    pub passwords: Passwords,
    pub limiter: SignInLimiter,
    pub tokens: TokenCache,
    /// Workload token issuers' keys (JWKS), fetched and cached.
    pub workload_keys: crate::auth::workload::IssuerKeys,
    pub refusals: RefusalBudget,
    /// Single sign-on, when set up.
    pub sso: Option<Arc<crate::auth::sso::Sso>>,
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

/// How often dead rows (ended sessions, used links, gone copies) are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

impl AppState {
    /// Builds the state and starts its background tasks (audit writer, cross-server events,
    /// token last-use flushing, sweeping). Needs a Tokio runtime.
    pub async fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        config: ServerConfig,
    ) -> anyhow::Result<AppState> {
        let audit = audit::AuditLog::start(store.clone());
        let passwords = tokio::task::spawn_blocking(Passwords::new).await?;
        // Every server with the same master key accepts the same device cookies.
        let device_key = keyring.primary().derive(b"hush device cookies v1");
        let throttle_key = keyring.primary().derive(b"hush sign-in throttle keys v1");
        let sso = match &config.sso {
            Some(sso) => Some(Arc::new(crate::auth::sso::Sso::new(
                sso.clone(),
                &config.public_url,
                store.clone(),
                hush_crypto::DataKey::derive(
                    "hush sso pending v1",
                    &keyring.primary().derive(b"hush sso pending v1"),
                ),
            )?)),
            None => None,
        };
        let state = AppState(Arc::new(Shared {
            vault: Vault::new(keyring),
            apps: AppCache::default(),
            includes: Default::default(),
            bodies: Default::default(),
            hub: hub::Hub::default(),
            audit,
            passwords,
            limiter: SignInLimiter::new(store.clone(), device_key, throttle_key),
            store,
            tokens: TokenCache::default(),
            workload_keys: Default::default(),
            refusals: RefusalBudget::default(),
            sso,
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
        tokio::spawn(sweep(Arc::downgrade(&state.0)));
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
    /// a day); every earlier link stops working. `None` once someone has signed up.
    pub async fn first_run_link(&self) -> anyhow::Result<Option<String>> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let token = hush_crypto::new_token("hush_setup_");
        let now = now_millis();
        let replaced = self
            .store
            .replace_setup_link(NewInvite {
                token_hash: hush_crypto::token_hash(&token).to_vec(),
                kind: InviteKind::Setup,
                role: Role::Owner,
                created_by: None,
                created_at: now,
                expires_at: now + 24 * 3_600_000,
            })
            .await;
        match replaced {
            Ok(_) => {}
            // Someone became owner meanwhile.
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
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
        self.includes.forget_all();
        self.apps.forget_environments();
        self.tokens.forget_all();
        match self.store.list_apps().await {
            Ok(apps) => {
                for (app, latest) in apps {
                    if let Some(meta) = latest {
                        self.hub.publish(app.id, meta.version);
                    }
                    self.catch_up_environments(app.id).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot catch up with the database"),
        }
    }

    /// [`AppState::catch_up`] for an app's environments: each one's newest version and how
    /// often its included documents changed (the hub ignores what watchers already have).
    async fn catch_up_environments(&self, app_id: i64) {
        let envs = match self.store.list_environments(app_id).await {
            Ok(envs) => envs,
            Err(err) => {
                tracing::warn!(error = %err, "cannot catch up with the database");
                return;
            }
        };
        for env in envs {
            if env.id != app_id
                && let Ok(Some(latest)) = self.store.latest_version(env.id).await
            {
                self.hub.publish(env.id, latest.meta.version);
            }
            self.hub.publish_shared(env.id, env.shared_rev);
        }
    }

    /// Applies a committed change here at once (other servers hear of it from the store).
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
                self.includes.forget(app_id);
                self.bodies.forget(app_id);
                self.apps.forget(app_id);
                self.tokens.forget_app(app_id);
                self.hub.close(app_id);
            }
            StoreEvent::TokenRevoked { token_id } => {
                self.tokens.forget(token_id);
                self.hub.revoke(hub::Revoked::Token(token_id));
            }
            StoreEvent::SessionsRevoked { user_id } => {
                self.tokens.forget_user(user_id);
                self.hub.revoke(hub::Revoked::User(user_id));
            }
            StoreEvent::LaunchChanged { app_id } => self.apps.forget(app_id),
            StoreEvent::SessionEnded { session_id } => {
                self.hub.revoke(hub::Revoked::Session(session_id));
            }
            StoreEvent::AppAccessRevoked { user_id, app_id } => {
                self.hub.revoke(hub::Revoked::AppAccess { user_id, app_id })
            }
            StoreEvent::SharedChanged { env_id, shared_rev } => {
                self.includes.changed(env_id, shared_rev);
                self.hub.publish_shared(env_id, shared_rev);
            }
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

/// Deletes ended sessions, used or expired links, reports of long-gone copies, old sign-in
/// counters and expired single sign-ons under way, at start and every hour. Audit events are kept.
async fn sweep(state: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(shared) = state.upgrade() else {
            return;
        };
        let now = now_millis();
        let policy = SweepPolicy {
            now,
            sessions_idle_before: now - shared.config.session_idle.as_millis() as i64,
            instances_before: now - shared.config.instance_retention.as_millis() as i64,
        };
        match shared.store.sweep(policy).await {
            Ok(report) => tracing::debug!(?report, "swept dead rows"),
            Err(err) => tracing::warn!(error = %err, "could not sweep dead rows"),
        }
        // Sign-in counters and single sign-ons under way: transient, gone once they expire.
        let tries = shared
            .store
            .forget_sign_in_tries(now - hush_store::SIGN_IN_MAX_WAIT)
            .await;
        let sign_ins = shared.store.forget_sso_pending(now).await;
        if let Err(err) = tries.and(sign_ins) {
            tracing::warn!(error = %err, "could not sweep old sign-in state");
        }
    }
}

/// Apps by name for the hot read path (an app's id, name and key never change).
#[derive(Default)]
pub struct AppCache {
    by_name: std::sync::RwLock<std::collections::HashMap<String, hush_store::App>>,
    /// Environments other than production an app token was let into, by environment id (names
    /// never change; a deleted environment takes its tokens with it).
    by_env_id: std::sync::RwLock<std::collections::HashMap<i64, hush_store::App>>,
    /// Environments by app id and name. Only the id and name are used (`App::in_env`): neither
    /// changes while the environment exists, and a deleted one is forgotten.
    envs: std::sync::RwLock<std::collections::HashMap<(i64, String), hush_store::Environment>>,
}

impl AppCache {
    pub async fn get(&self, state: &AppState, name: &str) -> ApiResult<hush_store::App> {
        if let Some(app) = self.cached(name) {
            return Ok(app);
        }
        let app = crate::api::find_app(state, name).await?;
        self.by_name
            .write()
            .expect("app cache lock")
            .insert(name.to_string(), app.clone());
        Ok(app)
    }

    /// The app named `name` (production) if it is cached.
    pub fn cached(&self, name: &str) -> Option<hush_store::App> {
        self.by_name
            .read()
            .expect("app cache lock")
            .get(name)
            .cloned()
    }

    /// The environment `env_id` as [`AppCache::remember_env`] last saw it.
    pub fn cached_env(&self, env_id: i64) -> Option<hush_store::App> {
        self.by_env_id
            .read()
            .expect("app cache lock")
            .get(&env_id)
            .cloned()
    }

    pub fn remember_env(&self, app: &hush_store::App) {
        self.by_env_id
            .write()
            .expect("app cache lock")
            .insert(app.env_id, app.clone());
    }

    /// The environment `name` of the app `app_id` (every request to `/apps/{app}/envs/{env}/…`
    /// asks: without a cache, each runner's read was a database query).
    pub async fn env(
        &self,
        state: &AppState,
        app_id: i64,
        name: &str,
    ) -> hush_store::Result<hush_store::Environment> {
        let key = (app_id, name.to_owned());
        if let Some(env) = self.envs.read().expect("app cache lock").get(&key) {
            return Ok(env.clone());
        }
        crate::metrics::Metrics::inc(&state.metrics.environment_loads);
        let env = state.store.find_environment(app_id, name).await?;
        self.envs
            .write()
            .expect("app cache lock")
            .insert(key, env.clone());
        Ok(env)
    }

    /// After missed events: environments may have been deleted and made again.
    pub fn forget_environments(&self) {
        self.envs.write().expect("app cache lock").clear();
        self.by_env_id.write().expect("app cache lock").clear();
    }

    /// Forgets an app, or an environment, by id.
    pub fn forget(&self, app_id: i64) {
        self.by_name
            .write()
            .expect("app cache lock")
            .retain(|_, app| app.id != app_id);
        self.by_env_id
            .write()
            .expect("app cache lock")
            .retain(|_, app| app.id != app_id && app.env_id != app_id);
        self.envs
            .write()
            .expect("app cache lock")
            .retain(|(owner, _), env| *owner != app_id && env.id != app_id);
    }
}
