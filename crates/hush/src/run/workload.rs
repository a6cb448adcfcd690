//! `hush run --workload-token-file F`: no stored token. The file holds a JWT the platform's
//! issuer signed (a CI job's OIDC token, a Kubernetes projected service-account token); hush
//! trades it for a short-lived app token (`POST /auth/workload`) and trades the file's current
//! content again before that token expires, so a long run keeps working while the platform
//! renews the file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use hush_client::api::{Client, WorkloadToken};

/// The client `hush run` talks through: one token for the whole run, or an app token renewed
/// from a workload token file.
#[derive(Clone)]
pub enum Credentials {
    Fixed(Client),
    Workload(Arc<RwLock<Client>>),
}

impl Credentials {
    /// The client with the credential in force now.
    pub fn client(&self) -> Client {
        match self {
            Credentials::Fixed(client) => client.clone(),
            Credentials::Workload(current) => current.read().expect("credentials lock").clone(),
        }
    }
}

fn read_jwt(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the workload token file {}", file.display()))?;
    let jwt = text.trim().to_string();
    if jwt.is_empty() {
        anyhow::bail!("the workload token file {} is empty", file.display());
    }
    Ok(jwt)
}

async fn exchange(anonymous: &Client, app: &str, file: &Path) -> anyhow::Result<WorkloadToken> {
    let jwt = read_jwt(file)?;
    anonymous
        .exchange_workload_token(app, &jwt)
        .await
        .with_context(|| {
            format!(
                "{} refused the workload token in {} for {app:?}",
                anonymous.server(),
                file.display()
            )
        })
}

/// Trades the file's token for an app token, and keeps renewing it in the background (when a
/// third of its life is left) for as long as the returned credentials live.
pub async fn start(server: &str, app: &str, file: PathBuf) -> anyhow::Result<Credentials> {
    let anonymous = Client::new(server, None)?;
    let first = exchange(&anonymous, app, &file).await?;
    tracing::info!(
        "traded the workload token for an app token of {app:?} valid for {}",
        super::human(remaining(first.expires_at))
    );
    let current = Arc::new(RwLock::new(anonymous.with_token(first.token.clone())));
    let weak = Arc::downgrade(&current);
    let app = app.to_string();
    tokio::spawn(async move {
        let mut expires_at = first.expires_at;
        let mut lifetime = remaining(expires_at);
        loop {
            let wait = remaining(expires_at).saturating_sub(lifetime / 3);
            tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
            let Some(current) = weak.upgrade() else {
                return;
            };
            match exchange(&anonymous, &app, &file).await {
                Ok(renewed) => {
                    lifetime = remaining(renewed.expires_at);
                    expires_at = renewed.expires_at;
                    *current.write().expect("credentials lock") =
                        anonymous.with_token(renewed.token);
                    tracing::info!("renewed the app token from the workload token file");
                }
                Err(err) => {
                    // The app keeps running on its secrets; hush tries again shortly (the
                    // platform may not have renewed the file yet).
                    tracing::warn!("could not renew the app token: {err:#}; trying again in 10 s");
                    lifetime = Duration::from_secs(30);
                    expires_at =
                        hush_store::now_millis() + 10_000 + lifetime.as_millis() as i64 / 3;
                }
            }
        }
    });
    Ok(Credentials::Workload(current))
}

fn remaining(expires_at: i64) -> Duration {
    Duration::from_millis((expires_at - hush_store::now_millis()).max(0) as u64)
}
