//! Secrets read straight from a hush server, without `hush run` (notebooks, long-running
//! workers): the app's newest version, kept current by following the server's watch stream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::oneshot;

use super::sources::{Context, Origin};
use super::watch::Emit;
use super::{Secrets, SecretsError, WatchEvent};
use crate::api::{Client, ClientError};

/// First reconnect delay; doubles up to [`RECONNECT_MAX`].
const RECONNECT_INITIAL: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// A watch connection that stayed up this long was healthy: the next delay starts over.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(5);
/// The server sends a heartbeat every 15 s; three missed ones mean the connection is dead.
const WATCH_IDLE: Duration = Duration::from_secs(45);
/// How long to wait for the watch stream's response headers.
const WATCH_CONNECT: Duration = Duration::from_secs(30);

/// Where server secrets come from. No `Debug`: it holds the token. (A plain token rather
/// than a `Client`, which would make `Secrets` lose `RefUnwindSafe`.)
pub(crate) struct Remote {
    pub server: String,
    pub app: String,
    token: String,
    /// The version these secrets are.
    pub version: i64,
}

fn runtime() -> Result<tokio::runtime::Runtime, SecretsError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Transport(e.to_string()).into())
}

/// The newest version of `app`, as [`Secrets`] that remember where they came from.
async fn fetch(client: &Client, app: &str, token: &str) -> Result<Secrets, SecretsError> {
    let newest = client.secrets(app).await?;
    let doc = hush_core::Document::parse(&newest.toml)?;
    let context = Context {
        remote: Some(Remote {
            server: client.server().to_owned(),
            app: app.to_owned(),
            token: token.to_owned(),
            version: newest.version,
        }),
        ..Context::new(Origin::Server, Vec::new())
    };
    Ok(Secrets::from_parts(
        doc.into_root(),
        Arc::new(context),
        Vec::new(),
    ))
}

impl Secrets {
    /// The newest secrets of `app` on the hush server at `server` (e.g.
    /// `http://127.0.0.1:8200`), read with `token`: the app's own token, or a
    /// personal token of someone who may read them. Blocks until the server
    /// answers. [`Secrets::watch`] on the result follows the server's watch
    /// stream and fetches each new version.
    pub fn from_server(server: &str, app: &str, token: &str) -> Result<Secrets, SecretsError> {
        let client = Client::new(server, Some(token.to_owned()))?;
        runtime()?.block_on(fetch(&client, app, token))
    }

    /// The server version these secrets are, for [`Secrets::from_server`] secrets.
    pub fn server_version(&self) -> Option<i64> {
        self.context().remote.as_ref().map(|r| r.version)
    }
}

/// Follows the watch stream of `remote`'s app until `stop` fires: each newer version is
/// fetched and sent as [`WatchEvent::Reloaded`]. Losing the server is sent once as
/// [`WatchEvent::Invalid`] (the last secrets stay in force) and retried with backoff.
pub(super) fn follow(
    remote: &Remote,
    mut emit: Emit,
    current: Arc<Mutex<Secrets>>,
    stop: oneshot::Receiver<()>,
) {
    let started =
        runtime().and_then(|rt| Ok((rt, Client::new(&remote.server, Some(remote.token.clone()))?)));
    let (rt, client) = match started {
        Ok(started) => started,
        Err(err) => {
            emit(WatchEvent::Invalid(err));
            return;
        }
    };
    let mut follower = Follower {
        client,
        token: remote.token.clone(),
        app: remote.app.clone(),
        version: remote.version,
        emit,
        current,
    };
    rt.block_on(async {
        tokio::select! {
            _ = stop => {}
            () = follower.run() => {}
        }
    });
}

struct Follower {
    client: Client,
    token: String,
    app: String,
    version: i64,
    emit: Emit,
    current: Arc<Mutex<Secrets>>,
}

impl Follower {
    async fn run(&mut self) {
        let mut delay = RECONNECT_INITIAL;
        let mut down = false;
        loop {
            let connected_at = Instant::now();
            match self.follow_once(&mut down).await {
                Ok(()) => {}
                Err(Break::Stopped) => return,
                // Once per outage; the last secrets stay in force meanwhile.
                Err(Break::Failed(err)) if !down => {
                    down = true;
                    if !(self.emit)(WatchEvent::Invalid(err)) {
                        return;
                    }
                }
                Err(Break::Failed(_)) => {}
            }
            if connected_at.elapsed() >= HEALTHY_CONNECTION {
                delay = RECONNECT_INITIAL;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// One connection: resume after the version held, fetch each newer one.
    async fn follow_once(&mut self, down: &mut bool) -> Result<(), Break> {
        let watch = self.client.watch(&self.app, self.version, WATCH_IDLE);
        let stream = tokio::time::timeout(WATCH_CONNECT, watch)
            .await
            .map_err(|_| ClientError::Transport("no answer to the watch request".into()))??;
        *down = false;
        let mut stream = std::pin::pin!(stream);
        while let Some(version) = stream.next().await {
            if version? > self.version {
                let secrets = fetch(&self.client, &self.app, &self.token).await?;
                self.apply(secrets)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, secrets: Secrets) -> Result<(), Break> {
        match secrets.server_version() {
            Some(version) if version > self.version => self.version = version,
            _ => return Ok(()),
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = secrets.clone();
        match (self.emit)(WatchEvent::Reloaded(secrets)) {
            true => Ok(()),
            false => Err(Break::Stopped),
        }
    }
}

/// Why one connection ended.
enum Break {
    Failed(SecretsError),
    /// The watcher was dropped: nobody listens any more.
    Stopped,
}

impl From<SecretsError> for Break {
    fn from(err: SecretsError) -> Self {
        Break::Failed(err)
    }
}

impl From<ClientError> for Break {
    fn from(err: ClientError) -> Self {
        Break::Failed(err.into())
    }
}
