//! `hush run --local`: the secrets files Streamlit would read (hush-client's resolution:
//! defaults, `STREAMLIT_SECRETS_FILES`, `[secrets] files`, directories), delivered the same way
//! as a server's; every content change is a new local version. An edit that does not load keeps
//! the last good secrets and says why.
//!
//! What the app gets is the file's own text when one file is the only source (its order,
//! comments and layout kept, so `list(st.secrets)` follows the file), else the merge of all
//! sources written as one document, every root key in Streamlit's merge order.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use hush_client::secrets::{Secrets, SecretsError, Source, WatchEvent};
use hush_core::{Document, Table, Value};
use hush_runner::{Runner, SecretsUpdate};
use tokio::sync::mpsc;

use super::{RunArgs, runner_config, streamlit_script_dir};

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut builder = Secrets::builder();
    if let Some(dir) = streamlit_script_dir(&args.command) {
        builder = builder.script_dir(dir);
    }
    let secrets = builder.load().map_err(explain)?;
    let watcher = secrets.watch();
    let initial = SecretsUpdate::new(1, handed_over(&secrets)?);
    let runner = Runner::new(runner_config(&args));
    let (tx, mut rx) = mpsc::channel(16);
    // The watcher blocks on a channel: give it a thread of its own.
    std::thread::Builder::new()
        .name("hush-local-watch".into())
        .spawn(move || {
            let mut version = 1;
            for event in watcher.events() {
                match event {
                    WatchEvent::Reloaded(secrets) => match handed_over(&secrets) {
                        Ok(toml) => {
                            version += 1;
                            tracing::info!("the local secrets changed; applying them");
                            if tx.blocking_send(SecretsUpdate::new(version, toml)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("{e:#}; the app keeps the last good secrets")
                        }
                    },
                    WatchEvent::Invalid(err) => {
                        tracing::warn!("{err}; the app keeps the last good secrets");
                    }
                }
            }
        })
        .context("cannot start watching the local secrets files")?;
    let exit = runner.run(initial, &mut rx, std::future::pending()).await?;
    std::process::exit(exit.code);
}

/// What went wrong loading the local files, and what to do about it.
fn explain(err: SecretsError) -> anyhow::Error {
    let what_to_do = match &err {
        SecretsError::NoSecrets { looked_in } => {
            let paths: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
            return anyhow::anyhow!(
                "no local secrets: none of {} exists. Create .streamlit/secrets.toml with \
                 `hush init`, or run without --local to get the secrets from a hush server",
                paths.join(", ")
            );
        }
        SecretsError::Parse { .. } => "fix the file; the app was not started",
        SecretsError::InvalidPath { .. } => {
            "each path in STREAMLIT_SECRETS_FILES, or in `[secrets] files` of \
             .streamlit/config.toml, must be a .toml file or a folder"
        }
        SecretsError::SecretsDirectory { .. } => {
            "a secrets folder holds one folder per key, with the value in a file inside it"
        }
        SecretsError::Config { .. } => "fix .streamlit/config.toml",
        SecretsError::Io { .. } => "check that you may read it",
        _ => "the app was not started",
    };
    anyhow::anyhow!("{err}; {what_to_do}")
}

/// The text the app gets (see the module docs).
fn handed_over(secrets: &Secrets) -> anyhow::Result<String> {
    let present: Vec<&Source> = secrets
        .sources()
        .iter()
        .filter(|s| match s {
            Source::File(path) => path.is_file(),
            Source::Directory(path) => path.is_dir(),
        })
        .collect();
    if let [Source::File(path)] = present[..]
        && let Some(text) = file_text(path)
    {
        return Ok(text);
    }
    write_merged(&secrets.to_table())
}

/// The file's text as it is, if it still loads (it may have changed since it was read); without
/// a byte-order mark, which hush ignores but Streamlit refuses.
fn file_text(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text
        .strip_prefix('\u{feff}')
        .map_or(text.clone(), str::to_owned);
    Document::parse(&text).ok()?;
    Some(text)
}

/// The merged secrets as one TOML document, every root key in order, tables written inline
/// (a `[table]` would have to move after the plain values). The values are exactly those
/// loaded; comments and layout of the local files are not kept.
fn write_merged(table: &Table) -> anyhow::Result<String> {
    fn convert(value: &Value) -> anyhow::Result<toml_edit::Value> {
        Ok(match value {
            Value::String(s) => s.as_str().into(),
            Value::Integer(i) => (*i).into(),
            Value::Float(f) => (*f).into(),
            Value::Boolean(b) => (*b).into(),
            Value::Datetime(d) => d
                .as_str()
                .parse::<toml_edit::Datetime>()
                .map_err(|_| anyhow::anyhow!("a date/time value cannot be written as TOML"))?
                .into(),
            Value::Array(items) => items
                .iter()
                .map(convert)
                .collect::<anyhow::Result<toml_edit::Array>>()?
                .into(),
            Value::Table(t) => convert_table(t)?.into(),
        })
    }
    fn convert_table(table: &Table) -> anyhow::Result<toml_edit::InlineTable> {
        table
            .iter()
            .map(|(k, v)| Ok((k.as_str(), convert(v)?)))
            .collect()
    }
    let mut doc = toml_edit::DocumentMut::new();
    for (key, value) in table {
        doc.insert(key, toml_edit::Item::Value(convert(value)?));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_secrets_round_trip_in_order() {
        let text = "a = \"x\"\nt = { x = 1 }\nf = 1e22\nn = nan\nz = -0.0\nd = 1979-05-27T07:32:00Z\n\
                    tm = 07:32:00\n\"with.dot\" = 1\nl = [1, 2]\nm = \"\"\"\nline1\nline2\"\"\"\n\
                    [db]\nhost = \"h\"\n[[servers]]\nname = \"s\"\n[[servers]]\nname = \"t\"\n";
        let doc = Document::parse(text).unwrap();
        let written = write_merged(doc.root()).unwrap();
        let again = Document::parse(&written).unwrap();
        assert!(
            hush_core::diff(doc.root(), again.root()).is_empty(),
            "{written}"
        );
        assert_eq!(again.env().exported, doc.env().exported);
        let keys = |d: &Document| d.root().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&again), keys(&doc), "{written}");
    }
}
