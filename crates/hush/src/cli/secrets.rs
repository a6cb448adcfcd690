//! `hush secrets get|export|set|edit|import|history|diff|rollback`.
//!
//! Every save names the version it started from, so a change someone else saved meanwhile is
//! refused (HTTP 409, with who saved what) instead of overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use hush_client::api::{Client, ClientError, VersionInfo};
use hush_core::{Document, KeyDiff};
use serde_json::{Value, json};

use super::apps::read_secrets_file;
use super::formats::{self, Format};
use super::output::{ask, cell, format_millis, interactive, print_json, print_table};
use crate::private_file::Existing;
use crate::profile::ServerArgs;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Print an app's newest secrets (or one value with --key).
    Get {
        app: String,
        /// toml (as written), json, or env (what the app gets as environment variables).
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
        /// Only this key, as a dotted path (db.password); a string prints as itself.
        #[arg(long)]
        key: Option<String>,
    },
    /// Write an app's newest secrets to a file (created readable only by you) or stdout.
    Export {
        app: String,
        /// The file to write (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// toml, json or env (default: from the file's extension, else toml).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Set root-level string keys, keeping the rest of the document (and its comments) as is.
    ///
    /// Values given here are visible to other local users (ps) and kept in shell history;
    /// for sensitive ones prefer `edit` or `import`.
    Set {
        app: String,
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
        /// Why (shown in the history).
        #[arg(short, long)]
        message: Option<String>,
        /// Change this version instead of the newest; refused if anything was saved since.
        #[arg(long)]
        base_version: Option<i64>,
    },
    /// Edit the secrets in $VISUAL or $EDITOR; checked before anything is saved.
    Edit {
        app: String,
        /// Why (shown in the history).
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Replace the secrets with a TOML, JSON or .env file's content, as a new version
    /// (or, with --merge, set a .env file's keys and keep the rest).
    Import {
        app: String,
        file: PathBuf,
        /// toml, json or env (default: from the file's extension, else toml).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Keep the keys the file does not mention (.env files only), as `set` does.
        #[arg(long)]
        merge: bool,
        /// Why (shown in the history).
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Versions, newest first: when, who, which keys changed.
    History {
        app: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Which keys differ between two versions (TO defaults to the newest). Names only.
    Diff {
        app: String,
        from: i64,
        to: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save an old version's secrets again as a new version (history is kept).
    Rollback { app: String, version: i64 },
}

pub async fn run(server: &ServerArgs, cmd: SecretsCommand) -> anyhow::Result<()> {
    let client = server.client()?;
    match cmd {
        SecretsCommand::Get { app, format, key } => {
            let secrets = client.secrets(&app).await?;
            let doc = Document::parse(&secrets.toml)
                .context("the server sent secrets that do not parse")?;
            let text = match key {
                Some(key) => formats::lookup(&doc, &key, format)?,
                None => render(&doc, format)?,
            };
            print!("{text}");
        }
        SecretsCommand::Export {
            app,
            output,
            format,
            force,
        } => {
            let format = format
                .or_else(|| output.as_deref().map(Format::from_path))
                .unwrap_or(Format::Toml);
            let secrets = client.secrets(&app).await?;
            let doc = Document::parse(&secrets.toml)
                .context("the server sent secrets that do not parse")?;
            let text = render(&doc, format)?;
            match output {
                None => print!("{text}"),
                Some(path) => {
                    crate::private_file::write(
                        &path,
                        text.as_bytes(),
                        if force {
                            Existing::Replace
                        } else {
                            Existing::Keep
                        },
                    )?;
                    eprintln!(
                        "Wrote version {} of {app} to {} (readable only by you).",
                        secrets.version,
                        path.display()
                    );
                }
            }
        }
        SecretsCommand::Set {
            app,
            assignments,
            message,
            base_version,
        } => {
            let pairs = assignments
                .iter()
                .map(|a| formats::parse_assignment(a))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (text, base) = match base_version {
                Some(v) => (version_text(&client, &app, v).await?, v),
                None => fetch_latest(&client, &app).await?,
            };
            let new_text = formats::set_root_strings(&text, &pairs)?;
            Document::parse_for_save(&new_text)?;
            let message = message.unwrap_or_else(|| {
                let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
                format!("hush secrets set {}", keys.join(" "))
            });
            let saved = client
                .save_secrets(&app, &new_text, base, Some(&message))
                .await
                .map_err(save_error)?;
            print_saved(&app, &saved);
        }
        SecretsCommand::Edit { app, message } => edit(&client, &app, message).await?,
        SecretsCommand::Import {
            app,
            file,
            format,
            merge,
            message,
        } => {
            let (toml, base) = if merge {
                merge_dotenv(&client, &app, &file, format).await?
            } else {
                let toml = read_secrets_file(&file, format)?;
                (toml, latest_version(&client, &app).await?)
            };
            let message = message.unwrap_or_else(|| {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                format!("Imported {}", name.unwrap_or_default())
            });
            let saved = client
                .save_secrets(&app, &toml, base, Some(&message))
                .await
                .map_err(save_error)?;
            print_saved(&app, &saved);
        }
        SecretsCommand::History { app, json } => {
            let versions = client.versions(&app).await?;
            if json {
                return print_json(&json!({ "versions": versions }));
            }
            if versions.is_empty() {
                println!("App {app} has no saved secrets yet.");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = versions
                .iter()
                .map(|v| {
                    let mut message = v.message.clone().unwrap_or_default();
                    if let Some(from) = v.restored_from
                        && message.is_empty()
                    {
                        message = format!("rollback to version {from}");
                    }
                    vec![
                        v.version.to_string(),
                        format_millis(v.created_at),
                        v.author.clone().unwrap_or_else(|| "-".into()),
                        change_counts(&v.changes),
                        message.lines().next().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            print_table(&["VERSION", "SAVED", "BY", "CHANGES", "MESSAGE"], &rows);
        }
        SecretsCommand::Diff {
            app,
            from,
            to,
            json,
        } => {
            let answer = client.diff(&app, from, to).await?;
            if json {
                return print_json(&answer);
            }
            let diff: KeyDiff = key_diff(&answer["diff"]);
            println!(
                "{app}: version {} → version {}",
                cell(&answer["from"]),
                cell(&answer["to"])
            );
            print_diff(&diff);
        }
        SecretsCommand::Rollback { app, version } => {
            let base = latest_version(&client, &app).await?;
            let saved = client
                .rollback(&app, version, base)
                .await
                .map_err(save_error)?;
            println!(
                "Saved version {} of {app}: a copy of version {version}.",
                saved.version
            );
            print_diff(&key_diff(&saved.changes));
        }
    }
    Ok(())
}

/// The whole document in `format`; for env, the root keys that are not exported are named on stderr.
fn render(doc: &Document, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Toml => {
            let mut text = doc.text().to_string();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
        Format::Json => formats::to_json(doc)?,
        Format::Env => {
            let (text, skipped) = formats::to_env(doc);
            if !skipped.is_empty() {
                eprintln!(
                    "hush: not environment variables (tables, arrays, booleans, dates): {}",
                    skipped.join(", ")
                );
            }
            text
        }
    })
}

/// The newest version with a .env file's keys set in it, and that version's number.
async fn merge_dotenv(
    client: &Client,
    app: &str,
    file: &Path,
    format: Option<Format>,
) -> anyhow::Result<(String, i64)> {
    if format.unwrap_or_else(|| Format::from_path(file)) != Format::Env {
        bail!(
            "--merge works with .env files; to merge TOML or JSON, use `hush secrets edit {app}`"
        );
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let pairs = formats::parse_dotenv(&text).with_context(|| file.display().to_string())?;
    let (current, base) = fetch_latest(client, app).await?;
    let merged = formats::set_root_strings(&current, &pairs)?;
    Document::parse_for_save(&merged).with_context(|| file.display().to_string())?;
    Ok((merged, base))
}

/// The newest version's text and number; an empty document and 0 for an app without secrets.
async fn fetch_latest(client: &Client, app: &str) -> anyhow::Result<(String, i64)> {
    match client.secrets(app).await {
        Ok(s) => Ok((s.toml, s.version)),
        Err(err) if err.status() == Some(404) => {
            // Either no such app (this says so) or no secrets yet.
            let info = client.app(app).await?;
            if info["latest_version"].as_i64() == Some(0) {
                Ok((String::new(), 0))
            } else {
                Err(err.into())
            }
        }
        Err(err) => Err(err.into()),
    }
}

async fn version_text(client: &Client, app: &str, version: i64) -> anyhow::Result<String> {
    if version == 0 {
        return Ok(String::new());
    }
    Ok(client.version(app, version).await?.toml)
}

/// The newest version number, without reading the secrets.
async fn latest_version(client: &Client, app: &str) -> anyhow::Result<i64> {
    let info = client.app(app).await?;
    info["latest_version"]
        .as_i64()
        .ok_or_else(|| anyhow!("the server did not say which version of {app} is the newest"))
}

/// A refused save says so plainly: nothing was overwritten.
fn save_error(err: ClientError) -> anyhow::Error {
    match &err {
        ClientError::Api {
            status: 409,
            message,
            ..
        } => anyhow!("{message} (nothing was saved)"),
        _ => err.into(),
    }
}

fn print_saved(app: &str, saved: &VersionInfo) {
    println!("Saved version {} of {app}.", saved.version);
    print_diff(&key_diff(&saved.changes));
}

fn key_diff(value: &Value) -> KeyDiff {
    let list = |field: &str| -> Vec<String> {
        value[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    KeyDiff {
        added: list("added"),
        removed: list("removed"),
        changed: list("changed"),
    }
}

fn print_diff(diff: &KeyDiff) {
    if diff.is_empty() {
        println!("  (no key changed)");
    }
    for key in &diff.added {
        println!("  + {key}");
    }
    for key in &diff.changed {
        println!("  ~ {key}");
    }
    for key in &diff.removed {
        println!("  - {key}");
    }
}

fn change_counts(changes: &Value) -> String {
    let d = key_diff(changes);
    format!(
        "+{} ~{} -{}",
        d.added.len(),
        d.changed.len(),
        d.removed.len()
    )
}

/// Where edits in progress live: not the shared temporary directory, but a folder only the user
/// can open (`~/.cache/hush/edits`, 0700), since an edit that could not be saved is kept there.
fn private_edit_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("set HOME or XDG_CACHE_HOME: edits are kept in a private folder there")?;
    let dir = cache.join("hush").join("edits");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    Ok(dir)
}

/// `hush secrets edit`: the newest version in a 0600 temporary file, the editor, a check,
/// the key-level difference, a save on top of the version that was edited.
async fn edit(client: &Client, app: &str, message: Option<String>) -> anyhow::Result<()> {
    let (text, base) = fetch_latest(client, app).await?;
    let old = Document::parse(&text).context("the server sent secrets that do not parse")?;
    let mut file = tempfile::Builder::new()
        .prefix(&format!("hush-{app}-"))
        .suffix(".toml")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(private_edit_dir()?)
        .context("cannot create a temporary file to edit in")?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    let path = file.path().to_path_buf();
    let keep = |file: tempfile::NamedTempFile, why: &str| -> anyhow::Error {
        match file.keep() {
            Ok((_, path)) => anyhow!("{why}; your edit is kept in {}", path.display()),
            Err(e) => anyhow!("{why}; could not keep your edit: {}", e.error),
        }
    };
    let doc = loop {
        if let Err(err) = run_editor(&path).await {
            return Err(keep(file, &format!("{err:#}")));
        }
        let edited = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if edited == text {
            println!("No changes; nothing saved.");
            return Ok(());
        }
        match Document::parse_for_save(&edited) {
            Ok(doc) => break doc,
            Err(err) => {
                eprintln!("hush: {err}");
                if !interactive() {
                    return Err(keep(file, "the edit is not valid, nothing was saved"));
                }
                let again = ask("Edit again? [Y/n] ")?;
                if matches!(again.as_deref().map(str::trim), Some("n" | "N" | "no"))
                    || again.is_none()
                {
                    return Err(keep(file, "nothing was saved"));
                }
            }
        }
    };
    let diff = hush_core::diff(old.root(), doc.root());
    if diff.is_empty() {
        println!("Only comments or layout changed.");
    } else {
        print_diff(&diff);
    }
    match client
        .save_secrets(app, doc.text(), base, message.as_deref())
        .await
    {
        Ok(saved) => {
            println!("Saved version {} of {app}.", saved.version);
            Ok(())
        }
        Err(err) => {
            let why = save_error(err).to_string();
            Err(keep(file, &why))
        }
    }
}

/// Runs `$VISUAL` or `$EDITOR` (default `vi`) on `path` through the shell, so an editor given
/// with arguments (`code --wait`) works.
async fn run_editor(path: &Path) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(path)
        .status()
        .await
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}, nothing was saved");
    }
    Ok(())
}
