//! The records the store reads and writes. Secret values appear here only as ciphertext, and
//! tokens only as hashes; `Debug` on records that carry either prints neither.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// `as_str` and `parse` for an enum the database stores as text, from one table of its
/// variants' names (the same names serde uses).
macro_rules! text_names {
    ($enum:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $enum {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $text,)+
                }
            }

            /// `None` for a name no variant has.
            pub fn parse(s: &str) -> Option<$enum> {
                match s {
                    $($text => Some($enum::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use text_names;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

text_names!(Role {
    Viewer => "viewer",
    Editor => "editor",
    Owner => "owner",
});

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The form of a member name that decides whether two names are the same: case-folded and
/// reduced to its Unicode confusable skeleton (UTS #39), so `OLIVIA` and `olivia`, or `аdmin`
/// (Cyrillic а) and `admin`, cannot both exist.
pub fn name_key(name: &str) -> String {
    use unicode_security::confusable_detection::skeleton;
    let folded: String = name.to_lowercase();
    skeleton(&folded).collect::<String>().to_lowercase()
}

/// The longest member name.
pub const MAX_NAME_CHARS: usize = 64;

/// Member names: letters, digits and `. _ @ + -` (an email address works), 1 to 64 of them.
/// Refused with the rule as the message.
pub fn check_member_name(name: &str) -> Result<(), &'static str> {
    let ok = (1..=MAX_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err("name: use 1 to 64 letters, digits or . _ @ + - (an email address works)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
}

pub struct NewUser {
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_at: Millis,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InviteKind {
    /// The one-time first-run link that creates the owner.
    Setup,
    Invite,
}

text_names!(InviteKind {
    Setup => "setup",
    Invite => "invite",
});

pub struct NewInvite {
    pub token_hash: Vec<u8>,
    pub kind: InviteKind,
    pub role: Role,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: i64,
    pub kind: InviteKind,
    pub role: Role,
    pub created_by: Option<i64>,
    /// The inviter's name at read time (None for the setup link or a deleted member).
    pub created_by_name: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub created_at: Millis,
    /// Absolute end, whatever the activity.
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A person's token for the CLI and API; acts with that person's role.
    Personal,
    /// Reads one app's latest secrets and reports the version applied; nothing else.
    App,
}

text_names!(TokenKind {
    Personal => "personal",
    App => "app",
});

pub struct NewToken {
    pub kind: TokenKind,
    pub name: String,
    pub token_hash: Vec<u8>,
    /// The first characters of the token, shown in lists so a person can tell tokens apart.
    pub prefix: String,
    /// Owner of a personal token; creator of an app token.
    pub user_id: Option<i64>,
    pub app_id: Option<i64>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: i64,
    pub kind: TokenKind,
    pub name: String,
    pub prefix: String,
    pub user_id: Option<i64>,
    pub app_id: Option<i64>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub user_id: Option<i64>,
    pub app_id: Option<i64>,
    pub kind: Option<TokenKind>,
}

/// How the server starts an app itself (server-launched apps).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchConfig {
    pub folder: String,
    pub command: String,
    pub port: Option<u16>,
    /// The environment whose effective secrets the app runs with (`production` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl LaunchConfig {
    /// The environment the launched app follows.
    pub fn env_name(&self) -> &str {
        self.env.as_deref().unwrap_or("production")
    }
}

pub struct NewApp {
    /// Chosen by the caller (a random positive id): the app's data key is wrapped with the id
    /// bound in before the row exists.
    pub id: i64,
    pub name: String,
    pub wrapped_key: Vec<u8>,
    pub key_id: String,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub launch: Option<LaunchConfig>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub created_at: Millis,
    pub created_by: Option<i64>,
    /// The app's data key, wrapped by the master key `key_id` names.
    pub wrapped_key: Vec<u8>,
    pub key_id: String,
    pub launch: Option<LaunchConfig>,
    /// The environment this handle stands for: what its versions, tokens, instance reports
    /// and watch stream belong to. The store returns an app in `production` (whose id is the
    /// app's own); [`App::in_env`] points it at another.
    pub env_id: i64,
    pub env: String,
}

impl App {
    /// This app in environment `env`.
    pub fn in_env(&self, env: &crate::Environment) -> App {
        App {
            env_id: env.id,
            env: env.name.clone(),
            ..self.clone()
        }
    }

    /// Whether this handle stands for the app's `production` environment.
    pub fn is_production(&self) -> bool {
        self.env_id == self.id
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("env", &self.env)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct AppKey {
    pub app_id: i64,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey")
            .field("app_id", &self.app_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

pub struct NewVersion {
    /// Must be `base + 1` (it is sealed into the ciphertext's associated data before storing).
    pub version: i64,
    pub author_id: Option<i64>,
    pub created_at: Millis,
    pub message: Option<String>,
    /// The TOML text, sealed with the app's data key.
    pub ciphertext: Vec<u8>,
    /// Key-level change summary (key paths only, never values), as JSON.
    pub summary: serde_json::Value,
    /// Set when this version was made by rolling back to an older one.
    pub restored_from: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub app_id: i64,
    pub version: i64,
    pub author_id: Option<i64>,
    /// The author's name at read time (None for a deleted user or the system).
    pub author_name: Option<String>,
    pub created_at: Millis,
    pub message: Option<String>,
    pub summary: serde_json::Value,
    pub restored_from: Option<i64>,
}

#[derive(Clone, PartialEq)]
pub struct VersionRecord {
    pub meta: VersionMeta,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for VersionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionRecord")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// What a running copy says it is doing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    Starting,
    Running,
    Restarting,
    Stopping,
    Stopped,
    /// The program ended by itself (hush run returns its exit code).
    Exited,
    /// A server-launched app that ended by itself (it is restarted with backoff).
    Crashed,
    /// The program could not be started.
    Failed,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 8] = [
        InstanceStatus::Starting,
        InstanceStatus::Running,
        InstanceStatus::Restarting,
        InstanceStatus::Stopping,
        InstanceStatus::Stopped,
        InstanceStatus::Exited,
        InstanceStatus::Crashed,
        InstanceStatus::Failed,
    ];
}

text_names!(InstanceStatus {
    Starting => "starting",
    Running => "running",
    Restarting => "restarting",
    Stopping => "stopping",
    Stopped => "stopped",
    Exited => "exited",
    Crashed => "crashed",
    Failed => "failed",
});

/// What a running copy of an app last said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    pub app_id: i64,
    /// Chosen by the runner; stable for the life of the process.
    pub instance_id: String,
    pub hostname: String,
    pub pid: Option<i64>,
    pub applied_version: i64,
    /// The parts of that revision, when the runner said them (runners before this did not).
    pub applied: Option<AppliedVersions>,
    pub status: InstanceStatus,
    pub reported_at: Millis,
}

/// What a running copy of an app environment applied, part by part: the environment's own
/// version and the version of each included shared document, in include order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedVersions {
    /// The environment's own document's version (0: it has none).
    pub version: i64,
    #[serde(default)]
    pub shared: Vec<SharedVersion>,
}

/// One included shared document and the version of it a running copy applied.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedVersion {
    pub name: String,
    pub version: i64,
}

/// Who did something the audit log records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    User,
    Token,
    Anonymous,
    System,
}

text_names!(ActorKind {
    User => "user",
    Token => "token",
    Anonymous => "anonymous",
    System => "system",
});

/// How an audited request ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// Refused: no or wrong credentials, or not allowed.
    Denied,
    /// Tried and failed (a wrong password).
    Failed,
}

text_names!(Outcome {
    Ok => "ok",
    Denied => "denied",
    Failed => "failed",
});

/// One audit entry. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Millis,
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// Dotted verb, e.g. "auth.login", "secrets.read", "secrets.update", "token.create".
    pub action: String,
    pub app_id: Option<i64>,
    pub app_name: Option<String>,
    pub ip: Option<String>,
    pub outcome: Outcome,
    /// Extra facts (version numbers, key names, token ids); never values.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_name: Option<String>,
    /// Exact action, or a prefix ending in '.' ("secrets.").
    pub action: Option<String>,
    pub app_id: Option<i64>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Only entries with an id below this (paging back).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// What [`crate::Store::sweep`] removes: rows that no longer mean anything. Audit events are
/// never swept.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    pub now: Millis,
    /// Sessions idle since before this are over (their absolute end is checked against `now`).
    pub sessions_idle_before: Millis,
    /// Reports of running copies older than this are of copies long gone.
    pub instances_before: Millis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions: u64,
    pub invites: u64,
    pub instances: u64,
}

/// Whether writes are succeeding, for readiness checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteHealth {
    Ok,
    /// The last write failed, and why (never holds data, only the database's reason).
    Failing {
        reason: String,
        since: Millis,
    },
}
