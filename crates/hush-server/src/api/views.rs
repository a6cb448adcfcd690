//! What the API answers, as types: each handler returns one of these, and the OpenAPI document
//! is derived from them, so the document and the answers cannot drift apart. Times are
//! milliseconds since the Unix epoch. None of these ever holds a secret value except
//! [`SecretsView`] and [`VersionText`], which only editors and the app's own tokens receive.

use hush_store::{
    ActorKind, App, AppliedVersions, AuditRecord, InstanceReport, Invite, LaunchConfig, Outcome,
    Role, TokenKind, TokenRecord, User, VersionMeta,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A running copy that has not reported for this long is shown as gone.
const INSTANCE_STALE_MS: i64 = 90_000;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct SetupStatus {
    /// True until the first owner exists.
    pub needs_setup: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

impl From<&User> for Member {
    fn from(u: &User) -> Member {
        Member {
            id: u.id,
            name: u.name.clone(),
            role: u.role,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Members {
    pub members: Vec<Member>,
}

/// A signed-in panel session.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub user: Member,
    /// Send it as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct ServerInfo {
    pub version: &'static str,
    /// Whether this server launches apps itself (`--apps-dir`).
    pub launch_apps: bool,
    pub public_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct AppTokenInfo {
    pub id: i64,
    pub app_id: i64,
}

/// Who the caller is: a member (with the server's facts), or an app token.
#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Member>,
    /// Set for a panel session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_token: Option<AppTokenInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceView {
    pub instance_id: String,
    pub hostname: String,
    pub pid: Option<i64>,
    /// The effective revision it applied (the environment's version plus how often its
    /// included documents changed).
    pub applied_version: i64,
    /// The parts of that revision: the environment's own version and each included shared
    /// document's (absent for runners that do not say them).
    pub applied: Option<AppliedVersions>,
    /// What the copy last said, or `gone` when it stopped reporting.
    #[schema(example = "running")]
    pub status: &'static str,
    pub reported_at: i64,
}

impl InstanceView {
    pub fn new(i: &InstanceReport, now: i64) -> InstanceView {
        InstanceView {
            instance_id: i.instance_id.clone(),
            hostname: i.hostname.clone(),
            pid: i.pid,
            applied_version: i.applied_version,
            applied: i.applied.clone(),
            status: if now - i.reported_at > INSTANCE_STALE_MS {
                "gone"
            } else {
                i.status.as_str()
            },
            reported_at: i.reported_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Instances {
    pub instances: Vec<InstanceView>,
}

#[derive(Serialize, ToSchema)]
pub struct AppView {
    pub name: String,
    pub created_at: i64,
    /// 0 for an app without secrets yet.
    pub latest_version: i64,
    /// Production's revision: its version plus how often its included shared documents
    /// changed (what its running copies report having applied).
    pub revision: i64,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
    /// How the server launches the app, when it does.
    pub launch: Option<LaunchConfig>,
    /// Running copies (absent when the app was just created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceView>>,
    /// The caller's role on this app (a per-app role, or their workspace role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl AppView {
    pub fn new(app: &App, latest: Option<&VersionMeta>) -> AppView {
        AppView {
            name: app.name.clone(),
            created_at: app.created_at,
            latest_version: latest.map_or(0, |m| m.version),
            revision: latest.map_or(0, |m| m.version),
            updated_at: latest.map(|m| m.created_at),
            updated_by: latest.and_then(|m| m.author_name.clone()),
            launch: app.launch.clone(),
            instances: None,
            role: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Apps {
    pub apps: Vec<AppView>,
}

/// Which keys a change added, removed or changed (key paths, never values).
#[derive(Serialize, ToSchema, Default)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Set when the lists were cut short (a 409 lists at most a few names per version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

impl From<hush_core::KeyDiff> for Changes {
    fn from(d: hush_core::KeyDiff) -> Changes {
        Changes {
            added: d.added,
            removed: d.removed,
            changed: d.changed,
            truncated: None,
        }
    }
}

impl Changes {
    /// The change summary stored with a version.
    pub fn of(meta: &VersionMeta) -> Changes {
        let list = |name: &str| -> Vec<String> {
            meta.summary[name]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Changes {
            added: list("added"),
            removed: list("removed"),
            changed: list("changed"),
            truncated: None,
        }
    }

    /// At most `n` names per list, saying so when some were left out.
    pub fn first(mut self, n: usize) -> Changes {
        let cut = self.added.len() > n || self.removed.len() > n || self.changed.len() > n;
        self.added.truncate(n);
        self.removed.truncate(n);
        self.changed.truncate(n);
        if cut {
            self.truncated = Some(true);
        }
        self
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    pub author: Option<String>,
    pub created_at: i64,
    pub message: Option<String>,
    pub changes: Changes,
    /// Set when this version was made by rolling back to that one.
    pub restored_from: Option<i64>,
    /// True when a save changed nothing (the text was the newest version's already): no version
    /// was created and this is the newest one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unchanged: bool,
}

impl VersionView {
    pub fn new(meta: &VersionMeta) -> VersionView {
        VersionView {
            version: meta.version,
            author: meta.author_name.clone(),
            created_at: meta.created_at,
            message: meta.message.clone(),
            changes: Changes::of(meta),
            restored_from: meta.restored_from,
            unchanged: false,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Versions {
    pub versions: Vec<VersionView>,
}

/// A version with its TOML text (editors only, audited).
#[derive(Serialize, ToSchema)]
pub struct VersionText {
    #[serde(flatten)]
    pub version: VersionView,
    pub toml: String,
}

/// The newest secrets, for the app's running copies and for editors (audited).
#[derive(Serialize, ToSchema)]
pub struct SecretsView {
    pub app: String,
    pub version: i64,
    pub created_at: i64,
    /// The document exactly as saved, comments included.
    pub toml: String,
}

#[derive(Serialize, ToSchema)]
pub struct SkippedKey {
    pub key: String,
    /// Why it does not become an environment variable.
    pub reason: String,
}

/// Which root keys become environment variables.
#[derive(Serialize, ToSchema, Default)]
pub struct EnvPreview {
    pub exported: Vec<String>,
    pub skipped: Vec<SkippedKey>,
}

#[derive(Serialize, ToSchema)]
pub struct Warning {
    pub key: String,
    pub message: String,
}

/// Key names of the effective secrets (included shared documents, then the environment's own
/// newest version), never values.
#[derive(Serialize, ToSchema)]
pub struct Keys {
    /// The environment's own newest version.
    pub version: i64,
    /// Its version plus how often its included documents changed.
    pub revision: i64,
    /// The included shared documents and their versions, in order.
    pub includes: Vec<crate::envs::IncludedVersion>,
    pub keys: Vec<String>,
    /// Where each root key comes from: a shared document's name, or the environment's own.
    pub sources: Vec<super::environments::KeySource>,
    /// The document's shape with every value replaced by a mask.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub masked: Option<Value>,
    pub env: EnvPreview,
}

#[derive(Serialize, ToSchema)]
pub struct DiffView {
    pub from: i64,
    pub to: i64,
    pub diff: Changes,
}

/// Why a document would not save: the same code and message a save would answer.
#[derive(Serialize, ToSchema)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toml11_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The editor's live check.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Invalid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvPreview>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
    /// Key-level difference from the app's newest version (editors, when `app` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Changes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub kind: TokenKind,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    /// The app an app token reads.
    pub app: Option<String>,
    /// The app environment an app token reads (`production` for tokens made before
    /// environments existed).
    pub env: Option<String>,
    pub user_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenView {
    /// `app` and `env`: the app and environment an app token reads.
    pub fn new(record: &TokenRecord, app: Option<&str>, env: Option<&str>) -> TokenView {
        TokenView {
            id: record.id,
            kind: record.kind,
            name: record.name.clone(),
            prefix: record.prefix.clone(),
            app: app.map(String::from),
            env: env.map(String::from),
            user_id: record.user_id,
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Tokens {
    pub tokens: Vec<TokenView>,
}

/// A new token: shown this once; the server keeps only its hash.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub record: TokenView,
    pub token: String,
    /// For an app token: the command that runs the app with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_command: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteView {
    pub id: i64,
    pub role: Role,
    /// Who made the invitation (absent when they are no longer a member).
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The link to send, in its fragment; only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl InviteView {
    pub fn new(invite: &Invite) -> InviteView {
        InviteView {
            id: invite.id,
            role: invite.role,
            invited_by: invite.created_by_name.clone(),
            created_at: invite.created_at,
            expires_at: invite.expires_at,
            url: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Invites {
    pub invites: Vec<InviteView>,
}

/// What a one-time link is for, shown before the form is sent.
#[derive(Serialize, ToSchema)]
pub struct LinkInfo {
    /// `setup` (creates the first owner) or `invite`.
    pub kind: &'static str,
    pub role: Role,
    pub invited_by: Option<String>,
    pub expires_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    /// The member's name, or an app token's name.
    pub actor_name: Option<String>,
    #[schema(example = "secrets.update")]
    pub action: String,
    pub app_id: Option<i64>,
    pub app_name: Option<String>,
    pub ip: Option<String>,
    pub outcome: Outcome,
    /// Facts of the event (version numbers, key names, token ids, a count of folded repeats);
    /// never values.
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.event.at,
            actor_kind: r.event.actor_kind,
            actor_id: r.event.actor_id,
            actor_name: r.event.actor_name,
            action: r.event.action,
            app_id: r.event.app_id,
            app_name: r.event.app_name,
            ip: r.event.ip,
            outcome: r.event.outcome,
            detail: r.event.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntries {
    pub events: Vec<AuditEntry>,
}

#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct LogLine {
    pub seq: u64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line with every secret value concealed.
    pub text: String,
}

/// A server-launched app: its process, and its newest output lines (masked).
#[derive(Serialize, serde::Deserialize, ToSchema)]
pub struct LaunchStatus {
    /// `starting`, `running`, `restarting`, `stopping`, `crashed` or `failed`.
    pub status: String,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub restarts: u32,
    pub applied_version: Option<i64>,
    pub launch: LaunchConfig,
    pub logs: Vec<LogLine>,
}
