//! SQLite backend (stub: compiles, not yet implemented).
#![allow(unused_variables)]

use futures::stream::BoxStream;

use crate::*;

pub struct SqliteStore {}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<SqliteStore> {
        Err(StoreError::Config(
            "the SQLite store is not implemented yet".into(),
        ))
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn user_count(&self) -> Result<i64> {
        todo!()
    }
    async fn create_user(&self, user: NewUser) -> Result<User> {
        todo!()
    }
    async fn get_user(&self, id: i64) -> Result<User> {
        todo!()
    }
    async fn find_user_credentials(&self, name: &str) -> Result<(User, String)> {
        todo!()
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        todo!()
    }
    async fn set_user_role(&self, id: i64, role: Role) -> Result<()> {
        todo!()
    }
    async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<()> {
        todo!()
    }
    async fn delete_user(&self, id: i64) -> Result<()> {
        todo!()
    }
    async fn create_invite(&self, invite: NewInvite) -> Result<Invite> {
        todo!()
    }
    async fn consume_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        todo!()
    }
    async fn find_invite(&self, token_hash: &[u8], now: Millis) -> Result<Invite> {
        todo!()
    }
    async fn create_session(&self, session: NewSession) -> Result<Session> {
        todo!()
    }
    async fn find_session(&self, token_hash: &[u8]) -> Result<Session> {
        todo!()
    }
    async fn touch_session(&self, id: i64, at: Millis) -> Result<()> {
        todo!()
    }
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        todo!()
    }
    async fn delete_user_sessions(&self, user_id: i64) -> Result<()> {
        todo!()
    }
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        todo!()
    }
    async fn find_token(&self, token_hash: &[u8]) -> Result<TokenRecord> {
        todo!()
    }
    async fn list_tokens(&self, filter: TokenFilter) -> Result<Vec<TokenRecord>> {
        todo!()
    }
    async fn revoke_token(&self, id: i64, at: Millis) -> Result<()> {
        todo!()
    }
    async fn touch_tokens(&self, used: &[(i64, Millis)]) -> Result<()> {
        todo!()
    }
    async fn create_app(&self, app: NewApp) -> Result<App> {
        todo!()
    }
    async fn get_app(&self, id: i64) -> Result<App> {
        todo!()
    }
    async fn find_app(&self, name: &str) -> Result<App> {
        todo!()
    }
    async fn list_apps(&self) -> Result<Vec<(App, Option<VersionMeta>)>> {
        todo!()
    }
    async fn delete_app(&self, id: i64) -> Result<()> {
        todo!()
    }
    async fn set_app_launch(&self, id: i64, launch: Option<LaunchConfig>) -> Result<()> {
        todo!()
    }
    async fn create_version(&self, app_id: i64, base: i64, new: NewVersion) -> Result<VersionMeta> {
        todo!()
    }
    async fn latest_version(&self, app_id: i64) -> Result<Option<VersionRecord>> {
        todo!()
    }
    async fn get_version(&self, app_id: i64, version: i64) -> Result<VersionRecord> {
        todo!()
    }
    async fn list_versions(
        &self,
        app_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<VersionMeta>> {
        todo!()
    }
    async fn app_keys(&self) -> Result<Vec<AppKey>> {
        todo!()
    }
    async fn rewrap_app_key(&self, app_id: i64, old_key_id: &str, new: AppKey) -> Result<()> {
        todo!()
    }
    async fn report_instance(&self, report: InstanceReport) -> Result<()> {
        todo!()
    }
    async fn list_instances(&self, app_id: i64, since: Millis) -> Result<Vec<InstanceReport>> {
        todo!()
    }
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        todo!()
    }
    async fn query_audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>> {
        todo!()
    }
    async fn publish(&self, event: StoreEvent) -> Result<()> {
        todo!()
    }
    async fn subscribe(&self) -> Result<Option<BoxStream<'static, Result<StoreEvent>>>> {
        todo!()
    }
    async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        todo!()
    }
}
