//! Identity records: a member's role on one app (overriding their workspace role there), and
//! workload identity — which issuers' signed tokens may be traded for an app's short-lived
//! token, and the token ids already traded. [`IdentityStore`] is part of every [`Store`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor, FromRow};

use crate::sql;
use crate::store::{Fetch, Run, Scalar, SqlStore, insert_audit, notify};
use crate::users::{ensure_actor_is_owner, get_user_on};
use crate::{AuditEvent, Millis, Result, Role, StoreError, StoreEvent};

/// A member's role on one app; `none` hides the app from them entirely.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppRole {
    None,
    Viewer,
    Editor,
}

crate::model::text_names!(AppRole {
    None => "none",
    Viewer => "viewer",
    Editor => "editor",
});

impl AppRole {
    /// The role it gives on its app; `None` for no access.
    pub fn role(self) -> Option<Role> {
        match self {
            AppRole::None => None,
            AppRole::Viewer => Some(Role::Viewer),
            AppRole::Editor => Some(Role::Editor),
        }
    }
}

/// The role a member has on an app: owners have every app; otherwise a per-app role, when one
/// is set, replaces the workspace role there. `None`: no access (the app is hidden).
pub fn effective_role(workspace: Role, on_app: Option<AppRole>) -> Option<Role> {
    match (workspace, on_app) {
        (Role::Owner, _) => Some(Role::Owner),
        (role, None) => Some(role),
        (_, Some(app_role)) => app_role.role(),
    }
}

/// One per-app role, with the names of its member and app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRoleGrant {
    pub user_id: i64,
    pub user_name: String,
    pub app_id: i64,
    pub app_name: String,
    /// The row is a shared document (an `apps` row of kind `shared`), not an app.
    pub shared: bool,
    pub role: AppRole,
    pub created_at: Millis,
}

/// A trusted issuer of workload tokens for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadTrust {
    pub id: i64,
    pub app_id: i64,
    /// The `iss` the tokens carry, exactly.
    pub issuer: String,
    /// Where the issuer's keys are; `None`: from `{issuer}/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// The `aud` the tokens must name.
    pub audience: String,
    /// Claim name → glob (`*` any run of characters, `?` one) the claim's value must match.
    pub conditions: BTreeMap<String, String>,
    /// How long the app token given in exchange lives.
    pub ttl_seconds: i64,
    pub created_at: Millis,
}

pub struct NewWorkloadTrust {
    pub app_id: i64,
    pub issuer: String,
    pub jwks_url: Option<String>,
    pub audience: String,
    pub conditions: BTreeMap<String, String>,
    pub ttl_seconds: i64,
    pub created_at: Millis,
}

/// Per-app roles and workload identity; every [`crate::Store`] is one.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    /// Sets the member's role on the app, returning the role it replaced. `NotFound` when the
    /// member or app does not exist; `Conflict` for an owner (owners have every app) or when
    /// the actor is no longer an owner. `none` sends [`StoreEvent::AppAccessRevoked`].
    async fn set_app_role(
        &self,
        user_id: i64,
        app_id: i64,
        role: AppRole,
        at: Millis,
        audit: AuditEvent,
    ) -> Result<Option<AppRole>>;
    /// Removes the member's role on the app (their workspace role applies again); `NotFound`
    /// when there is none. Returns the role removed.
    async fn remove_app_role(
        &self,
        user_id: i64,
        app_id: i64,
        audit: AuditEvent,
    ) -> Result<AppRole>;
    async fn app_role(&self, user_id: i64, app_id: i64) -> Result<Option<AppRole>>;
    /// Per-app roles, of one member and/or of one app, ordered by app name then member name.
    async fn list_app_roles(
        &self,
        user_id: Option<i64>,
        app_id: Option<i64>,
    ) -> Result<Vec<AppRoleGrant>>;

    async fn add_workload_trust(
        &self,
        trust: NewWorkloadTrust,
        audit: AuditEvent,
    ) -> Result<WorkloadTrust>;
    /// The app's trusted issuers, oldest first.
    async fn list_workload_trusts(&self, app_id: i64) -> Result<Vec<WorkloadTrust>>;
    /// `NotFound` when the app has no trust with that id.
    async fn remove_workload_trust(&self, app_id: i64, id: i64, audit: AuditEvent) -> Result<()>;
    /// Records that the token `jti` of `issuer` was traded; `Conflict` when it was already
    /// (a replay). Ids whose tokens expired before `now` are forgotten.
    async fn use_workload_jti(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()>;
}

const SET_APP_ROLE: &str = "INSERT INTO app_roles (user_id, app_id, role, created_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (user_id, app_id) DO UPDATE SET role = excluded.role, created_at = excluded.created_at";
const GET_APP_ROLE: &str = "SELECT role FROM app_roles WHERE user_id = $1 AND app_id = $2";
const DELETE_APP_ROLE: &str = "DELETE FROM app_roles WHERE user_id = $1 AND app_id = $2";
const LIST_APP_ROLES: &str = "SELECT r.user_id, u.name AS user_name, r.app_id, \
     a.name AS app_name, a.kind AS app_kind, r.role, r.created_at \
     FROM app_roles r JOIN users u ON u.id = r.user_id JOIN apps a ON a.id = r.app_id \
     WHERE ($1 IS NULL OR r.user_id = $1) AND ($2 IS NULL OR r.app_id = $2) \
     ORDER BY a.name, u.name";
const INSERT_TRUST: &str = "INSERT INTO workload_trusts \
     (app_id, issuer, jwks_url, audience, conditions, ttl_seconds, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const LIST_TRUSTS: &str = "SELECT id, app_id, issuer, jwks_url, audience, conditions, \
     ttl_seconds, created_at FROM workload_trusts WHERE app_id = $1 ORDER BY id";
const DELETE_TRUST: &str = "DELETE FROM workload_trusts WHERE app_id = $1 AND id = $2";
const FORGET_JTIS: &str = "DELETE FROM workload_jtis WHERE expires_at < $1";
const INSERT_JTI: &str = "INSERT INTO workload_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)";

#[derive(FromRow)]
struct GrantRow {
    user_id: i64,
    user_name: String,
    app_id: i64,
    app_name: String,
    app_kind: String,
    role: String,
    created_at: i64,
}

impl GrantRow {
    fn into_grant(self) -> Result<AppRoleGrant> {
        Ok(AppRoleGrant {
            user_id: self.user_id,
            user_name: self.user_name,
            app_id: self.app_id,
            app_name: self.app_name,
            shared: self.app_kind == "shared",
            role: app_role(&self.role)?,
            created_at: self.created_at,
        })
    }
}

fn app_role(s: &str) -> Result<AppRole> {
    AppRole::parse(s).ok_or_else(|| StoreError::Other(format!("unknown app role {s:?}").into()))
}

/// The member's role on the app, if one is set, read from the pool or the writer's connection.
async fn app_role_on<'c>(
    from: impl Executor<'c, Database = Any>,
    user_id: i64,
    app_id: i64,
) -> Result<Option<AppRole>> {
    let role: Option<String> = sqlx::query_scalar(GET_APP_ROLE)
        .bind(user_id)
        .bind(app_id)
        .maybe_value(from)
        .await?;
    role.as_deref().map(app_role).transpose()
}

#[derive(FromRow)]
struct TrustRow {
    id: i64,
    app_id: i64,
    issuer: String,
    jwks_url: Option<String>,
    audience: String,
    conditions: String,
    ttl_seconds: i64,
    created_at: i64,
}

impl TrustRow {
    fn into_trust(self) -> Result<WorkloadTrust> {
        Ok(WorkloadTrust {
            id: self.id,
            app_id: self.app_id,
            issuer: self.issuer,
            jwks_url: self.jwks_url,
            audience: self.audience,
            conditions: serde_json::from_str(&self.conditions)
                .map_err(|e| StoreError::Other(Box::new(e)))?,
            ttl_seconds: self.ttl_seconds,
            created_at: self.created_at,
        })
    }
}

#[async_trait::async_trait]
impl IdentityStore for SqlStore {
    async fn set_app_role(
        &self,
        user_id: i64,
        app_id: i64,
        role: AppRole,
        at: Millis,
        audit: AuditEvent,
    ) -> Result<Option<AppRole>> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let member = get_user_on(&mut *conn, user_id).await?;
                if member.role == Role::Owner {
                    return Err(StoreError::Conflict(format!(
                        "{} is an owner, and owners have every app; make them an editor or viewer first",
                        member.name
                    )));
                }
                let apps: i64 = sqlx::query_scalar(sql::APP_EXISTS)
                    .bind(app_id)
                    .value(&mut *conn)
                    .await?;
                if apps == 0 {
                    return Err(StoreError::NotFound);
                }
                let before = app_role_on(&mut *conn, user_id, app_id).await?;
                sqlx::query(SET_APP_ROLE)
                    .bind(user_id)
                    .bind(app_id)
                    .bind(role.as_str())
                    .bind(at)
                    .run(conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                if role == AppRole::None {
                    notify(
                        conn,
                        kind,
                        &StoreEvent::AppAccessRevoked { user_id, app_id },
                    )
                    .await?;
                }
                Ok(before)
            })
        })
        .await
    }

    async fn remove_app_role(
        &self,
        user_id: i64,
        app_id: i64,
        audit: AuditEvent,
    ) -> Result<AppRole> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let before = app_role_on(&mut *conn, user_id, app_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                sqlx::query(DELETE_APP_ROLE)
                    .bind(user_id)
                    .bind(app_id)
                    .run(conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                Ok(before)
            })
        })
        .await
    }

    async fn app_role(&self, user_id: i64, app_id: i64) -> Result<Option<AppRole>> {
        app_role_on(&self.read, user_id, app_id).await
    }

    async fn list_app_roles(
        &self,
        user_id: Option<i64>,
        app_id: Option<i64>,
    ) -> Result<Vec<AppRoleGrant>> {
        sqlx::query_as::<_, GrantRow>(LIST_APP_ROLES)
            .bind(user_id)
            .bind(app_id)
            .all(&self.read, GrantRow::into_grant)
            .await
    }

    async fn add_workload_trust(
        &self,
        trust: NewWorkloadTrust,
        audit: AuditEvent,
    ) -> Result<WorkloadTrust> {
        self.write(move |conn| {
            Box::pin(async move {
                let conditions = serde_json::to_string(&trust.conditions)
                    .map_err(|e| StoreError::Other(Box::new(e)))?;
                let id: i64 = sqlx::query_scalar(INSERT_TRUST)
                    .bind(trust.app_id)
                    .bind(&trust.issuer)
                    .bind(trust.jwks_url.as_deref())
                    .bind(&trust.audience)
                    .bind(&conditions)
                    .bind(trust.ttl_seconds)
                    .bind(trust.created_at)
                    .value(&mut *conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                Ok(WorkloadTrust {
                    id,
                    app_id: trust.app_id,
                    issuer: trust.issuer,
                    jwks_url: trust.jwks_url,
                    audience: trust.audience,
                    conditions: trust.conditions,
                    ttl_seconds: trust.ttl_seconds,
                    created_at: trust.created_at,
                })
            })
        })
        .await
    }

    async fn list_workload_trusts(&self, app_id: i64) -> Result<Vec<WorkloadTrust>> {
        sqlx::query_as::<_, TrustRow>(LIST_TRUSTS)
            .bind(app_id)
            .all(&self.read, TrustRow::into_trust)
            .await
    }

    async fn remove_workload_trust(&self, app_id: i64, id: i64, audit: AuditEvent) -> Result<()> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(DELETE_TRUST)
                    .bind(app_id)
                    .bind(id)
                    .run_one(conn)
                    .await?;
                insert_audit(conn, &audit).await
            })
        })
        .await
    }

    async fn use_workload_jti(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<()> {
        let (issuer, jti) = (issuer.to_string(), jti.to_string());
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(FORGET_JTIS).bind(now).run(conn).await?;
                sqlx::query(INSERT_JTI)
                    .bind(&issuer)
                    .bind(&jti)
                    .bind(expires_at)
                    .insert(conn, || "this token was already used".into())
                    .await
            })
        })
        .await
    }
}
