//! Moving a whole database: `copy` (from either backend to either) and `restore` (a backup file
//! into an empty database). Rows travel as they are, ids kept, ciphertext and hashes untouched;
//! the target must hold no hush data, and a new SQLite file whose copy failed is removed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use futures::StreamExt;
use hush_crypto::MasterKey;
use hush_store::{Open, Store, StoreError};

use super::{progress, verify};
use crate::serve::redact_password;

/// `hush admin copy`: checks that the key opens every app of `from` (so a wrong key file is
/// refused before anything is written), copies, then verifies the copy.
pub async fn copy(
    from: &str,
    to: &str,
    keys: &[MasterKey],
    key_source: &str,
) -> anyhow::Result<()> {
    let source = hush_store::open(from, Open::Existing)
        .await
        .with_context(|| format!("cannot open the source {}", redact_password(from)))?;
    let unopened: Vec<String> = source
        .list_apps()
        .await?
        .into_iter()
        .filter_map(|(app, _)| {
            let problem = verify::data_key(&app, keys, key_source).err()?;
            Some(format!("app {:?}: {problem}", app.name))
        })
        .collect();
    if !unopened.is_empty() {
        bail!(
            "nothing was copied: the copy could not be verified, because {}",
            unopened.join("; ")
        );
    }
    let (target, rows) = into_new_database(source.as_ref(), to, "copy").await?;
    println!(
        "Copied {rows} from {} to {}.",
        redact_password(from),
        redact_password(to)
    );
    verify::run(target.as_ref(), keys, key_source)
        .await
        .with_context(|| format!("the copy in {} did not verify", redact_password(to)))
}

/// Copies `source` into the database `to` names (created when it is a SQLite file that does
/// not exist yet); returns the target and what was copied ("186 rows (users 2, apps 3, …)").
/// `action` ("copy", "restore") names the command in errors.
pub async fn into_new_database(
    source: &dyn Store,
    to: &str,
    action: &str,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    let new_file = sqlite_path(to).filter(|path| !path.exists());
    let copied = async {
        let target = hush_store::open(to, Open::CreateIfMissing).await?;
        let rows = copy_rows(source, target.as_ref()).await?;
        Ok::<_, StoreError>((target, rows))
    }
    .await;
    match copied {
        Ok(done) => Ok(done),
        Err(e) => {
            if let Some(path) = new_file {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            let what = match e {
                StoreError::Conflict(why) => format!(
                    "{why}. Nothing was written: give a new data directory or SQLite file, or an \
                     empty PostgreSQL database"
                ),
                other => other.to_string(),
            };
            bail!("cannot {action} into {}: {what}", redact_password(to))
        }
    }
}

/// Streams every row from `source` into `target` in one transaction, counting per table.
async fn copy_rows(source: &dyn Store, target: &dyn Store) -> Result<String, StoreError> {
    let counter = progress::counter("rows");
    let tables: Arc<Mutex<Vec<(&'static str, u64)>>> = Arc::default();
    let (seen, shown) = (tables.clone(), counter.clone());
    let rows = source
        .export()
        .await?
        .inspect(move |row| {
            let Ok(row) = row else { return };
            let mut seen = seen.lock().expect("table counts lock");
            match seen.last_mut() {
                Some((table, n)) if *table == row.table() => *n += 1,
                _ => {
                    shown.set_message(format!("copying {}", row.table()));
                    seen.push((row.table(), 1));
                }
            }
            shown.inc(1);
        })
        .boxed();
    let written = target.import(rows).await;
    counter.finish_and_clear();
    let written = written?;
    let tables = tables.lock().expect("table counts lock");
    let each: Vec<String> = tables.iter().map(|(t, n)| format!("{t} {n}")).collect();
    Ok(format!("{written} rows ({})", each.join(", ")))
}

/// The file a `sqlite:` URL names.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(PathBuf::from(path))
}
