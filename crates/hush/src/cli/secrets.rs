//! `hush secrets get|export|set|edit|import|history|diff|rollback`.
//!
//! Every save names the version it started from, so a change someone else saved meanwhile is
//! refused (HTTP 409, with who saved what) instead of overwritten.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use hush_client::api::{Client, ClientError, VersionInfo};
use hush_core::{Document, KeyDiff, format_key};
use serde_json::{Value, json};
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::apps::read_secrets_file;
use super::edit_copy::EditCopy;
use super::formats::{self, Format};
use super::output::{
    ask, cell, format_millis, interactive, print_json, print_table, visible, visible_text,
};
use crate::private_file::Existing;
use crate::profile::ServerArgs;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Print an app's newest secrets (or one value with --key). On a terminal, control
    /// characters in them are shown as escapes (\e, \x00); piped or redirected, they are kept.
    Get {
        /// The app's name.
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
        /// The app's name.
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
        /// The app's name.
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
    ///
    /// The copy being edited lives in $XDG_RUNTIME_DIR/hush/edits, else ~/.cache/hush/edits
    /// (readable only by you), and is removed when the command ends, however it ends; one left
    /// by an edit that was killed is removed by the next edit. On a terminal, an editor that
    /// fails, an edit that is not valid and a save refused because someone saved meanwhile each
    /// offer to open the editor again.
    Edit {
        /// The app's name.
        app: String,
        /// Why (shown in the history).
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Replace the secrets with a TOML, JSON or .env file's content, as a new version
    /// (or, with --merge, set a .env file's keys and keep the rest).
    Import {
        /// The app's name.
        app: String,
        /// The file to read: TOML, JSON or .env.
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
        /// The app's name.
        app: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Which keys differ between two versions (TO defaults to the newest). Names only.
    Diff {
        /// The app's name.
        app: String,
        /// The older version's number (see `hush secrets history`).
        from: i64,
        /// The newer version's number (default: the newest).
        to: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Save an old version's secrets again as a new version (history is kept).
    Rollback {
        /// The app's name.
        app: String,
        /// The version to save again (see `hush secrets history`).
        version: i64,
    },
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
            print_data(&text);
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
                None => print_data(&text),
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
            let doc = formats::check_for_save(&new_text, "the changed secrets")?;
            let message = message.unwrap_or_else(|| {
                let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
                format!("hush secrets set {}", keys.join(" "))
            });
            let saved = client
                .save_secrets(&app, &new_text, base, Some(&message))
                .await
                .map_err(save_error)?;
            print_saved(&app, &saved);
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            note_not_exported(&doc, &keys);
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
            print_version_diff(&app, &answer);
        }
        SecretsCommand::Rollback { app, version } => {
            let base = latest_version(&client, &app).await?;
            let saved = client
                .rollback(&app, version, base)
                .await
                .map_err(save_error)?;
            print_rollback(&app, &app, version, &saved);
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
            for (key, why) in skipped {
                eprintln!("hush: left out {}: {why}", visible(&format_key(&key)));
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
    let text = crate::text_file::read_to_string(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let pairs = formats::parse_dotenv(&text).with_context(|| file.display().to_string())?;
    let (current, base) = fetch_latest(client, app).await?;
    let merged = formats::set_root_strings(&current, &pairs)?;
    formats::check_for_save(
        &merged,
        &format!("the secrets with {} merged in", file.display()),
    )?;
    Ok((merged, base))
}

/// The newest version's text and number; an empty document and 0 for an app without secrets.
async fn fetch_latest(client: &Client, app: &str) -> anyhow::Result<(String, i64)> {
    match client.document(app).await {
        Ok(s) => Ok((s.toml, s.version)),
        Err(err) if err.status() == Some(404) => {
            // Either no such app or environment (this says so) or no secrets yet.
            if newest_own_version(client, app).await? == Some(0) {
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
    newest_own_version(client, app)
        .await?
        .ok_or_else(|| anyhow!("the server did not say which version of {app} is the newest"))
}

/// The newest version of the app's own document in the client's environment (production's
/// is the app's `latest_version`).
async fn newest_own_version(client: &Client, app: &str) -> anyhow::Result<Option<i64>> {
    let Some(env) = client.env() else {
        return Ok(client.app(app).await?["latest_version"].as_i64());
    };
    let envs = client.envs(app).await?;
    let found = envs["envs"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["name"] == env))
        .ok_or_else(|| anyhow!("app {app:?} has no environment named {env:?}"))?;
    Ok(found["version"].as_i64())
}

/// A refused save says so plainly: nothing was overwritten.
pub(super) fn save_error(err: ClientError) -> anyhow::Error {
    match &err {
        ClientError::Api {
            status: 409,
            message,
            ..
        } => anyhow!("{message} (nothing was saved)"),
        _ => err.into(),
    }
}

/// "Saved version N", with the keys that changed; or, when the server found the text already
/// the newest version's, that nothing was saved.
fn print_saved(app: &str, saved: &VersionInfo) {
    if saved.unchanged {
        println!(
            "No changes: version {} of {app} already holds exactly this; no version was saved.",
            saved.version
        );
        return;
    }
    println!("Saved version {} of {app}.", saved.version);
    print_diff(&key_diff(&saved.changes));
}

/// Says which of the keys just set the app will not get as environment variables, and why.
fn note_not_exported(doc: &Document, keys: &[&str]) {
    let env = doc.env();
    for key in keys {
        let shown = visible(&format_key(key)).into_owned();
        if let Some(skipped) = env.skipped.iter().find(|s| s.key == *key) {
            eprintln!(
                "hush: note: {shown} is saved (st.secrets has it), but it is not exported as an \
                 environment variable: {}",
                skipped.reason
            );
        } else if !formats::is_shell_name(key) {
            eprintln!(
                "hush: note: {shown} is saved and `hush run` exports it, but `--format env` \
                 leaves it out: {}",
                formats::NOT_A_SHELL_NAME
            );
        }
    }
}

/// Secrets output on standard output: as is when piped or redirected (it is data), through
/// [`visible_text`] on a terminal, where a value's control characters could drive it.
fn print_data(text: &str) {
    if std::io::stdout().is_terminal() {
        print!("{}", visible_text(text));
    } else {
        print!("{text}");
    }
}

pub(super) fn key_diff(value: &Value) -> KeyDiff {
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

/// The server's answer to a diff of `name`'s versions: which two, then the key paths.
pub(super) fn print_version_diff(name: &str, answer: &Value) {
    println!(
        "{name}: version {} → version {}",
        cell(&answer["from"]),
        cell(&answer["to"])
    );
    print_diff(&key_diff(&answer["diff"]));
}

/// What a rollback of `name` (`saved_as` in the sentence) to `version` did: a new version and
/// its changes, or nothing saved when the newest version already holds that text.
pub(super) fn print_rollback(name: &str, saved_as: &str, version: i64, saved: &VersionInfo) {
    if saved.unchanged {
        println!(
            "No changes: the newest version of {name}, {}, already holds what version \
             {version} held; no version was saved.",
            saved.version
        );
    } else {
        println!(
            "Saved version {} of {saved_as}: a copy of version {version}.",
            saved.version
        );
        print_diff(&key_diff(&saved.changes));
    }
}

pub(super) fn print_diff(diff: &KeyDiff) {
    if diff.is_empty() {
        println!("  (no key changed)");
    }
    for key in &diff.added {
        println!("  + {}", visible(key));
    }
    for key in &diff.changed {
        println!("  ~ {}", visible(key));
    }
    for key in &diff.removed {
        println!("  - {}", visible(key));
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

/// What `hush secrets edit` is doing, for what an interruption means.
const PROMPTING: u8 = 0;
const EDITOR_OPEN: u8 = 1;
const SAVING: u8 = 2;
/// SIGTERM or SIGHUP came while the editor was open: end when it closes, saving nothing
/// (ending at once would leave the editor to write the copy back after it was removed).
const STOP_AFTER_EDITOR: u8 = 3;

/// `hush secrets edit`: the newest version in a private copy, the editor, a check, the
/// key-level difference, a save on top of the version that was edited. The copy is removed
/// when the command ends, whether it saved, failed, or was interrupted (Ctrl+C, SIGTERM, a
/// closed terminal), with what editors leave beside it; if the command is killed, the next
/// edit removes it ([`EditCopy`]).
async fn edit(client: &Client, app: &str, message: Option<String>) -> anyhow::Result<()> {
    let (text, base) = fetch_latest(client, app).await?;
    Document::parse(&text).context("the server sent secrets that do not parse")?;
    let copy = EditCopy::create(app, &text)?;
    let mut signals = Signals::listen()?;
    let phase = AtomicU8::new(PROMPTING);
    let editing = Editing {
        client,
        app,
        message: message.as_deref(),
        path: copy.path(),
        phase: &phase,
    };
    let result = tokio::select! {
        result = editing.run(text, base) => result,
        signal = signals.next(&phase) => Err(match phase.load(Ordering::SeqCst) {
            SAVING => anyhow!(
                "{signal} while saving; see `hush secrets history {app}` for whether the save \
                 arrived. The copy being edited was removed"
            ),
            _ => anyhow!("{signal}: nothing was saved, and the copy being edited was removed"),
        }),
    };
    drop(copy);
    result
}

/// One `hush secrets edit` session: the copy at `path`, edited until it is saved or given up.
struct Editing<'a> {
    client: &'a Client,
    app: &'a str,
    message: Option<&'a str>,
    path: &'a Path,
    phase: &'a AtomicU8,
}

impl Editing<'_> {
    /// Edits on top of `base_text` (version `base`) until saved; every failure can lead back
    /// to the editor when someone is at the terminal.
    async fn run(&self, mut base_text: String, mut base: i64) -> anyhow::Result<()> {
        let app = self.app;
        loop {
            self.phase.store(EDITOR_OPEN, Ordering::SeqCst);
            let exit = run_editor(self.path).await;
            if self.phase.swap(PROMPTING, Ordering::SeqCst) == STOP_AFTER_EDITOR {
                bail!(
                    "stopped (SIGTERM or SIGHUP) while the editor was open: nothing was saved, \
                     and the copy being edited was removed"
                );
            }
            match exit? {
                EditorExit::Closed => {}
                EditorExit::Interrupted => {
                    bail!("the editor was interrupted; nothing was saved")
                }
                EditorExit::Failed(why) => {
                    again(
                        anyhow!("{why}; nothing was saved"),
                        "Open the editor again?",
                    )
                    .await?;
                    continue;
                }
            }
            let edited = match crate::text_file::read_to_string(self.path) {
                Ok(edited) => edited,
                // Saved in another encoding: fixable in the editor, like a TOML error.
                Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                    let question = "Open the editor again to fix it?";
                    again(anyhow!("your edit: {err}; nothing was saved"), question).await?;
                    continue;
                }
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!(
                            "cannot read the edited copy {} back (did the editor move it?)",
                            self.path.display()
                        )
                    });
                }
            };
            if edited == base_text {
                println!("No changes; nothing saved.");
                return Ok(());
            }
            let doc = match formats::check_for_save(&edited, "your edit") {
                Ok(doc) => doc,
                Err(err) => {
                    let question = "Open the editor again to fix it?";
                    again(anyhow!("{err}; nothing was saved"), question).await?;
                    continue;
                }
            };
            let old =
                Document::parse(&base_text).context("the server sent secrets that do not parse")?;
            let diff = hush_core::diff(old.root(), doc.root());
            if diff.is_empty() {
                println!("Only comments or layout changed.");
            } else {
                print_diff(&diff);
            }
            self.phase.store(SAVING, Ordering::SeqCst);
            let saved = self
                .client
                .save_secrets(app, doc.text(), base, self.message)
                .await;
            self.phase.store(PROMPTING, Ordering::SeqCst);
            match saved {
                Ok(saved) => {
                    if saved.unchanged {
                        print_saved(app, &saved);
                    } else {
                        println!("Saved version {} of {app}.", saved.version);
                    }
                    return Ok(());
                }
                Err(err) if err.status() == Some(409) => {
                    let question = "Open your edit again, to merge by hand? It will then be \
                                    saved on top of the newest version.";
                    again(save_error(err), question).await?;
                    (base_text, base) = fetch_latest(self.client, app).await?;
                }
                Err(err) => {
                    let question = "Open the editor again? Closing it tries to save once more.";
                    again(
                        anyhow::Error::from(err).context("nothing was saved"),
                        question,
                    )
                    .await?;
                }
            }
        }
    }
}

/// After a failure: `Ok` to open the editor again, when someone at the terminal says so
/// (having been shown `failure`); else the error to end with (`failure` itself when nobody
/// could be asked).
async fn again(failure: anyhow::Error, question: &str) -> anyhow::Result<()> {
    if !interactive() {
        return Err(failure);
    }
    eprintln!("hush: {}", super::error_text(&failure));
    let question = format!("{question} [Y/n] ");
    // Off the async threads, so a Ctrl+C while waiting is still seen.
    let answer = tokio::task::spawn_blocking(move || ask(&question)).await??;
    match answer.as_deref().map(str::trim) {
        None | Some("n" | "N" | "no" | "No") => bail!("nothing was saved"),
        Some(_) => Ok(()),
    }
}

/// How the editor ended.
enum EditorExit {
    /// It exited successfully: read the file back.
    Closed,
    /// It was stopped with Ctrl+C.
    Interrupted,
    /// It failed; what to tell the user.
    Failed(String),
}

/// Runs `$VISUAL` or `$EDITOR` (default `vi`) on `path` through the shell, so an editor given
/// with arguments (`code --wait`) works.
async fn run_editor(path: &Path) -> anyhow::Result<EditorExit> {
    use std::os::unix::process::ExitStatusExt;
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
        // `exec`: the editor, not a shell waiting for it, gets Ctrl+C and decides what it means.
        .arg(format!("exec {editor} \"$@\""))
        .arg(&editor)
        .arg(path)
        .status()
        .await
        .context("cannot start the shell (sh) that runs the editor")?;
    let shown = visible(&editor);
    Ok(match (status.code(), status.signal()) {
        (Some(0), _) => EditorExit::Closed,
        (Some(130), _) | (None, Some(2)) => EditorExit::Interrupted,
        (Some(127), _) => EditorExit::Failed(format!(
            "the editor `{shown}` was not found; set VISUAL or EDITOR to an editor that is \
             installed (e.g. EDITOR=nano)"
        )),
        (Some(126), _) => EditorExit::Failed(format!(
            "the editor `{shown}` cannot be run (is it executable?); set VISUAL or EDITOR to \
             another editor"
        )),
        (Some(code), _) => {
            EditorExit::Failed(format!("the editor `{shown}` exited with code {code}"))
        }
        (None, signal) => EditorExit::Failed(format!(
            "the editor `{shown}` was stopped by signal {}",
            signal.unwrap_or(0)
        )),
    })
}

/// Ctrl+C, SIGTERM and SIGHUP while `hush secrets edit` runs, so the copy can be removed before
/// it ends. Ctrl+C while the editor is open is the editor's (vim cancels a command with it);
/// if it ends the editor, the editor's exit says so.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Signals> {
        let listen =
            |kind| signal(kind).context("cannot listen for Ctrl+C (to remove the edited copy)");
        Ok(Signals {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    /// The next signal that should end the command now, in words. While the editor is open,
    /// Ctrl+C is left to it, and SIGTERM or SIGHUP ends the command once it closes.
    async fn next(&mut self, phase: &AtomicU8) -> &'static str {
        loop {
            let stop = tokio::select! {
                _ = self.interrupt.recv() => {
                    if phase.load(Ordering::SeqCst) == EDITOR_OPEN {
                        continue;
                    }
                    return "interrupted (Ctrl+C)";
                }
                _ = self.terminate.recv() => "stopped (SIGTERM)",
                _ = self.hangup.recv() => "the terminal closed (SIGHUP)",
            };
            let deferred = phase.compare_exchange(
                EDITOR_OPEN,
                STOP_AFTER_EDITOR,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            if deferred.is_err() && phase.load(Ordering::SeqCst) != STOP_AFTER_EDITOR {
                return stop;
            }
        }
    }
}
