//! `hush admin verify`: reads the whole database back with the master key. Every version of
//! every app must open (its data key unwraps, its ciphertext decrypts to UTF-8 text), an app's
//! versions must run from 1 to its newest without a gap, and each version must have the audit
//! event its save wrote in the same transaction (`secrets.update` or `secrets.rollback` with
//! `detail.version`). Each problem is named with its app and version; the command fails when
//! there is any.

use std::collections::HashSet;

use hush_crypto::{DataKey, MasterKey, version_aad};
use hush_store::{App, AuditFilter, Outcome, Store, StoreError};

use super::progress;

/// The actions whose events record a new version.
const VERSION_ACTIONS: [&str; 2] = ["secrets.update", "secrets.rollback"];
const AUDIT_PAGE: i64 = 1_000;

#[derive(Debug, Default)]
pub struct Report {
    pub apps: usize,
    pub versions: u64,
    pub problems: Vec<String>,
}

pub async fn run(store: &dyn Store, keys: &[MasterKey], key_source: &str) -> anyhow::Result<()> {
    let report = check(store, keys, key_source).await?;
    for problem in &report.problems {
        println!("PROBLEM {problem}");
    }
    if report.problems.is_empty() {
        println!(
            "Verified {} apps and {} versions with the master key(s) from {key_source}: every \
             version opens, versions run from 1 without gaps, and each has its audit event.",
            report.apps, report.versions
        );
        Ok(())
    } else {
        anyhow::bail!(
            "verify found {} problem(s) in {} apps and {} versions (listed above)",
            report.problems.len(),
            report.apps,
            report.versions
        )
    }
}

/// Checks every app; problems go in the report, and only a database that cannot be read at
/// all is an error.
pub async fn check(
    store: &dyn Store,
    keys: &[MasterKey],
    key_source: &str,
) -> anyhow::Result<Report> {
    // Reads each app's newest version's row too: a damaged one stops verify here, with the
    // store's account of which column is wrong.
    let apps = store
        .list_apps()
        .await
        .map_err(|e| anyhow::anyhow!("the apps and their newest versions cannot be read: {e}"))?;
    let total: i64 = apps
        .iter()
        .filter_map(|(_, latest)| latest.as_ref().map(|m| m.version))
        .sum();
    let bar = progress::bar(total.max(0) as u64, "versions");
    bar.set_message("verifying");
    let mut report = Report {
        apps: apps.len(),
        ..Report::default()
    };
    // Every environment of every app, and every shared document: each has its own versions,
    // sealed with its own id (production's is the app's) under the app's data key.
    let mut targets = Vec::new();
    for (app, latest) in apps {
        let envs = store.list_environments(app.id).await.map_err(|e| {
            anyhow::anyhow!("the environments of app {:?} cannot be read: {e}", app.name)
        })?;
        for env in envs {
            let newest = if env.id == app.id {
                latest.as_ref().map_or(0, |m| m.version)
            } else {
                store
                    .latest_version(env.id)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("app {:?} environment {:?}: {e}", app.name, env.name)
                    })?
                    .map_or(0, |r| r.meta.version)
            };
            let (place, env_name) = if env.id == app.id {
                (format!("app {:?} (id {})", app.name, app.id), None)
            } else {
                (
                    format!(
                        "app {:?} environment {:?} (id {})",
                        app.name, env.name, env.id
                    ),
                    Some(env.name.clone()),
                )
            };
            targets.push((app.clone(), env.id, env_name, place, newest));
        }
    }
    for (doc, latest) in store
        .list_shared_docs()
        .await
        .map_err(|e| anyhow::anyhow!("the shared documents cannot be read: {e}"))?
    {
        let place = format!("shared document {:?} (id {})", doc.name, doc.id);
        let newest = latest.map_or(0, |m| m.version);
        targets.push((doc.clone(), doc.id, None, place, newest));
    }
    let total: i64 = targets.iter().map(|t| t.4).sum();
    bar.set_length(total.max(0) as u64);
    for (app, env_id, env_name, place, newest) in targets {
        let data_key = match data_key(&app, keys, key_source) {
            Ok(dk) => Some(dk),
            Err(problem) => {
                report.problems.push(format!("{place}: {problem}"));
                None
            }
        };
        let audited = match audited_versions(store, app.id, env_name.as_deref()).await {
            Ok(versions) => versions,
            Err(e) => {
                report
                    .problems
                    .push(format!("{place}: its audit events cannot be read: {e}"));
                HashSet::new()
            }
        };
        match store.list_versions(env_id, Some(1), 10).await {
            Ok(below_one) => {
                for meta in below_one {
                    report.problems.push(format!(
                        "{place}: there is a version {} (versions are numbered from 1)",
                        meta.version
                    ));
                }
            }
            Err(e) => report
                .problems
                .push(format!("{place}: its versions cannot be listed: {e}")),
        }
        for version in 1..=newest {
            let at = format!("{place} version {version}");
            report.versions += 1;
            bar.inc(1);
            if !audited.contains(&version) {
                report.problems.push(format!(
                    "{at}: no audit event records it (secrets.update or secrets.rollback with \
                     detail.version = {version})"
                ));
            }
            let record = match store.get_version(env_id, version).await {
                Ok(record) => record,
                Err(StoreError::NotFound) => {
                    report.problems.push(format!(
                        "{at} is missing: versions must run from 1 to the newest, {newest}, without a gap"
                    ));
                    continue;
                }
                Err(e) => {
                    report.problems.push(format!("{at} cannot be read: {e}"));
                    continue;
                }
            };
            let Some(dk) = &data_key else { continue };
            match dk.open(&record.ciphertext, &version_aad(env_id, version)) {
                Ok(text) if std::str::from_utf8(&text).is_ok() => {}
                Ok(_) => report
                    .problems
                    .push(format!("{at} opens, but is not UTF-8 text")),
                Err(_) => report.problems.push(format!(
                    "{at} does not decrypt: its stored ciphertext was altered, or belongs to \
                     another app or version"
                )),
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// The app's data key, or what is wrong with it (never the key itself).
pub(super) fn data_key(app: &App, keys: &[MasterKey], key_source: &str) -> Result<DataKey, String> {
    let master = keys
        .iter()
        .find(|k| k.key_id() == app.key_id)
        .ok_or_else(|| {
            format!(
                "its data key is wrapped by master key {}, which is not in {key_source} (a wrong \
                 or outdated key file?); none of its versions can be opened",
                app.key_id
            )
        })?;
    master.unwrap(&app.wrapped_key, app.id).map_err(|_| {
        format!(
            "its data key does not open with master key {} from {key_source}: the app's stored \
             key was altered; none of its versions can be opened",
            app.key_id
        )
    })
}

/// The versions of `app_id` that a successful `secrets.update`/`secrets.rollback` event names.
/// `env` names a non-production environment, whose events say so in `detail.env`.
async fn audited_versions(
    store: &dyn Store,
    app_id: i64,
    env: Option<&str>,
) -> hush_store::Result<HashSet<i64>> {
    let mut versions = HashSet::new();
    for action in VERSION_ACTIONS {
        let mut before_id = None;
        loop {
            let page = store
                .query_audit(AuditFilter {
                    action: Some(action.into()),
                    app_id: Some(app_id),
                    before_id,
                    limit: AUDIT_PAGE,
                    ..AuditFilter::default()
                })
                .await?;
            let full = page.len() as i64 == AUDIT_PAGE;
            before_id = page.last().map(|r| r.id);
            versions.extend(
                page.iter()
                    .filter(|r| r.event.outcome == Outcome::Ok && r.event.app_id == Some(app_id))
                    .filter(|r| r.event.detail.get("env").and_then(|e| e.as_str()) == env)
                    .filter_map(|r| r.event.detail.get("version")?.as_i64()),
            );
            if !full {
                break;
            }
        }
    }
    Ok(versions)
}
