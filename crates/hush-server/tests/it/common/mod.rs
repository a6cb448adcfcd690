//! Spawns a real `hush serve` (the library, on 127.0.0.1:0) and signs people in through hush's
//! own client, so every server test is also a client test.
#![allow(dead_code)]

use std::sync::Arc;

use hush_client::api::Client;
use hush_crypto::MasterKey;
use hush_server::{AppState, Keyring, ServerConfig};
use hush_store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// A server on a fresh SQLite database in a temporary directory.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with settings changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hush.db").display());
        let store = hush_store::connect(&url).await.unwrap();
        let keyring = Keyring::from_keys(vec![MasterKey::generate()]);
        let mut server = TestServer::start_configured(store, keyring, configure).await;
        server.dir = Some(dir);
        server
    }

    pub async fn start_on(store: Arc<dyn Store>, keyring: Keyring) -> TestServer {
        TestServer::start_configured(store, keyring, |_| {}).await
    }

    async fn start_configured(
        store: Arc<dyn Store>,
        keyring: Keyring,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = ServerConfig {
            public_url: url.clone(),
            heartbeat: std::time::Duration::from_millis(500),
            ..ServerConfig::default()
        };
        configure(&mut config);
        let state = AppState::new(store.clone(), keyring, config).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(hush_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(async move {
            task.await.unwrap().unwrap();
        });
        TestServer {
            url,
            state,
            store,
            dir: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None).unwrap()
    }

    /// Creates the owner through the first-run link and returns a client with their personal token.
    pub async fn owner(&self) -> Client {
        let link = self
            .state
            .first_run_link()
            .await
            .unwrap()
            .expect("a fresh server offers a setup link");
        let token = link.split_once('#').unwrap().1;
        self.anonymous()
            .accept_invite(token, "olivia", PASSWORD)
            .await
            .unwrap();
        self.login("olivia").await
    }

    /// [`TestServer::owner`], once they have made the app `name` holding `toml`.
    pub async fn owner_with_app(&self, name: &str, toml: &str) -> Client {
        let owner = self.owner().await;
        owner.create_app(name, Some(toml), None).await.unwrap();
        owner
    }

    pub async fn login(&self, name: &str) -> Client {
        let created = self
            .anonymous()
            .login(name, PASSWORD, "tests")
            .await
            .unwrap();
        self.anonymous().with_token(created.token)
    }

    /// Invites a member with `role`, lets them join, and signs them in.
    pub async fn member(&self, owner: &Client, name: &str, role: &str) -> Client {
        let token = invite_token(owner, role).await;
        self.anonymous()
            .accept_invite(&token, name, PASSWORD)
            .await
            .unwrap();
        self.login(name).await
    }

    /// Makes every audit insert fail, as a broken database would: a trigger on the SQLite
    /// file, created through a connection of its own, which is returned (drop the trigger
    /// `audit_down` through it to repair the log).
    pub async fn break_audit_log(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        let db = self.dir.as_ref().unwrap().path().join("hush.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit BEGIN SELECT RAISE(FAIL, 'audit down'); END")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The one-time token of a new invitation with `role`: what follows '#' in its link.
pub async fn invite_token(owner: &Client, role: &str) -> String {
    let invite = owner.invite(role).await.unwrap();
    let url = invite["url"].as_str().unwrap();
    url.split_once('#').unwrap().1.to_string()
}

/// Audit events matching `query`, once at least one satisfies `found` (reads and refusals are
/// written within about a second: they are gathered and folded).
pub async fn audit_eventually(
    client: &Client,
    query: &str,
    found: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let events = client.audit(query).await.unwrap();
        if events.iter().any(&found) || std::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// How many events a folded audit row stands for.
pub fn folded_count(event: &serde_json::Value) -> u64 {
    event["detail"]["count"].as_u64().unwrap_or(1)
}

/// The seed's own example document.
pub const SEED: &str = r#"# Everything in this section will be available as an environment variable
db_username = "Jane"
db_password = "12345qwerty"

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]
"#;
