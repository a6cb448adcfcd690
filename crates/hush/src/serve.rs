//! `hush serve`: resolves the settings (defaults < config file < environment < flags), opens
//! the store and the master keyring, binds, and hands over to `hush_server::serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use hush_crypto::MasterKey;
use hush_server::{AppState, Keyring, ServerConfig};
use hush_store::Store;
use serde::Deserialize;

pub const EXAMPLE_CONFIG: &str = include_str!("../hush.example.toml");

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Configuration file (TOML); see `hush print-config`.
    #[arg(long, env = "HUSH_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "HUSH_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where people reach the panel (used in setup and invitation links).
    #[arg(long, env = "HUSH_PUBLIC_URL")]
    public_url: Option<String>,
    /// Data directory of the embedded database and its master key file.
    #[arg(long, env = "HUSH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB (default: SQLite in the data directory).
    #[arg(long, env = "HUSH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// File holding the master key(s), one base64 key per line, newest first.
    /// (Or give the key itself in HUSH_MASTER_KEY.)
    #[arg(long, env = "HUSH_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// Prometheus metrics listener, or "off".
    #[arg(long, env = "HUSH_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Turn on server-launched apps, which must live in this directory.
    #[arg(long, env = "HUSH_APPS_DIR")]
    apps_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "HUSH_LOG_FORMAT")]
    log_format: Option<String>,
    /// Take client addresses from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "HUSH_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: Option<bool>,
    /// Mark session cookies Secure (on behind an HTTPS reverse proxy).
    #[arg(long, env = "HUSH_SECURE_COOKIES")]
    secure_cookies: Option<bool>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "HUSH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "HUSH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Open connections at most (default: from the process's file limit).
    #[arg(long, env = "HUSH_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections from one address at most (default: a quarter of max_connections;
    /// behind a reverse proxy every connection comes from its address: give max_connections).
    #[arg(long, env = "HUSH_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Single sign-on: the OpenID Connect issuer URL (turns SSO on).
    #[arg(long, env = "HUSH_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The client id registered with the provider.
    #[arg(long, env = "HUSH_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// The client secret (better: --oidc-client-secret-file).
    #[arg(long, env = "HUSH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    oidc_client_secret: Option<String>,
    /// File holding the client secret.
    #[arg(long, env = "HUSH_OIDC_CLIENT_SECRET_FILE")]
    oidc_client_secret_file: Option<PathBuf>,
    /// The provider's name on the sign-in button.
    #[arg(long, env = "HUSH_OIDC_NAME")]
    oidc_name: Option<String>,
    /// Email domains that may sign in (comma separated; unset: any).
    #[arg(long, env = "HUSH_OIDC_ALLOWED_DOMAINS", value_delimiter = ',')]
    oidc_allowed_domains: Option<Vec<String>>,
    /// The ID-token claim holding groups (e.g. groups).
    #[arg(long, env = "HUSH_OIDC_ROLE_CLAIM")]
    oidc_role_claim: Option<String>,
    /// GROUP=ROLE: members of GROUP join with ROLE (owner, editor, viewer); repeatable.
    #[arg(long = "oidc-role", env = "HUSH_OIDC_ROLES", value_delimiter = ',')]
    oidc_roles: Option<Vec<String>>,
    /// Unknown people become members on their first sign-in (else: invitation only).
    #[arg(long, env = "HUSH_OIDC_CREATE_USERS")]
    oidc_create_users: Option<bool>,
    /// Accept names and passwords at sign-in ("off" once single sign-on works).
    #[arg(long, env = "HUSH_PASSWORD_LOGIN", value_parser = on_off)]
    password_login: Option<bool>,
    /// Print the resolved settings and exit (no secrets are printed).
    #[arg(long, hide = true)]
    print_settings: bool,
}

/// The file form of the same settings (`hush print-config` shows every one).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    metrics_listen: Option<String>,
    apps_dir: Option<PathBuf>,
    log_format: Option<String>,
    trust_forwarded_for: Option<bool>,
    secure_cookies: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<String>,
    oidc_client_secret_file: Option<PathBuf>,
    oidc_name: Option<String>,
    oidc_allowed_domains: Option<Vec<String>>,
    oidc_role_claim: Option<String>,
    oidc_roles: Option<Vec<String>>,
    oidc_create_users: Option<bool>,
    password_login: Option<bool>,
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?}: use on or off")),
    }
}

#[derive(Debug, PartialEq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite database in the data directory.
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub apps_dir: Option<PathBuf>,
    pub json_logs: bool,
    pub trust_forwarded_for: bool,
    pub secure_cookies: bool,
    /// Certificate chain and key, when serving HTTPS directly.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// 0: derived (see `hush_server::Limits`).
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Single sign-on (its Debug output hides the client secret).
    pub sso: Option<hush_server::SsoConfig>,
    pub password_login: bool,
}

pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("hush");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/hush"),
        None => PathBuf::from("hush-data"),
    }
}

impl Settings {
    fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Settings> {
        let sso = resolve_sso(&args, &file)?;
        let password_login = args.password_login.or(file.password_login).unwrap_or(true);
        if !password_login && sso.is_none() {
            bail!("password_login = off needs single sign-on: set oidc_issuer and oidc_client_id");
        }
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8200".parse().expect("valid"));
        let metrics = args
            .metrics_listen
            .or(file.metrics_listen)
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        let metrics_listen = match metrics.as_str() {
            "off" | "" => None,
            addr => Some(
                addr.parse()
                    .with_context(|| format!("metrics_listen {addr:?}: give HOST:PORT or off"))?,
            ),
        };
        let json_logs = match args.log_format.or(file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log_format {other:?}: use text or json"),
        };
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("tls_cert and tls_key go together: give both, or neither"),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Settings {
            sso,
            password_login,
            listen,
            public_url: args
                .public_url
                .or(file.public_url)
                .unwrap_or_else(|| format!("{scheme}://{listen}"))
                .trim_end_matches('/')
                .to_string(),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(default_data_dir),
            database_url: args.database_url.or(file.database_url),
            master_key_file: args.master_key_file.or(file.master_key_file),
            metrics_listen,
            apps_dir: args.apps_dir.or(file.apps_dir),
            json_logs,
            trust_forwarded_for: args
                .trust_forwarded_for
                .or(file.trust_forwarded_for)
                .unwrap_or(false),
            secure_cookies: args
                .secure_cookies
                .or(file.secure_cookies)
                .unwrap_or(tls.is_some()),
            tls,
            max_connections: args.max_connections.or(file.max_connections).unwrap_or(0),
            max_connections_per_address: args
                .max_connections_per_address
                .or(file.max_connections_per_address)
                .unwrap_or(0),
        })
    }
}

/// The single sign-on settings, or `None` when no issuer is given.
fn resolve_sso(
    args: &ServeArgs,
    file: &FileConfig,
) -> anyhow::Result<Option<hush_server::SsoConfig>> {
    let Some(issuer) = args.oidc_issuer.clone().or(file.oidc_issuer.clone()) else {
        return Ok(None);
    };
    let client_id = args
        .oidc_client_id
        .clone()
        .or(file.oidc_client_id.clone())
        .context("oidc_issuer is set: give oidc_client_id too")?;
    let secret_file = args
        .oidc_client_secret_file
        .clone()
        .or(file.oidc_client_secret_file.clone());
    let client_secret = match (
        args.oidc_client_secret
            .clone()
            .or(file.oidc_client_secret.clone()),
        secret_file,
    ) {
        (Some(_), Some(_)) => {
            bail!("give oidc_client_secret or oidc_client_secret_file, not both")
        }
        (Some(secret), None) => Some(secret),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read oidc_client_secret_file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let mut role_map = Vec::new();
    for pair in args
        .oidc_roles
        .clone()
        .or(file.oidc_roles.clone())
        .unwrap_or_default()
    {
        let (group, role) = pair
            .split_once('=')
            .with_context(|| format!("oidc_role {pair:?}: give GROUP=ROLE, e.g. devs=editor"))?;
        let role = hush_store::Role::parse(role.trim())
            .with_context(|| format!("oidc_role {pair:?}: the role is owner, editor or viewer"))?;
        role_map.push((group.trim().to_string(), role));
    }
    let role_claim = args
        .oidc_role_claim
        .clone()
        .or(file.oidc_role_claim.clone());
    if !role_map.is_empty() && role_claim.is_none() {
        bail!("oidc_role needs oidc_role_claim (the claim that holds the groups, e.g. groups)");
    }
    Ok(Some(hush_server::SsoConfig {
        display_name: args
            .oidc_name
            .clone()
            .or(file.oidc_name.clone())
            .unwrap_or_else(|| "single sign-on".into()),
        issuer,
        client_id,
        client_secret,
        allowed_domains: args
            .oidc_allowed_domains
            .clone()
            .or(file.oidc_allowed_domains.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .filter(|d| !d.is_empty())
            .collect(),
        role_claim,
        role_map,
        create_users: args
            .oidc_create_users
            .or(file.oidc_create_users)
            .unwrap_or(false),
    }))
}

fn load_file_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = crate::text_file::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))
}

/// The master keys given in `HUSH_MASTER_KEY` (comma, space or newline separated), or `None`
/// when it is not set.
pub fn keys_from_env() -> anyhow::Result<Option<Vec<MasterKey>>> {
    let Ok(encoded) = std::env::var("HUSH_MASTER_KEY") else {
        return Ok(None);
    };
    let keys = encoded
        .split([',', ' ', '\n'])
        .filter(|k| !k.trim().is_empty())
        .map(MasterKey::from_encoded)
        .collect::<Result<Vec<_>, _>>()
        .context("HUSH_MASTER_KEY")?;
    if keys.is_empty() {
        bail!("HUSH_MASTER_KEY is set but empty");
    }
    Ok(Some(keys))
}

/// The keyring: `HUSH_MASTER_KEY`, else the key file, which only its owner may read; on the
/// embedded default's very first start, a new key file in the data directory — never for a
/// database that already holds apps (restored from a backup, say): a new key could not open them.
async fn load_keyring(settings: &Settings, store: &dyn Store) -> anyhow::Result<Keyring> {
    if let Some(keys) = keys_from_env()? {
        return Ok(Keyring::from_keys(keys));
    }
    let path = match &settings.master_key_file {
        Some(path) => path.clone(),
        None if settings.database_url.is_none() => settings.data_dir.join("master.key"),
        None => bail!(
            "a shared database needs the master key given explicitly: set --master-key-file or HUSH_MASTER_KEY \
             (the same on every server)"
        ),
    };
    if !path.exists() && settings.master_key_file.is_none() {
        if !store.app_keys().await?.is_empty() {
            bail!(
                "there is no master key file at {}, but the database already holds apps sealed with a master key: \
                 put the key file they were sealed with there (or give --master-key-file or HUSH_MASTER_KEY); \
                 a new key could not open them",
                path.display()
            );
        }
        MasterKey::create_file(&path)?;
        eprintln!(
            "Created a new master key at {}.\nBack it up somewhere apart from the database: without it, the secrets cannot be read.",
            path.display()
        );
    }
    hush_crypto::check_key_file_private(&path)?;
    Ok(Keyring::from_file(&path)?)
}

/// Creates the data directory (and any missing parents) readable by its owner only: it holds
/// the database and the master key.
pub fn create_data_dir(path: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .with_context(|| format!("cannot create the data directory {}", path.display()))
}

/// A database URL fit to print, its password hidden wherever it is given:
/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and
/// `postgres://user@host/db?password=secret` → `postgres://user@host/db?password=***`
/// (also `sslpassword`, the client key's). Parsed as sqlx parses it, with the `url` crate.
pub fn redact_password(url: &str) -> String {
    const HIDDEN: &str = "***";
    let is_password = |key: &str| {
        matches!(
            key.to_ascii_lowercase().as_str(),
            "password" | "sslpassword"
        )
    };
    // Where a password could be in text that does not parse (nor would it for sqlx), only the
    // scheme is shown.
    let unparsed = || {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        format!("{scheme}:*** (not a valid URL)")
    };
    let Ok(mut parsed) = url::Url::parse(url) else {
        return if url.contains(['@', '?']) {
            unparsed()
        } else {
            url.to_string()
        };
    };
    let mut hidden = false;
    if parsed.password().is_some() {
        if parsed.set_password(Some(HIDDEN)).is_err() {
            return unparsed();
        }
        hidden = true;
    }
    if parsed.query_pairs().any(|(key, _)| is_password(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password(&key) {
                    HIDDEN.into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        hidden = true;
    }
    // Unchanged, as typed, when nothing was hidden (the parser would normalise it).
    if hidden {
        parsed.to_string()
    } else {
        url.to_string()
    }
}

/// Launched apps run as the server's user: their folder must not hold or sit inside the data
/// directory (database and master key).
fn check_apps_dir(apps: &Path, data: &Path) -> anyhow::Result<()> {
    let apps = apps
        .canonicalize()
        .with_context(|| format!("the apps directory {} cannot be used", apps.display()))?;
    let data = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    if apps.starts_with(&data) || data.starts_with(&apps) {
        bail!(
            "the apps directory {} and the data directory {} overlap: an app could read the database and the master key; keep them apart",
            apps.display(),
            data.display()
        );
    }
    Ok(())
}

pub fn init_logging(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HUSH_LOG").unwrap_or_else(|_| "info".into());
    // Colours only on a terminal (and not with NO_COLOR): a log file or journal gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let print = args.print_settings;
    let file = load_file_config(args.config.as_deref())?;
    let settings = Settings::resolve(args, file)?;
    if print {
        println!(
            "{:#?}",
            Settings {
                database_url: settings.database_url.as_deref().map(redact_password),
                ..settings
            }
        );
        return Ok(());
    }
    init_logging(settings.json_logs);
    create_data_dir(&settings.data_dir)?;
    let database_url = settings
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", settings.data_dir.join("hush.db").display()));
    if let Some(apps) = &settings.apps_dir {
        check_apps_dir(apps, &settings.data_dir)?;
    }
    let store = hush_store::connect(&database_url).await?;
    let keyring = load_keyring(&settings, store.as_ref()).await?;
    let config = ServerConfig {
        public_url: settings.public_url.clone(),
        secure_cookies: settings.secure_cookies,
        hsts: settings.tls.is_some(),
        trust_forwarded_for: settings.trust_forwarded_for,
        apps_dir: settings.apps_dir.clone(),
        limits: hush_server::Limits {
            max_connections: settings.max_connections,
            max_connections_per_address: settings.max_connections_per_address,
            ..hush_server::Limits::default()
        },
        sso: settings.sso.clone(),
        password_login: settings.password_login,
        ..ServerConfig::default()
    };
    let state = AppState::new(store.clone(), keyring, config).await?;
    let shutdown = shutdown_signal()?;
    let listener = hush_server::http::listen(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let local = listener.local_addr()?;
    if let Some(addr) = settings.metrics_listen {
        let metrics = hush_server::http::listen(addr)
            .with_context(|| format!("cannot listen for metrics on {addr}"))?;
        tokio::spawn(hush_server::http::serve_metrics(metrics, state.clone()));
    }
    let tls = match &settings.tls {
        Some((cert, key)) => Some(hush_server::tls::load(cert, key)?),
        None => None,
    };
    eprintln!(
        "hush {} is serving on {}://{local} ({} database{})",
        env!("CARGO_PKG_VERSION"),
        if tls.is_some() { "https" } else { "http" },
        store.backend(),
        if settings.database_url.is_none() {
            format!(" in {}", settings.data_dir.display())
        } else {
            String::new()
        },
    );
    if let Some(link) = state.first_run_link().await? {
        eprintln!(
            "First start: open this one-time link to create the owner account (valid 24 hours):\n  {link}"
        );
    }
    hush_server::http::serve_with(listener, state, tls, shutdown).await?;
    Ok(())
}

/// SIGTERM or SIGINT, listened for from before the server says it is serving: a signal that
/// comes right after still ends it gracefully (an async `ctrl_c()` listens only once polled).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_beats_defaults_and_flags_beat_file() {
        let file: FileConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n").unwrap();
        let s = Settings::resolve(ServeArgs::default(), file).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(s.json_logs);
        assert_eq!(s.public_url, "http://127.0.0.1:9000");

        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:9000\"").unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, file).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9100".parse().unwrap());

        let file: FileConfig = toml::from_str("max_connections_per_address = 50").unwrap();
        let args = ServeArgs {
            max_connections: Some(400),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(args, file).unwrap();
        assert_eq!(
            (s.max_connections, s.max_connections_per_address),
            (400, 50)
        );

        let s = Settings::resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!((s.max_connections, s.max_connections_per_address), (0, 0));
        assert_eq!(s.listen, "127.0.0.1:8200".parse().unwrap());
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(s.database_url, None);
    }

    #[test]
    fn printed_settings_hide_the_database_password() {
        assert_eq!(
            redact_password("postgres://hush:s3cret@db:5432/hush"),
            "postgres://hush:***@db:5432/hush"
        );
        assert_eq!(
            redact_password("postgres://hush@db/hush"),
            "postgres://hush@db/hush"
        );
        assert_eq!(redact_password("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }

    #[test]
    fn a_password_given_as_a_query_parameter_is_hidden_too() {
        assert_eq!(
            redact_password("postgres://hush@db/hush?password=s3cret"),
            "postgres://hush@db/hush?password=***"
        );
        assert_eq!(
            redact_password("postgresql://hush:one@db/hush?sslmode=require&password=two"),
            "postgresql://hush:***@db/hush?sslmode=require&password=***"
        );
        // An `@` in the value does not hide where the query starts.
        let shown = redact_password("postgres://hush@db/hush?password=p@ss&sslpassword=key-pw");
        assert_eq!(
            shown,
            "postgres://hush@db/hush?password=***&sslpassword=***"
        );
        // Nor does a URL that does not parse show what could be a password.
        let shown = redact_password("postgres://hush:s3cret@db:port/hush");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_apps_directory_must_not_overlap_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(check_apps_dir(dir.path(), &data).is_err());
        assert!(check_apps_dir(&data, &data).is_err());
        let apps = dir.path().join("apps");
        std::fs::create_dir(&apps).unwrap();
        check_apps_dir(&apps, &data).unwrap();
    }

    #[test]
    fn single_sign_on_settings_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let file: FileConfig = toml::from_str(&format!(
            "oidc_issuer = \"https://id.example.com\"\noidc_client_id = \"hush\"\n\
             oidc_client_secret_file = {:?}\noidc_allowed_domains = [\"Example.com\"]\n\
             oidc_role_claim = \"groups\"\noidc_roles = [\"owners=owner\", \"devs=editor\"]\n\
             password_login = false\n",
            secret.display().to_string()
        ))
        .unwrap();
        let s = Settings::resolve(ServeArgs::default(), file).unwrap();
        let sso = s.sso.as_ref().unwrap();
        assert_eq!(sso.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(sso.allowed_domains, ["example.com"]);
        assert_eq!(sso.role_map.len(), 2);
        assert!(!sso.create_users);
        assert!(!s.password_login);
        // The secret never shows in the printed settings.
        assert!(!format!("{s:?}").contains("s3cret"));

        let args = ServeArgs {
            oidc_issuer: Some("https://id.example.com".into()),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("oidc_client_id"), "{err}");
        let file: FileConfig = toml::from_str("password_login = false").unwrap();
        let err = Settings::resolve(ServeArgs::default(), file).unwrap_err();
        assert!(err.to_string().contains("needs single sign-on"), "{err}");
        let args = ServeArgs {
            oidc_issuer: Some("https://id.example.com".into()),
            oidc_client_id: Some("hush".into()),
            oidc_role_claim: Some("groups".into()),
            oidc_roles: Some(vec!["devs=boss".into()]),
            ..ServeArgs::default()
        };
        let err = Settings::resolve(args, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("owner, editor or viewer"), "{err}");
    }

    #[test]
    fn unknown_file_settings_and_bad_values_are_errors() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
        let file: FileConfig = toml::from_str("log_format = \"xml\"").unwrap();
        let err = Settings::resolve(ServeArgs::default(), file).unwrap_err();
        assert!(err.to_string().contains("use text or json"));
    }
}
