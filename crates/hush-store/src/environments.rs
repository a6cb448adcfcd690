//! Environments of an app and workspace shared documents.
//!
//! An environment's id is what `versions.app_id`, `tokens.app_id` and `instances.app_id` hold:
//! every [`Store`] method that takes an "app id" for versions, tokens or instances takes an
//! environment id, and an app's `production` environment has the app's own id (so everything
//! from before environments is production's, unchanged). Other environments get random ids.
//!
//! A shared document is an `apps` row of kind 'shared' with one environment (`production`, the
//! document's own id) holding its versions: it has its own data key (rotated with the apps'),
//! its own immutable history and a name unique among apps and shared documents. Shared
//! documents include nothing, so includes can never form a cycle.
//!
//! An environment's effective revision is its newest version plus its `shared_rev`, which is
//! bumped in the transaction that saves an included shared document or sets its includes: both
//! only grow, so the sum does too and a watch stream can resume from it.

use sqlx::{Any, AnyConnection, Executor};

use crate::rows;
use crate::store::{Fetch, Run, Scalar, insert_audit, insert_version_on, notify};
use crate::users::ensure_actor_is_owner;
use crate::writer::Save;
use crate::*;

/// The environment every app has, and the one routes without an environment mean.
pub const PRODUCTION: &str = "production";

/// Environment and shared-document names: the same rule as app names (they appear in URLs,
/// folder names and the panel). Refused with the rule as the message.
pub fn check_environment_name(name: &str) -> std::result::Result<(), String> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?}: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub id: i64,
    /// The app (or shared document) it belongs to.
    pub app_id: i64,
    pub name: String,
    pub created_at: Millis,
    /// How many times its included documents or its includes changed (see the module doc).
    pub shared_rev: i64,
}

pub struct NewEnvironment {
    /// Chosen by the caller (a random positive id, like an app's).
    pub id: i64,
    pub app_id: i64,
    pub name: String,
    pub created_at: Millis,
}

/// An environment that includes a shared document, with its app's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludingEnv {
    pub app_name: String,
    pub env: Environment,
}

impl IncludingEnv {
    /// `app/env`, as messages name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.app_name, self.env.name)
    }
}

#[async_trait::async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// The app's environments, `production` first, then by name.
    async fn list_environments(&self, app_id: i64) -> Result<Vec<Environment>>;
    async fn get_environment(&self, id: i64) -> Result<Environment>;
    /// `NotFound` when the app has no environment of that name.
    async fn find_environment(&self, app_id: i64, name: &str) -> Result<Environment>;
    /// `Conflict` when the app has an environment of that name; `NotFound` without the app.
    async fn create_environment(
        &self,
        env: NewEnvironment,
        audit: AuditEvent,
    ) -> Result<Environment>;
    /// Deletes the environment with its versions, tokens, instance reports and includes.
    /// `Conflict` for `production` (existing routes and tokens mean it).
    async fn delete_environment(&self, id: i64, audit: AuditEvent) -> Result<Environment>;

    /// A new shared document (`app.launch` is ignored). `Conflict` when an app or shared
    /// document has the name.
    async fn create_shared_doc(&self, doc: NewApp, audit: AuditEvent) -> Result<App>;
    async fn find_shared_doc(&self, name: &str) -> Result<App>;
    /// Every shared document with its newest version's metadata, by name.
    async fn list_shared_docs(&self) -> Result<Vec<(App, Option<VersionMeta>)>>;
    /// `Conflict` naming the environments (`app/env`) that still include it.
    async fn delete_shared_doc(&self, id: i64, audit: AuditEvent) -> Result<()>;
    /// Saves a version of a shared document (as [`Store::create_version`]) and, in the same
    /// transaction, bumps the `shared_rev` of every environment that includes it; returns
    /// those environments as they now are.
    async fn create_shared_version(
        &self,
        doc_id: i64,
        base: i64,
        new: NewVersion,
        audit: AuditEvent,
    ) -> Result<(VersionMeta, Vec<IncludingEnv>)>;

    /// The shared documents an environment includes, in order.
    async fn includes(&self, env_id: i64) -> Result<Vec<App>>;
    /// Replaces an environment's includes (document ids, in order). `NotFound` when an id is
    /// not a shared document; `Conflict` for a document listed twice or an environment of a
    /// shared document (shared documents include nothing). Bumps `shared_rev`.
    async fn set_includes(
        &self,
        env_id: i64,
        doc_ids: Vec<i64>,
        audit: AuditEvent,
    ) -> Result<Environment>;
    /// The environments that include a shared document, by app and environment name.
    async fn including(&self, doc_id: i64) -> Result<Vec<IncludingEnv>>;
}

mod q {
    /// A statement reading environments (`environments e`): `SELECT` their columns, then `rest`.
    macro_rules! select_env {
        ($rest:literal) => {
            concat!(
                "SELECT e.id, e.app_id, e.name, e.created_at, e.shared_rev",
                $rest
            )
        };
    }
    /// A statement reading apps (`apps a`): `SELECT` their columns, then `rest`.
    macro_rules! select_app {
        ($rest:literal) => {
            concat!(
                "SELECT a.id, a.name, a.created_at, a.created_by, a.wrapped_key, a.key_id, a.launch",
                $rest
            )
        };
    }
    pub const INSERT_ENV: &str = "INSERT INTO environments (id, app_id, name, created_at, shared_rev) \
         VALUES ($1, $2, $3, $4, 0)";
    pub const ENV_NAME_TAKEN: &str =
        "SELECT COUNT(*) FROM environments WHERE app_id = $1 AND name = $2";
    pub const GET_ENV: &str = select_env!(" FROM environments e WHERE e.id = $1");
    pub const FIND_ENV: &str =
        select_env!(" FROM environments e WHERE e.app_id = $1 AND e.name = $2");
    pub const LIST_ENVS: &str = select_env!(
        " FROM environments e WHERE e.app_id = $1 \
         ORDER BY CASE WHEN e.name = 'production' THEN 0 ELSE 1 END, e.name"
    );
    pub const DELETE_ENV: &str = "DELETE FROM environments WHERE id = $1";
    pub const INSERT_SHARED: &str = "INSERT INTO apps \
         (id, name, created_at, created_by, wrapped_key, key_id, launch, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, 'shared')";
    pub const NAME_TAKEN: &str = "SELECT COUNT(*) FROM apps WHERE name = $1";
    pub const APP_KIND: &str = "SELECT kind FROM apps WHERE id = $1";
    pub const FIND_SHARED: &str =
        select_app!(" FROM apps a WHERE a.name = $1 AND a.kind = 'shared'");
    pub const LIST_SHARED: &str =
        select_app!(" FROM apps a WHERE a.kind = 'shared' ORDER BY a.name");
    pub const DELETE_SHARED: &str = "DELETE FROM apps WHERE id = $1 AND kind = 'shared'";
    pub const LIST_INCLUDES: &str = select_app!(
        " FROM env_includes i JOIN apps a ON a.id = i.doc_id WHERE i.env_id = $1 ORDER BY i.ord"
    );
    pub const DELETE_INCLUDES: &str = "DELETE FROM env_includes WHERE env_id = $1";
    pub const INSERT_INCLUDE: &str =
        "INSERT INTO env_includes (env_id, ord, doc_id) VALUES ($1, $2, $3)";
    pub const BUMP_ONE: &str = "UPDATE environments SET shared_rev = shared_rev + 1 WHERE id = $1";
    pub const BUMP_INCLUDING: &str = "UPDATE environments SET shared_rev = shared_rev + 1 \
         WHERE id IN (SELECT env_id FROM env_includes WHERE doc_id = $1)";
    pub const INCLUDING: &str = select_env!(
        ", a.name AS app_name FROM env_includes i \
         JOIN environments e ON e.id = i.env_id JOIN apps a ON a.id = e.app_id \
         WHERE i.doc_id = $1 ORDER BY a.name, e.name"
    );
}

#[derive(sqlx::FromRow)]
struct EnvRow {
    id: i64,
    app_id: i64,
    name: String,
    created_at: i64,
    shared_rev: i64,
}

impl From<EnvRow> for Environment {
    fn from(r: EnvRow) -> Self {
        Environment {
            id: r.id,
            app_id: r.app_id,
            name: r.name,
            created_at: r.created_at,
            shared_rev: r.shared_rev,
        }
    }
}

#[derive(sqlx::FromRow)]
struct IncludingRow {
    #[sqlx(flatten)]
    env: EnvRow,
    app_name: String,
}

/// The `production` environment of a new app (or shared document): the app's own id.
pub(crate) async fn insert_production(
    conn: &mut AnyConnection,
    app_id: i64,
    at: Millis,
) -> Result<()> {
    sqlx::query(q::INSERT_ENV)
        .bind(app_id)
        .bind(app_id)
        .bind(PRODUCTION)
        .bind(at)
        .insert(conn, || {
            format!("an environment with id {app_id} already exists")
        })
        .await
}

/// The environment `id`, read from the pool or the writer's connection.
async fn get_env_on<'c>(from: impl Executor<'c, Database = Any>, id: i64) -> Result<Environment> {
    sqlx::query_as::<_, EnvRow>(q::GET_ENV)
        .bind(id)
        .one(from, |row| Ok(row.into()))
        .await
}

async fn app_kind_on(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    sqlx::query_scalar(q::APP_KIND)
        .bind(id)
        .maybe_value(&mut *conn)
        .await
}

/// The environments including `doc_id`, read from the pool or the writer's connection.
async fn including_on<'c>(
    from: impl Executor<'c, Database = Any>,
    doc_id: i64,
) -> Result<Vec<IncludingEnv>> {
    sqlx::query_as::<_, IncludingRow>(q::INCLUDING)
        .bind(doc_id)
        .all(from, |r| {
            Ok(IncludingEnv {
                app_name: r.app_name,
                env: r.env.into(),
            })
        })
        .await
}

/// Bumps the `shared_rev` of every environment that includes `doc_id` (none unless it is a
/// shared document) and tells other servers.
pub(crate) async fn bump_including(
    conn: &mut AnyConnection,
    kind: Backend,
    doc_id: i64,
) -> Result<()> {
    let bumped = sqlx::query(q::BUMP_INCLUDING)
        .bind(doc_id)
        .run(conn)
        .await?;
    if bumped > 0 {
        announce_including(conn, kind, doc_id).await?;
    }
    Ok(())
}

/// Tells other servers that the environments including `doc_id` moved on.
pub(crate) async fn announce_including(
    conn: &mut AnyConnection,
    kind: Backend,
    doc_id: i64,
) -> Result<()> {
    for user in including_on(&mut *conn, doc_id).await? {
        announce_revision(conn, kind, &user.env).await?;
    }
    Ok(())
}

/// Tells other servers an environment's included documents changed.
async fn announce_revision(
    conn: &mut AnyConnection,
    kind: Backend,
    env: &Environment,
) -> Result<()> {
    notify(
        conn,
        kind,
        &StoreEvent::SharedChanged {
            env_id: env.id,
            shared_rev: env.shared_rev,
        },
    )
    .await
}

#[async_trait::async_trait]
impl EnvironmentStore for SqlStore {
    async fn list_environments(&self, app_id: i64) -> Result<Vec<Environment>> {
        sqlx::query_as::<_, EnvRow>(q::LIST_ENVS)
            .bind(app_id)
            .all(&self.read, |row| Ok(row.into()))
            .await
    }

    async fn get_environment(&self, id: i64) -> Result<Environment> {
        get_env_on(&self.read, id).await
    }

    async fn find_environment(&self, app_id: i64, name: &str) -> Result<Environment> {
        sqlx::query_as::<_, EnvRow>(q::FIND_ENV)
            .bind(app_id)
            .bind(name)
            .one(&self.read, |row| Ok(row.into()))
            .await
    }

    async fn create_environment(
        &self,
        env: NewEnvironment,
        audit: AuditEvent,
    ) -> Result<Environment> {
        check_environment_name(&env.name).map_err(StoreError::Conflict)?;
        self.write(move |conn| {
            Box::pin(async move {
                if app_kind_on(conn, env.app_id).await?.as_deref() != Some("app") {
                    return Err(StoreError::NotFound);
                }
                let taken: i64 = sqlx::query_scalar(q::ENV_NAME_TAKEN)
                    .bind(env.app_id)
                    .bind(&env.name)
                    .value(&mut *conn)
                    .await?;
                let taken_message =
                    || format!("the app already has an environment named {:?}", env.name);
                if taken > 0 {
                    return Err(StoreError::Conflict(taken_message()));
                }
                sqlx::query(q::INSERT_ENV)
                    .bind(env.id)
                    .bind(env.app_id)
                    .bind(&env.name)
                    .bind(env.created_at)
                    .insert(conn, taken_message)
                    .await?;
                insert_audit(conn, &audit).await?;
                get_env_on(&mut *conn, env.id).await
            })
        })
        .await
    }

    async fn delete_environment(&self, id: i64, audit: AuditEvent) -> Result<Environment> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let env = get_env_on(&mut *conn, id).await?;
                if env.name == PRODUCTION {
                    return Err(StoreError::Conflict(
                        "the production environment cannot be deleted (routes and tokens without an environment mean it)".into(),
                    ));
                }
                sqlx::query(q::DELETE_ENV).bind(id).run(conn).await?;
                insert_audit(conn, &audit).await?;
                // Its watchers and tokens go the way a deleted app's do.
                notify(conn, kind, &StoreEvent::AppDeleted { app_id: id }).await?;
                Ok(env)
            })
        })
        .await
    }

    async fn create_shared_doc(&self, doc: NewApp, audit: AuditEvent) -> Result<App> {
        check_environment_name(&doc.name).map_err(StoreError::Conflict)?;
        self.write(move |conn| {
            Box::pin(async move {
                let taken_message = || {
                    format!(
                        "an app or shared document named {:?} already exists",
                        doc.name
                    )
                };
                let taken: i64 = sqlx::query_scalar(q::NAME_TAKEN)
                    .bind(&doc.name)
                    .value(&mut *conn)
                    .await?;
                if taken > 0 {
                    return Err(StoreError::Conflict(taken_message()));
                }
                sqlx::query(q::INSERT_SHARED)
                    .bind(doc.id)
                    .bind(&doc.name)
                    .bind(doc.created_at)
                    .bind(doc.created_by)
                    .bind(&doc.wrapped_key)
                    .bind(&doc.key_id)
                    .insert(conn, taken_message)
                    .await?;
                insert_production(conn, doc.id, doc.created_at).await?;
                insert_audit(conn, &audit).await?;
                Ok(App {
                    id: doc.id,
                    name: doc.name,
                    created_at: doc.created_at,
                    created_by: doc.created_by,
                    wrapped_key: doc.wrapped_key,
                    key_id: doc.key_id,
                    launch: None,
                    env_id: doc.id,
                    env: PRODUCTION.into(),
                })
            })
        })
        .await
    }

    async fn find_shared_doc(&self, name: &str) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(q::FIND_SHARED)
            .bind(name)
            .one(&self.read, rows::AppRow::into_app)
            .await
    }

    async fn list_shared_docs(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        let docs = sqlx::query_as::<_, rows::AppRow>(q::LIST_SHARED)
            .all(&self.read, rows::AppRow::into_app)
            .await?;
        let mut out = Vec::with_capacity(docs.len());
        for doc in docs {
            let latest = self
                .list_versions(doc.id, None, 1)
                .await?
                .into_iter()
                .next();
            out.push((doc, latest));
        }
        Ok(out)
    }

    async fn delete_shared_doc(&self, id: i64, audit: AuditEvent) -> Result<()> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                let users = including_on(&mut *conn, id).await?;
                if !users.is_empty() {
                    let names: Vec<String> = users.iter().map(IncludingEnv::label).collect();
                    return Err(StoreError::Conflict(format!(
                        "the shared document is still included by {}; remove it from their includes first",
                        names.join(", ")
                    )));
                }
                sqlx::query(q::DELETE_SHARED).bind(id).run_one(conn).await?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::AppDeleted { app_id: id }).await
            })
        })
        .await
    }

    async fn create_shared_version(
        &self,
        doc_id: i64,
        base: i64,
        new: NewVersion,
        audit: AuditEvent,
    ) -> Result<(VersionMeta, Vec<IncludingEnv>)> {
        rows::check_next_version(base, &new)?;
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                if app_kind_on(conn, doc_id).await?.as_deref() != Some("shared") {
                    return Err(StoreError::NotFound);
                }
                let save = Save {
                    app_id: doc_id,
                    base,
                    new,
                    audit,
                };
                let meta = insert_version_on(conn, kind, &save).await?;
                Ok((meta, including_on(&mut *conn, doc_id).await?))
            })
        })
        .await
    }

    async fn includes(&self, env_id: i64) -> Result<Vec<App>> {
        sqlx::query_as::<_, rows::AppRow>(q::LIST_INCLUDES)
            .bind(env_id)
            .all(&self.read, rows::AppRow::into_app)
            .await
    }

    async fn set_includes(
        &self,
        env_id: i64,
        doc_ids: Vec<i64>,
        audit: AuditEvent,
    ) -> Result<Environment> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                let env = get_env_on(&mut *conn, env_id).await?;
                if app_kind_on(conn, env.app_id).await?.as_deref() != Some("app") {
                    return Err(StoreError::Conflict(
                        "a shared document cannot include other documents".into(),
                    ));
                }
                for (i, doc) in doc_ids.iter().enumerate() {
                    if doc_ids[..i].contains(doc) {
                        return Err(StoreError::Conflict(
                            "a shared document is listed twice in the includes".into(),
                        ));
                    }
                    if app_kind_on(conn, *doc).await?.as_deref() != Some("shared") {
                        return Err(StoreError::NotFound);
                    }
                }
                sqlx::query(q::DELETE_INCLUDES)
                    .bind(env_id)
                    .run(conn)
                    .await?;
                for (ord, doc) in doc_ids.iter().enumerate() {
                    sqlx::query(q::INSERT_INCLUDE)
                        .bind(env_id)
                        .bind(ord as i64)
                        .bind(*doc)
                        .run(conn)
                        .await?;
                }
                sqlx::query(q::BUMP_ONE).bind(env_id).run(conn).await?;
                insert_audit(conn, &audit).await?;
                let env = get_env_on(&mut *conn, env_id).await?;
                announce_revision(conn, kind, &env).await?;
                Ok(env)
            })
        })
        .await
    }

    async fn including(&self, doc_id: i64) -> Result<Vec<IncludingEnv>> {
        including_on(&self.read, doc_id).await
    }
}
