//! The records the store reads and writes. Secret values appear here only as ciphertext, and
//! tokens only as hashes; `Debug` on records that carry either prints neither.

use serde::{Deserialize, Serialize};

use crate::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InviteKind {
    /// The one-time first-run link that creates the owner.
    Setup,
    Invite,
}

pub struct NewInvite {
    pub token_hash: Vec<u8>,
    pub kind: InviteKind,
    pub role: Role,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    pub kind: InviteKind,
    pub role: Role,
    pub created_by: Option<i64>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A person's token for the CLI and API; acts with that person's role.
    Personal,
    /// Reads one app's latest secrets and reports the version applied; nothing else.
    App,
}

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchConfig {
    pub folder: String,
    pub command: String,
    pub port: Option<u16>,
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
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("name", &self.name)
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

/// What a running copy of an app last said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    pub app_id: i64,
    /// Chosen by the runner; stable for the life of the process.
    pub instance_id: String,
    pub hostname: String,
    pub pid: Option<i64>,
    pub applied_version: i64,
    /// "running", "restarting", "crashed", …
    pub status: String,
    pub reported_at: Millis,
}

/// One audit entry. Never holds a secret value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Millis,
    /// "user", "token", "anonymous" or "system".
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// Dotted verb, e.g. "auth.login", "secrets.read", "secrets.update", "token.create".
    pub action: String,
    pub app_id: Option<i64>,
    pub app_name: Option<String>,
    pub ip: Option<String>,
    /// "ok", "denied" or "failed".
    pub outcome: String,
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
