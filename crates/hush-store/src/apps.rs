//! Apps (their production environment is made with them) and their wrapped keys, which
//! master-key rotation rewraps. [`AppStore`] is part of every [`Store`].

use crate::rows::{self, check_rewrap, rewrap_failed};
use crate::store::{Fetch, Run, Scalar, SqlStore, insert_audit, notify};
use crate::users::ensure_actor_is_owner;
use crate::*;

#[async_trait::async_trait]
pub trait AppStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn create_app(&self, app: NewApp, audit: AuditEvent) -> Result<App>;
    async fn get_app(&self, id: i64) -> Result<App>;
    async fn find_app(&self, name: &str) -> Result<App>;
    /// Every app with its newest version's metadata, ordered by name.
    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>>;
    /// Deletes the app, its versions, its tokens and its instance reports
    /// ([`StoreEvent::AppDeleted`]).
    async fn delete_app(&self, id: i64, audit: AuditEvent) -> Result<()>;
    async fn set_app_launch(
        &self,
        id: i64,
        launch: Option<LaunchConfig>,
        audit: AuditEvent,
    ) -> Result<()>;

    // ---- master-key rotation ----
    async fn app_keys(&self) -> Result<Vec<AppKey>>;
    /// Replaces the wrapped key only if it is still wrapped under `old_key_id`; else `Conflict`.
    async fn rewrap_app_key(&self, app_id: i64, old_key_id: &str, new: AppKey) -> Result<()>;
}

#[async_trait::async_trait]
impl AppStore for SqlStore {
    /// `Conflict` when the name, or the caller-chosen id, is taken.
    async fn create_app(&self, app: NewApp, audit: AuditEvent) -> Result<App> {
        self.write(move |conn| {
            Box::pin(async move {
                let name_taken: i64 = sqlx::query_scalar(sql::APP_NAME_TAKEN)
                    .bind(&app.name)
                    .value(&mut *conn)
                    .await?;
                if name_taken > 0 {
                    return Err(StoreError::Conflict(format!(
                        "an app named {:?} already exists",
                        app.name
                    )));
                }
                sqlx::query(sql::INSERT_APP)
                    .bind(app.id)
                    .bind(&app.name)
                    .bind(app.created_at)
                    .bind(app.created_by)
                    .bind(&app.wrapped_key)
                    .bind(&app.key_id)
                    .bind(rows::launch_json(app.launch.as_ref()))
                    // The name was free a moment ago: the id is taken, or another server
                    // took the name meanwhile.
                    .insert(conn, || {
                        format!(
                            "an app named {:?} or with id {} already exists",
                            app.name, app.id
                        )
                    })
                    .await?;
                crate::environments::insert_production(conn, app.id, app.created_at).await?;
                insert_audit(
                    conn,
                    &AuditEvent {
                        app_id: Some(app.id),
                        app_name: Some(app.name.clone()),
                        ..audit
                    },
                )
                .await?;
                Ok(App {
                    id: app.id,
                    name: app.name,
                    created_at: app.created_at,
                    created_by: app.created_by,
                    wrapped_key: app.wrapped_key,
                    key_id: app.key_id,
                    launch: app.launch,
                    env_id: app.id,
                    env: PRODUCTION.into(),
                })
            })
        })
        .await
    }

    async fn get_app(&self, id: i64) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::GET_APP)
            .bind(id)
            .one(&self.read, rows::AppRow::into_app)
            .await
    }

    async fn find_app(&self, name: &str) -> Result<App> {
        sqlx::query_as::<_, rows::AppRow>(sql::FIND_APP)
            .bind(name)
            .one(&self.read, rows::AppRow::into_app)
            .await
    }

    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        sqlx::query_as::<_, rows::AppListRow>(sql::LIST_APPS)
            .all(&self.read, rows::AppListRow::into_pair)
            .await
    }

    async fn delete_app(&self, id: i64, audit: AuditEvent) -> Result<()> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                // Its other environments go too: their watchers and tokens end like its own.
                let others: Vec<i64> = sqlx::query_scalar(sql::OTHER_ENVIRONMENTS)
                    .bind(id)
                    .values(&mut *conn)
                    .await?;
                sqlx::query(sql::DELETE_APP).bind(id).run_one(conn).await?;
                insert_audit(conn, &audit).await?;
                for env in others {
                    notify(conn, kind, &StoreEvent::AppDeleted { app_id: env }).await?;
                }
                notify(conn, kind, &StoreEvent::AppDeleted { app_id: id }).await
            })
        })
        .await
    }

    async fn set_app_launch(
        &self,
        id: i64,
        launch: Option<LaunchConfig>,
        audit: AuditEvent,
    ) -> Result<()> {
        let kind = self.kind;
        self.write(move |conn| {
            Box::pin(async move {
                ensure_actor_is_owner(conn, kind, &audit).await?;
                sqlx::query(sql::SET_APP_LAUNCH)
                    .bind(id)
                    .bind(rows::launch_json(launch.as_ref()))
                    .run_one(conn)
                    .await?;
                insert_audit(conn, &audit).await?;
                notify(conn, kind, &StoreEvent::LaunchChanged { app_id: id }).await
            })
        })
        .await
    }

    // ---- master-key rotation ----

    async fn app_keys(&self) -> Result<Vec<AppKey>> {
        sqlx::query_as::<_, rows::AppKeyRow>(sql::APP_KEYS)
            .all(&self.read, |r| {
                Ok(AppKey {
                    app_id: r.id,
                    key_id: r.key_id,
                    wrapped_key: r.wrapped_key,
                })
            })
            .await
    }

    async fn rewrap_app_key(&self, app_id: i64, old_key_id: &str, new: AppKey) -> Result<()> {
        check_rewrap(app_id, &new)?;
        let old_key_id = old_key_id.to_string();
        self.write(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query(sql::REWRAP_APP_KEY)
                    .bind(app_id)
                    .bind(&old_key_id)
                    .bind(&new.wrapped_key)
                    .bind(&new.key_id)
                    .run(conn)
                    .await?;
                if changed == 1 {
                    return Ok(());
                }
                let exists: i64 = sqlx::query_scalar(sql::APP_EXISTS)
                    .bind(app_id)
                    .value(&mut *conn)
                    .await?;
                Err(rewrap_failed(exists, app_id, &old_key_id))
            })
        })
        .await
    }
}
