//! Local development: `hush init` (a private `.streamlit/secrets.toml` that git ignores),
//! `hush check` (nothing secret is tracked or about to be committed; optionally as a pre-commit
//! hook), and `hush pull` / `hush push` (the local file ⇄ an app's newest version on the server).

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::Subcommand;
use hush_core::{Document, Table, Value};

use crate::private_file::{self, Existing};
use crate::profile::ServerArgs;
use crate::text_file;

/// The project secrets file, relative to the working directory (Streamlit's `$CWD/.streamlit`).
const SECRETS_FILE: &str = ".streamlit/secrets.toml";
/// Values shorter than this are too common to flag in a staged change.
const MIN_VALUE_LEN: usize = 6;

const EXAMPLE: &str = r#"# Secrets for local development: read by st.secrets and by `hush run --local`.
# Keep this file out of version control (`hush init` makes git ignore it;
# `hush check --install-hook` refuses commits that would leak it).
#
# Root-level strings and numbers also become environment variables:
# db_username = "Jane"
# db_password = "12345qwerty"
#
# Sections are reachable as st.secrets.db_credentials.username, or **st.secrets.db_credentials:
# [db_credentials]
# username = "my_username"
# password = "my_password"
"#;

const HOOK_MARKER: &str = "# Installed by `hush check --install-hook`";

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Create .streamlit/secrets.toml (readable only by you) if missing, and make git ignore it.
    Init,
    /// Fail when a secrets file is tracked by git or not ignored, or when the staged change
    /// contains a value from the local secrets (a multi-line value, such as a PEM key, also
    /// any one of its lines).
    Check {
        /// Also install a git pre-commit hook that runs `hush check`.
        #[arg(long)]
        install_hook: bool,
        /// Replace an existing, different pre-commit hook.
        #[arg(long, requires = "install_hook")]
        force: bool,
    },
    /// Write an app's newest secrets to .streamlit/secrets.toml.
    Pull {
        /// The app to pull.
        app: String,
        /// Overwrite a different local file without asking.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Save .streamlit/secrets.toml as the app's new version, after showing which keys change.
    Push {
        /// The app to push to.
        app: String,
        /// Save without asking.
        #[arg(long, short)]
        yes: bool,
        /// A note for the version history.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub async fn run(cmd: LocalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LocalCommand::Init => init(),
        LocalCommand::Check {
            install_hook,
            force,
        } => check(install_hook, force),
        LocalCommand::Pull { app, yes, server } => pull(&app, yes, &server).await,
        LocalCommand::Push {
            app,
            yes,
            message,
            server,
        } => push(&app, yes, message.as_deref(), &server).await,
    }
}

// ---- hush init ----

fn init() -> anyhow::Result<ExitCode> {
    let path = Path::new(SECRETS_FILE);
    if path.exists() {
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {SECRETS_FILE} private"))?;
            println!("{SECRETS_FILE} already exists; made it readable only by you (was {mode:o}).");
        } else {
            println!("{SECRETS_FILE} already exists.");
        }
    } else {
        std::fs::create_dir_all(".streamlit").context("cannot create .streamlit")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {SECRETS_FILE}"))?;
        file.write_all(EXAMPLE.as_bytes())?;
        println!("Created {SECRETS_FILE} (readable only by you).");
    }
    ensure_ignored()?;
    Ok(ExitCode::SUCCESS)
}

/// Makes git ignore the project secrets file: appends it to `./.gitignore` unless a rule
/// already ignores it. Says so when it is tracked anyway (ignore rules do not apply then).
fn ensure_ignored() -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    if git_root(&cwd).is_none() {
        println!("Not in a git repository: keep {SECRETS_FILE} out of version control.");
        return Ok(());
    }
    // --no-index: look at the rules even when the file is tracked.
    let ignored = git(&cwd, &["check-ignore", "-q", "--no-index", SECRETS_FILE])?.success;
    if !ignored {
        let gitignore = cwd.join(".gitignore");
        let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# Local secrets (hush init)\n");
        text.push_str(SECRETS_FILE);
        text.push('\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&gitignore)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .context("cannot update .gitignore")?;
        println!("Added {SECRETS_FILE} to .gitignore.");
    }
    if !git(&cwd, &["ls-files", "--error-unmatch", SECRETS_FILE])?
        .stdout
        .is_empty()
    {
        println!(
            "Warning: {SECRETS_FILE} is tracked by git, so ignoring it has no effect. Remove it \
             from the repository (keeping your copy) with `git rm --cached {SECRETS_FILE}`, and \
             change every secret it held: they are in the history."
        );
    }
    Ok(())
}

// ---- hush check ----

fn check(install_hook: bool, force: bool) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let Some(root) = git_root(&cwd) else {
        bail!("not in a git repository: `hush check` looks at what git tracks and what is staged");
    };
    if install_hook {
        install_pre_commit(&root, force)?;
    }
    let problems = find_problems(&root)?;
    if problems.is_empty() {
        println!("hush check: no secrets tracked or staged.");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("hush check: refusing; secrets would leak into git:");
    for p in &problems {
        eprintln!("  - {p}");
    }
    Ok(ExitCode::FAILURE)
}

/// Everything wrong, one line each, naming files and keys but never values.
fn find_problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();

    // 1. Tracked (or staged to be) secrets files.
    let tracked = git(root, &["ls-files", "-z", "--cached"])?.stdout;
    let tracked: Vec<&str> = tracked.split('\0').filter(|p| is_secrets_path(p)).collect();
    for path in &tracked {
        problems.push(format!(
            "{path} is tracked by git: run `git rm --cached {path}` (keeps your copy), make sure \
             it is ignored (`hush init`), and change the secrets it held"
        ));
    }

    // 2. Secrets files on disk that git would pick up.
    let files = secrets_files_on_disk(root);
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file);
        let rel_str = rel.to_string_lossy();
        if tracked.contains(&rel_str.as_ref()) {
            continue;
        }
        let ignored = git(root, &["check-ignore", "-q", "--no-index", &rel_str])?.success;
        if !ignored {
            problems.push(format!(
                "{rel_str} is not ignored by git: add it to .gitignore (`hush init` does)"
            ));
        }
    }

    // 3. Secret values in the staged change.
    let mut secrets = Vec::new();
    let mut sources = files.clone();
    if let Some(home) = std::env::var_os("HOME") {
        sources.push(PathBuf::from(home).join(".streamlit").join("secrets.toml"));
    }
    for file in &sources {
        // A file that cannot be read (not UTF-8, say) cannot be checked: an error, not a pass.
        let text = match text_file::read_to_string(file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot check the staged change against {}", file.display())
                });
            }
        };
        let doc = Document::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "cannot check the staged change against {}: {e}",
                file.display()
            )
        })?;
        let label = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        collect_values(doc.root(), &mut Vec::new(), &label, &mut secrets);
    }
    if !secrets.is_empty() {
        let diff = git(
            root,
            &[
                "diff",
                "--cached",
                "--no-color",
                "--no-ext-diff",
                "-U0",
                "--text",
            ],
        )?
        .stdout;
        problems.extend(scan_diff(&diff, &secrets));
    }
    Ok(problems)
}

/// A string value from a local secrets file: where it came from, never shown itself.
struct SecretValue {
    key: String,
    source: String,
    value: String,
}

fn collect_values(
    table: &Table,
    prefix: &mut Vec<String>,
    source: &str,
    out: &mut Vec<SecretValue>,
) {
    for (key, value) in table {
        prefix.push(key.clone());
        collect_value(value, prefix, source, out);
        prefix.pop();
    }
}

fn collect_value(
    value: &Value,
    prefix: &mut Vec<String>,
    source: &str,
    out: &mut Vec<SecretValue>,
) {
    match value {
        Value::String(s) if s.chars().count() >= MIN_VALUE_LEN => out.push(SecretValue {
            key: hush_core::format_key_path(prefix),
            source: source.to_string(),
            value: s.clone(),
        }),
        Value::Table(t) => collect_values(t, prefix, source, out),
        Value::Array(items) => {
            for item in items {
                collect_value(item, prefix, source, out);
            }
        }
        _ => {}
    }
}

/// Added lines of a `git diff -U0` that contain a secret value: file, line and key named.
fn scan_diff(diff: &str, secrets: &[SecretValue]) -> Vec<String> {
    let mut found = Vec::new();
    let mut file = String::new();
    let mut line_no = 0usize;
    // Between a file's `diff --git` line and its first `@@`: only there is `+++ ` a header; in
    // a hunk it is an added line that starts with `++ `.
    let mut in_header = true;
    // A multi-line value is reported once per file, not once for each of its lines.
    let mut reported: HashSet<(String, usize)> = HashSet::new();
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            in_header = true;
            continue;
        }
        if in_header {
            if let Some(path) = line.strip_prefix("+++ ") {
                file = path.strip_prefix("b/").unwrap_or(path).to_string();
            } else if line.starts_with("@@") {
                in_header = false;
            } else {
                continue;
            }
        }
        if line.starts_with("@@") {
            // @@ -a,b +c,d @@: the new side starts at line c.
            line_no = line
                .split_whitespace()
                .find_map(|part| part.strip_prefix('+'))
                .and_then(|c| c.split(',').next())
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            continue;
        }
        let Some(added) = line.strip_prefix('+') else {
            continue;
        };
        for (index, secret) in secrets.iter().enumerate() {
            if added.contains(&secret.value) {
                found.push(format!(
                    "the staged change to {file} (line {line_no}) contains the value of \
                     `{}` from {}: take it out and read it from st.secrets or the \
                     environment instead",
                    secret.key, secret.source
                ));
            } else if secret_lines(&secret.value).any(|part| added.contains(part))
                && reported.insert((file.clone(), index))
            {
                found.push(format!(
                    "the staged change to {file} (line {line_no}) contains a line of the \
                     multi-line value of `{}` from {}: take it out and read it from \
                     st.secrets or the environment instead",
                    secret.key, secret.source
                ));
            }
        }
        line_no += 1;
    }
    found
}

/// The lines of a multi-line value (a PEM key) long enough to flag, trimmed: a diff is read
/// one line at a time, so a file holding the value (key.pem) shows it only line by line. As
/// the runner's output masking does, but with white space trimmed, since a file may indent the
/// value differently from the secrets file. Lines anyone may write are left out: short ones,
/// and PEM armor (`-----BEGIN PRIVATE KEY-----`), which any sample key or doc shares.
/// The shortest line of a multi-line value that counts as a part of it (a key's body lines
/// are 64 characters; a line of a JSON value like `"type": "service_account",` is shorter).
const MIN_LINE_LEN: usize = 32;

fn secret_lines(value: &str) -> impl Iterator<Item = &str> {
    value
        .contains('\n')
        .then(|| value.lines())
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|line| line.chars().count() >= MIN_LINE_LEN && !line.starts_with("-----"))
}

/// `.streamlit/secrets.toml`, or any `secrets.toml` below a `.streamlit` folder.
fn is_secrets_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.last() == Some(&"secrets.toml") && parts[..parts.len() - 1].contains(&".streamlit")
}

/// Secrets files in the working tree: every `secrets.toml` below a `.streamlit` folder,
/// skipping `.git`, dependency and build folders.
fn secrets_files_on_disk(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, inside_streamlit: bool, depth: usize, out: &mut Vec<PathBuf>) {
        if depth > 8 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                let skip = matches!(
                    name.as_ref(),
                    ".git" | "node_modules" | "target" | "__pycache__" | ".venv" | "venv"
                ) || path.join("pyvenv.cfg").exists();
                if !skip {
                    walk(
                        &path,
                        inside_streamlit || name == ".streamlit",
                        depth + 1,
                        out,
                    );
                }
            } else if inside_streamlit && name == "secrets.toml" {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, false, 0, &mut out);
    out
}

fn install_pre_commit(root: &Path, force: bool) -> anyhow::Result<()> {
    let hooks = git(root, &["rev-parse", "--git-path", "hooks"])?;
    let hooks = root.join(hooks.stdout.trim());
    let path = hooks.join("pre-commit");
    let exe = std::env::current_exe().context("cannot find the hush program's path")?;
    let script = format!(
        "#!/bin/sh\n{HOOK_MARKER}: refuse commits that would leak secrets.\n\
         if command -v hush >/dev/null 2>&1; then exec hush check; fi\n\
         exec '{}' check\n",
        exe.display().to_string().replace('\'', r"'\''")
    );
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == script => {
            println!(
                "The pre-commit hook is already installed ({}).",
                path.display()
            );
            return Ok(());
        }
        Ok(existing) if !force && !existing.contains(HOOK_MARKER) => bail!(
            "{} already exists and is not hush's: add `hush check` to it yourself, or replace \
             it with `hush check --install-hook --force`",
            path.display()
        ),
        _ => {}
    }
    std::fs::create_dir_all(&hooks)
        .with_context(|| format!("cannot create {}", hooks.display()))?;
    std::fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    println!("Installed the pre-commit hook: {}", path.display());
    Ok(())
}

// ---- hush pull / push ----

async fn pull(app: &str, yes: bool, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let client = server.client()?;
    let latest = client
        .secrets(app)
        .await
        .with_context(|| format!("cannot fetch the secrets of {app:?}"))?;
    let path = Path::new(SECRETS_FILE);
    match text_file::read_to_string(path) {
        Ok(local) if local == latest.toml => {
            println!(
                "{SECRETS_FILE} already holds version {} of {app}.",
                latest.version
            );
            return Ok(ExitCode::SUCCESS);
        }
        Ok(local) => {
            println!(
                "{SECRETS_FILE} differs from version {} of {app}:",
                latest.version
            );
            match (Document::parse(&local), Document::parse(&latest.toml)) {
                (Ok(old), Ok(new)) => print_diff(old.root(), new.root()),
                _ => println!("  (the local file does not parse; it is replaced whole)"),
            }
            if !yes && !confirm(&format!("Overwrite {SECRETS_FILE}?"))? {
                println!("Left {SECRETS_FILE} as it was.");
                return Ok(ExitCode::FAILURE);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {SECRETS_FILE}")),
    }
    private_file::write(path, latest.toml.as_bytes(), Existing::Replace)?;
    println!(
        "Wrote version {} of {app} to {SECRETS_FILE}.",
        latest.version
    );
    ensure_ignored()?;
    Ok(ExitCode::SUCCESS)
}

async fn push(
    app: &str,
    yes: bool,
    message: Option<&str>,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let text = match text_file::read_to_string(Path::new(SECRETS_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{SECRETS_FILE} does not exist: create it with `hush init` or `hush pull {app}`")
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {SECRETS_FILE}")),
    };
    let local =
        Document::parse_for_save(&text).map_err(|e| anyhow::anyhow!("{SECRETS_FILE}: {e}"))?;
    let client = server.client()?;
    let mut includes = false;
    let (base_version, base_text, base) = match client.document(app).await {
        Ok(latest) => {
            includes = !latest.includes.is_empty();
            let doc = Document::parse(&latest.toml).map_err(|e| {
                anyhow::anyhow!(
                    "version {} on the server does not parse: {e}",
                    latest.version
                )
            })?;
            (latest.version, latest.toml, doc.into_root())
        }
        // No secrets yet (the app exists): everything is new.
        Err(e) if e.status() == Some(404) && client.app(app).await.is_ok() => {
            (0, String::new(), Table::new())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot fetch the secrets of {app:?}")),
    };
    // A pulled file holds the environment's effective secrets: keys that come unchanged from
    // its shared documents stay theirs, only the rest is the environment's own document.
    let (text, local) = if includes {
        own_part(&client, app, &base, local).await?
    } else {
        (text, local)
    };
    if base_version > 0 && base_text == local.text() {
        println!("Nothing to push: {SECRETS_FILE} is version {base_version} of {app}.");
        return Ok(ExitCode::SUCCESS);
    }
    // A pulled file holds the merged document, without the own document's comments: pushing it
    // back unchanged must not replace the saved text with a comment-less copy.
    if includes && base_version > 0 && base == *local.root() {
        println!(
            "Nothing to push: the keys of {SECRETS_FILE} that are {app}'s own have the values of \
             version {base_version} (with included shared documents, changes to comments or \
             layout alone are not pushed)."
        );
        return Ok(ExitCode::SUCCESS);
    }
    if base_version > 0 {
        println!("Changes against version {base_version} of {app}:");
    } else {
        println!("{app} has no secrets yet; {SECRETS_FILE} adds:");
    }
    print_diff(&base, local.root());
    if !yes && !confirm(&format!("Save as the new version of {app}?"))? {
        println!("Nothing saved.");
        return Ok(ExitCode::FAILURE);
    }
    match client.save_secrets(app, &text, base_version, message).await {
        Ok(saved) if saved.unchanged => {
            println!(
                "No changes: version {} of {app} already holds exactly this; no version was saved.",
                saved.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(saved) => {
            println!("Saved version {} of {app}.", saved.version);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.status() == Some(409) => bail!(
            "someone saved a newer version of {app} after version {base_version}: run `hush push \
             {app}` again to see the changes against it (or `hush pull {app}` first)"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot save the secrets of {app:?}")),
    }
}

/// `local` without the root keys whose value is exactly what an included shared document gives
/// (and that the environment's own document does not have). Only those keys are cut out of the
/// file's text: its comments and layout stay.
async fn own_part(
    client: &hush_client::api::Client,
    app: &str,
    own: &Table,
    local: Document,
) -> anyhow::Result<(String, Document)> {
    let env = client.env().unwrap_or("production");
    let effective = client.secrets(app).await?;
    let effective = Document::parse(&effective.toml)
        .map_err(|e| anyhow::anyhow!("the effective secrets do not parse: {e}"))?;
    let info = client.effective(app, env).await?;
    let mut kept = Table::new();
    let mut shared = Vec::new();
    for (key, value) in local.root() {
        let from = info["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["key"] == key.as_str()))
            .and_then(|k| k["from"].as_str());
        let from_shared = from.is_some_and(|f| f != env) && !own.contains_key(key);
        if from_shared && effective.root().get(key) == Some(value) {
            shared.push((key.clone(), from.unwrap_or_default().to_owned()));
        } else {
            kept.insert(key.clone(), value.clone());
        }
    }
    if shared.is_empty() {
        return Ok((local.text().to_owned(), local));
    }
    let named: Vec<String> = shared.iter().map(|(k, d)| format!("{k} ({d})")).collect();
    println!(
        "Left to the shared documents (unchanged): {}",
        named.join(", ")
    );
    let keys: Vec<&str> = shared.iter().map(|(k, _)| k.as_str()).collect();
    let text = without_root_keys(local.text(), &keys)
        .filter(|text| Document::parse(text).is_ok_and(|d| *d.root() == kept))
        // Not expected (the file parsed as TOML 1.0 already); the keys still go, as plain TOML.
        .unwrap_or_else(|| hush_core::to_toml(&kept));
    let doc = Document::parse_for_save(&text)
        .map_err(|e| anyhow::anyhow!("{SECRETS_FILE} without the shared keys: {e}"))?;
    Ok((text, doc))
}

/// `text` with the root keys `keys` (and everything under them) cut out, every other line as it
/// was; `None` when toml_edit cannot read the text.
fn without_root_keys(text: &str, keys: &[&str]) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().ok()?;
    for key in keys {
        doc.remove(key);
    }
    // The blank lines that stood before a removed first key.
    Some(doc.to_string().trim_start().to_owned())
}

/// Key names only: `+ added`, `- removed`, `~ changed`.
fn print_diff(old: &Table, new: &Table) {
    let diff = hush_core::diff(old, new);
    if diff.is_empty() {
        println!("  (same keys and values; only comments or layout differ)");
    }
    for key in &diff.added {
        println!("  + {key}");
    }
    for key in &diff.removed {
        println!("  - {key}");
    }
    for key in &diff.changed {
        println!("  ~ {key}");
    }
}

/// Asks on the terminal; without one, the answer is no (use `--yes`).
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} No terminal to ask on: pass --yes to go ahead");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

// ---- git ----

struct GitOutput {
    success: bool,
    stdout: String,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<GitOutput> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .context("cannot run git: is it installed?")?;
    Ok(GitOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn git_root(dir: &Path) -> Option<PathBuf> {
    let out = git(dir, &["rev-parse", "--show-toplevel"]).ok()?;
    out.success.then(|| PathBuf::from(out.stdout.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_paths_are_recognised() {
        assert!(is_secrets_path(".streamlit/secrets.toml"));
        assert!(is_secrets_path("apps/web/.streamlit/secrets.toml"));
        assert!(is_secrets_path(".streamlit/prod/secrets.toml"));
        assert!(!is_secrets_path("secrets.toml"));
        assert!(!is_secrets_path(".streamlit/config.toml"));
        assert!(!is_secrets_path("docs/streamlit/secrets.toml"));
    }

    #[test]
    fn a_staged_value_is_found_with_its_file_line_and_key_but_not_shown() {
        let diff = "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -3,0 +4,2 @@\n+import os\n+PASSWORD = \"hunter22\"\n";
        let secrets = vec![SecretValue {
            key: "db.password".into(),
            source: ".streamlit/secrets.toml".into(),
            value: "hunter22".into(),
        }];
        let found = scan_diff(diff, &secrets);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("app.py (line 5)"), "{}", found[0]);
        assert!(found[0].contains("`db.password`"));
        assert!(!found[0].contains("hunter22"));
        // A removed line is not a leak.
        assert!(scan_diff("+++ b/x\n@@ -1 +0,0 @@\n-hunter22\n", &secrets).is_empty());
    }

    #[test]
    fn an_added_line_that_starts_with_two_pluses_is_scanned_not_taken_for_a_header() {
        // The file adds "++ hunter22" and "--- x": in the diff, "+++ hunter22" and "+--- x".
        let diff = "diff --git a/notes.md b/notes.md\nindex 1..2 100644\n--- a/notes.md\n\
                    +++ b/notes.md\n@@ -1,0 +2,3 @@\n+intro\n+++ hunter22\n+--- x\n\
                    diff --git a/b.txt b/b.txt\n--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n\
                    --- old\n++++ hunter22 again\n";
        let secrets = vec![SecretValue {
            key: "token".into(),
            source: ".streamlit/secrets.toml".into(),
            value: "hunter22".into(),
        }];
        let found = scan_diff(diff, &secrets);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("notes.md (line 3)"), "{}", found[0]);
        assert!(found[1].contains("b.txt (line 1)"), "{}", found[1]);
    }

    #[test]
    fn a_multi_line_value_is_found_line_by_line_and_reported_once_per_file() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\
                   bKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";
        let secrets = vec![SecretValue {
            key: "tls.key".into(),
            source: ".streamlit/secrets.toml".into(),
            value: pem.into(),
        }];
        // key.pem as committed: the same lines, one per diff line; a copy indented in a YAML
        // file; and a file with only a line too short to flag ("ab" < MIN_LINE_LEN).
        let diff = "diff --git a/key.pem b/key.pem\n--- /dev/null\n+++ b/key.pem\n\
                    @@ -0,0 +1,4 @@\n+-----BEGIN PRIVATE KEY-----\n\
                    +MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n+bKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
                    +-----END PRIVATE KEY-----\n\
                    diff --git a/ci.yml b/ci.yml\n--- a/ci.yml\n+++ b/ci.yml\n@@ -7,0 +8 @@\n\
                    +    bKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n";
        let found = scan_diff(diff, &secrets);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("key.pem (line 2)"), "{}", found[0]);
        assert!(found[1].contains("ci.yml (line 8)"), "{}", found[1]);
        for report in &found {
            assert!(report.contains("`tls.key`"), "{report}");
            assert!(
                !report.contains("MIIE") && !report.contains("bKcw"),
                "{report}"
            );
        }
        let short = SecretValue {
            key: "k".into(),
            source: "s".into(),
            value: "ab\ncd\n".into(),
        };
        assert!(scan_diff("+++ b/x\n@@ -0,0 +1 @@\n+ab\n", &[short]).is_empty());
        // PEM armor is in every sample key and doc: not a part of this one.
        let armor = "+++ b/doc.md\n@@ -0,0 +1,2 @@\n+-----BEGIN PRIVATE KEY-----\n\
                     +-----END PRIVATE KEY-----\n";
        assert!(scan_diff(armor, &secrets).is_empty());
    }
}
