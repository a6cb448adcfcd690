//! `hush run --app NAME`: the secrets come from a hush server. The server is the runner's
//! [`VersionSource`]: its watch stream announces versions, `GET …/secrets` fetches them (and
//! refreshes the local fallback copy), `POST …/instances` reports the running copy.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use hush_client::api::{Client, ClientError, InstanceReport};
use hush_runner::{
    Announcements, Delivery, FollowOptions, Report, Runner, SecretsUpdate, VersionSource,
};
use tokio::time::timeout;

use super::fallback::{Fallback, Unusable};
use super::workload::{self, Credentials};
use super::{RunArgs, human, runner_config};

/// The server sends a heartbeat every 15 s; three missed ones mean the connection is dead.
const WATCH_IDLE: Duration = Duration::from_secs(45);
/// How long to wait for the watch stream's response headers.
const WATCH_CONNECT: Duration = Duration::from_secs(30);

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(app) = args.app.clone().filter(|a| !a.is_empty()) else {
        bail!(
            "which app? give --app NAME or set HUSH_APP (or use --local for the local secrets files)"
        );
    };
    let (server, token) = args.server.resolve()?;
    if let Some(file) = args.workload_token_file.clone() {
        // No stable secret to key a local copy with: no fallback copy.
        let credentials = workload::start(&server, &app, file).await?;
        return follow(args, app, credentials, None).await;
    }
    let Some(token) = token else {
        bail!(
            "no token for {server}: set HUSH_TOKEN to an app token of {app:?} (the panel shows \
             how to create one), or run `hush login`"
        );
    };
    let client = Client::new(&server, Some(token.clone()))?.with_env(args.server.env.as_deref());
    let fallback = if args.fallback_max_age.is_zero() {
        // This token's copy only: other runners (other tokens) keep theirs.
        Fallback::new(&server, &app, &token).remove();
        None
    } else {
        Some(Arc::new(Fallback::new(&server, &app, &token)))
    };
    drop(token);
    follow(args, app, Credentials::Fixed(client), fallback).await
}

/// Starts the command and follows the app through `credentials`.
async fn follow(
    args: RunArgs,
    app: String,
    credentials: Credentials,
    fallback: Option<Arc<Fallback>>,
) -> anyhow::Result<ExitCode> {
    let fetched = FetchedParts::default();
    let (initial, started_offline) = initial_secrets(
        &credentials.client(),
        &app,
        fallback.as_deref(),
        args.fallback_max_age,
        &fetched,
    )
    .await?;

    let runner = Runner::new(runner_config(&args));
    let source = Arc::new(ServerSource {
        credentials,
        app,
        fallback,
        instance_id: instance_id(),
        hostname: hush_runner::hostname(),
        fetched,
    });
    let mut options = FollowOptions::default();
    options.started_offline = started_offline;
    let mut delivery = Delivery::start(source.clone(), &runner, initial.version, options);
    let result = runner
        .run(initial, delivery.updates(), std::future::pending())
        .await;
    drop(delivery);
    let exit = result?;
    // Best effort: tell the server this copy has stopped.
    let _ = timeout(Duration::from_secs(2), source.report(Report::of(&runner))).await;
    std::process::exit(exit.code);
}

/// Whether the server could not be reached (or is broken), as opposed to refusing us.
fn unreachable(err: &ClientError) -> bool {
    match err {
        ClientError::Transport(_) | ClientError::Decode(_) => true,
        ClientError::Api { status, .. } => *status >= 500,
    }
}

/// The version to start with: the server's newest, or the local copy when the server cannot
/// be reached. The flag says whether it came from the copy.
async fn initial_secrets(
    client: &Client,
    app: &str,
    fallback: Option<&Fallback>,
    max_age: Duration,
    fetched: &FetchedParts,
) -> anyhow::Result<(SecretsUpdate, bool)> {
    let err = match client.secrets(app).await {
        Ok(secrets) => {
            fetched.remember(secrets.revision(), secrets.parts());
            if let Some(fallback) = fallback
                && let Err(e) = fallback.write(secrets.revision(), &secrets.toml)
            {
                tracing::warn!("cannot keep a local fallback copy: {e:#}");
            }
            let update = SecretsUpdate::new(secrets.revision(), secrets.toml);
            return Ok((update, false));
        }
        Err(err) if !unreachable(&err) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot fetch the secrets of {app:?} from {}",
                    client.server()
                )
            });
        }
        Err(err) => err,
    };
    let server = client.server();
    let Some(fallback) = fallback else {
        bail!("{err} ({server}); no local fallback copy is used (--fallback-max-age 0)");
    };
    match fallback.read(max_age) {
        Ok(copy) => {
            tracing::warn!(
                "{err} ({server}); starting {app:?} with the local fallback copy of version {} \
                 fetched {} ago; hush keeps trying to connect and applies newer secrets as soon \
                 as it can",
                copy.version,
                human(copy.age),
            );
            let update = SecretsUpdate::new(copy.version, copy.toml);
            Ok((update, true))
        }
        Err(Unusable::Missing(path)) => bail!(
            "{err} ({server}); and there is no local fallback copy of {app:?} for this token \
             ({} is written after every successful fetch). Start again when the server is \
             reachable.",
            path.display()
        ),
        Err(Unusable::Unreadable(path)) => bail!(
            "{err} ({server}); and the local fallback copy {} cannot be opened (it is damaged). \
             Start again when the server is reachable.",
            path.display()
        ),
        Err(Unusable::TooOld { age, max_age }) => bail!(
            "{err} ({server}); and the local fallback copy of {app:?} was fetched {} ago, longer \
             than --fallback-max-age {}. Start again when the server is reachable, or allow an \
             older copy with --fallback-max-age.",
            human(age),
            human(max_age)
        ),
    }
}

/// The hush server, as the runner's source of versions.
struct ServerSource {
    credentials: Credentials,
    app: String,
    fallback: Option<Arc<Fallback>>,
    instance_id: String,
    hostname: String,
    /// What each revision fetched lately was made of, for the reports.
    fetched: FetchedParts,
}

impl VersionSource for ServerSource {
    type Error = ClientError;

    async fn watch(&self, after: i64) -> Result<Announcements<ClientError>, ClientError> {
        let stream = timeout(
            WATCH_CONNECT,
            self.credentials
                .client()
                .watch(&self.app, after.max(0), WATCH_IDLE),
        )
        .await
        .map_err(|_| ClientError::Transport("no answer to the watch request".into()))??;
        Ok(stream.boxed())
    }

    async fn fetch(&self) -> Result<SecretsUpdate, ClientError> {
        let secrets = self.credentials.client().secrets(&self.app).await?;
        self.fetched.remember(secrets.revision(), secrets.parts());
        if let Some(fallback) = self.fallback.clone() {
            // In the background: the copy's fsync must not delay delivery. The copy keeps the
            // newest version whatever order the writes finish in.
            let (version, toml) = (secrets.revision(), secrets.toml.clone());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = fallback.write(version, &toml) {
                    tracing::warn!("cannot update the local fallback copy: {e:#}");
                }
            });
        }
        Ok(SecretsUpdate::new(secrets.revision(), secrets.toml))
    }

    async fn report(&self, report: Report) -> Result<(), ClientError> {
        // Nothing to say before the app has started with a version.
        let Some(applied_version) = report.applied_version else {
            return Ok(());
        };
        let report = InstanceReport {
            instance_id: self.instance_id.clone(),
            hostname: self.hostname.clone(),
            pid: report.state.pid().map(i64::from),
            applied_version,
            // Unknown for a copy started from the local fallback copy until it fetches.
            applied: self.fetched.get(applied_version),
            status: Some(report.state.label().to_string()),
        };
        self.credentials
            .client()
            .report_instance(&self.app, &report)
            .await
    }

    fn describe(&self) -> String {
        format!("the hush server at {}", self.credentials.client().server())
    }
}

type FetchedParts = hush_runner::Fetched<serde_json::Value>;

/// A random id for this `hush run` process.
fn instance_id() -> String {
    hush_crypto::random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
