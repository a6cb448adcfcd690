//! Server-launched apps with real processes: started with their secrets, restarted on a save,
//! rebooted, restarted after a crash, stopped on delete; output kept masked.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::json;

const APP_SH: &str = r#"echo "started pid=$$ user=$db_username"
env > "env.$$"
printf '%s %s' "$$" "$db_username" > seen.tmp && mv seen.tmp seen
exec sleep 300
"#;

/// Waits until `f` gives `Some`, or fails the test after `secs` seconds.
async fn eventually<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn seen(folder: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(folder.join("seen")).ok()?;
    let (pid, user) = text.split_once(' ')?;
    Some((pid.parse().ok()?, user.to_string()))
}

/// Waits (up to 15 s) for the app to run again with `db_username` = `user`: its pid and user.
async fn restarted_with(folder: &Path, user: &str, what: &str) -> (u32, String) {
    eventually(15, what, async || seen(folder).filter(|(_, u)| u == user)).await
}

/// Waits (up to 15 s) for the app to run again under a pid other than `old`: its pid.
async fn restarted_after(folder: &Path, old: u32, what: &str) -> u32 {
    eventually(15, what, async || seen(folder).filter(|(p, _)| *p != old))
        .await
        .0
}

/// Waits (up to 10 s) until `client`'s environment of web lists a running copy for which
/// `reports` holds; the list.
async fn running_copies(
    client: &hush_client::api::Client,
    what: &str,
    reports: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    eventually(10, what, async || {
        let list = client.instances("web").await.unwrap();
        list.iter()
            .any(|i| i["status"] == "running" && reports(i))
            .then_some(list)
    })
    .await
}

/// A server whose apps directory holds the folder `web` with [`APP_SH`], and that folder.
async fn server_with_app_folder() -> (tempfile::TempDir, std::path::PathBuf, TestServer) {
    let apps = tempfile::tempdir().unwrap();
    let folder = apps.path().join("web");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("app.sh"), APP_SH).unwrap();
    let root = apps.path().to_path_buf();
    let server = TestServer::start_with(|c| c.apps_dir = Some(root)).await;
    (apps, folder, server)
}

/// A new personal token of the owner olivia, for the launch routes the client has no call for.
async fn owner_token(server: &TestServer, name: &str) -> String {
    server
        .anonymous()
        .login("olivia", common::PASSWORD, name)
        .await
        .unwrap()
        .token
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn a_launched_app_runs_with_its_secrets_and_follows_every_change() {
    let (_apps, folder, server) = server_with_app_folder().await;
    let owner = server.owner().await;
    let launch = json!({ "folder": "web", "command": "sh app.sh", "port": 8599 });
    owner
        .create_app(
            "web",
            Some("db_username = \"Jane\"\n"),
            Some(launch.clone()),
        )
        .await
        .unwrap();

    let (pid1, user) = eventually(10, "the app to start", async || seen(&folder)).await;
    assert_eq!(user, "Jane");
    let env = std::fs::read_to_string(folder.join(format!("env.{pid1}"))).unwrap();
    assert!(
        env.contains("PORT=8599") && env.contains("HUSH_SECRETS_FILE="),
        "{env}"
    );
    assert!(
        env.lines()
            .filter(|l| l.starts_with("HUSH_"))
            .all(|l| l.starts_with("HUSH_SECRETS_FILE=")),
        "nothing of the server's own HUSH_ settings reaches an app"
    );
    let status = eventually(10, "running status with logs", async || {
        let s = owner_status(&server, "web").await;
        (s["status"] == "running" && !s["logs"].as_array().unwrap().is_empty()).then_some(s)
    })
    .await;
    let logs = status["logs"].to_string();
    assert!(
        logs.contains("user=<concealed by hush>") && !logs.contains("Jane"),
        "{logs}"
    );

    // A save restarts the plain program with the new environment.
    owner
        .save_secrets("web", "db_username = \"John\"\n", 1, None)
        .await
        .unwrap();
    let (pid2, user) = restarted_with(&folder, "John", "the restart with the new value").await;
    assert_eq!(user, "John");
    assert_ne!(pid1, pid2);
    assert!(!alive(pid1), "the old process is gone");
    let instances = running_copies(&owner, "the applied version reported", |i| {
        i["applied_version"] == 2
    })
    .await;
    assert!(
        instances[0]["instance_id"]
            .as_str()
            .unwrap()
            .starts_with("server:")
    );

    // Reboot from the ⋮ menu.
    let http = reqwest::Client::new();
    let pat = owner_token(&server, "raw").await;
    let r = http
        .post(format!("{}/api/v1/apps/web/reboot", server.url))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let pid3 = restarted_after(&folder, pid2, "the reboot").await;

    // A crash: restarted with backoff, the restart counted.
    nix_kill(pid3);
    let pid4 = restarted_after(&folder, pid3, "the restart after a crash").await;
    let status = owner_status(&server, "web").await;
    assert!(status["restarts"].as_u64().unwrap() >= 1, "{status}");

    // Deleting the app stops it.
    owner.delete_app("web").await.unwrap();
    eventually(15, "the app to stop", async || (!alive(pid4)).then_some(())).await;
}

fn nix_kill(pid: u32) {
    std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .unwrap();
}

async fn owner_status(server: &TestServer, app: &str) -> serde_json::Value {
    let pat = owner_token(server, "status").await;
    common::get_json(&server.url, &format!("/apps/{app}/launch"), &pat).await
}

#[tokio::test]
async fn launching_is_for_owners_inside_the_apps_directory_only() {
    let apps = tempfile::tempdir().unwrap();
    std::fs::create_dir(apps.path().join("web")).unwrap();
    let root = apps.path().to_path_buf();
    let server = TestServer::start_with(|c| c.apps_dir = Some(root)).await;
    let owner = server.owner().await;
    let editor = server.member(&owner, "edith", "editor").await;

    let ok = json!({ "folder": "web", "command": "sleep 1" });
    let err = editor
        .create_app("a", None, Some(ok.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "only owners decide what runs");
    for (folder, why) in [
        ("../", "outside"),
        ("/etc", "absolute"),
        ("missing", "missing"),
    ] {
        let err = owner
            .create_app(
                "b",
                None,
                Some(json!({ "folder": folder, "command": "sleep 1" })),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{why}: {err}");
    }
    assert!(owner.app("b").await.is_err(), "nothing was created");

    // A command a shell could not split is refused before anything is stored or stopped: on
    // a new app, and on one already launched (which keeps its settings and keeps running).
    let unsplittable = json!({ "folder": "web", "command": "python3 -c 'print(1)" });
    let err = owner
        .create_app("b", None, Some(unsplittable.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("launch.command"), "{err}");
    assert!(owner.app("b").await.is_err(), "nothing was created");
    owner.create_app("b", None, Some(ok)).await.unwrap();
    let before = owner.app("b").await.unwrap()["launch"].clone();
    assert_eq!(set_launch(&server, "b", unsplittable).await, 400);
    assert_eq!(owner.app("b").await.unwrap()["launch"], before);
    let status = owner_status(&server, "b").await;
    assert!(
        ["starting", "running"].contains(&status["status"].as_str().unwrap_or("")),
        "still launched: {status}"
    );

    let plain = TestServer::start().await;
    let owner = plain.owner().await;
    let err = owner
        .create_app("c", None, Some(json!({ "folder": "web", "command": "x" })))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--apps-dir"), "{err}");
}

/// Sets the app's launch settings as an owner; the status code.
async fn set_launch(server: &TestServer, app: &str, launch: serde_json::Value) -> u16 {
    let pat = owner_token(server, "launch").await;
    reqwest::Client::new()
        .put(format!("{}/api/v1/apps/{app}/launch", server.url))
        .bearer_auth(pat)
        .json(&launch)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_launched_app_follows_the_environment_it_is_launched_with() {
    let (_apps, folder, server) = server_with_app_folder().await;
    let owner = server.owner().await;
    owner
        .create_app("web", Some("db_username = \"Prod\"\n"), None)
        .await
        .unwrap();
    // A new app has only production: it cannot be launched with another environment yet.
    let err = owner
        .create_app(
            "api",
            None,
            Some(json!({ "folder": "web", "command": "sh app.sh", "env": "staging" })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    owner.create_env("web", "staging").await.unwrap();
    common::share_into(
        &owner,
        "common",
        "db_username = \"Shared1\"\n",
        "web",
        "staging",
    )
    .await;

    let launch = |env: &str| json!({ "folder": "web", "command": "sh app.sh", "env": env });
    assert_eq!(set_launch(&server, "web", launch("nope")).await, 404);
    assert_eq!(set_launch(&server, "web", launch("Bad Name")).await, 400);
    assert!(seen(&folder).is_none(), "nothing was started");
    assert_eq!(set_launch(&server, "web", launch("staging")).await, 204);

    // It runs with staging's effective secrets (the shared value: staging has none of its own)
    // and reports to staging, with the version pair it applied.
    let (pid1, user) = eventually(10, "the app to start", async || seen(&folder)).await;
    assert_eq!(user, "Shared1");
    let staging = owner.with_env(Some("staging"));
    let pair =
        |shared: i64| json!({ "version": 0, "shared": [{ "name": "common", "version": shared }] });
    running_copies(&staging, "staging's running copy with its pair", |i| {
        i["applied"] == pair(1)
    })
    .await;
    assert!(
        owner.instances("web").await.unwrap().is_empty(),
        "production has no copy"
    );

    // A shared save restarts it with the new value; the pair follows.
    owner
        .save_shared("common", "db_username = \"Shared2\"\n", 1, None)
        .await
        .unwrap();
    let (pid2, _) = restarted_with(&folder, "Shared2", "the restart with the shared change").await;
    assert_ne!(pid1, pid2);
    running_copies(&staging, "the new pair reported", |i| {
        i["applied"] == pair(2)
    })
    .await;
    // A production save does not reach it.
    owner
        .save_secrets("web", "db_username = \"Prod2\"\n", 1, None)
        .await
        .unwrap();
    // Staging's own save does.
    staging
        .save_secrets("web", "db_username = \"Own\"\n", 0, None)
        .await
        .unwrap();
    let (_, user) = eventually(15, "the restart with staging's own value", async || {
        seen(&folder).filter(|(_, u)| u != "Shared2")
    })
    .await;
    assert_eq!(user, "Own", "production's save never reached it");

    // The environment it follows cannot be deleted under it.
    let err = owner.delete_env("web", "staging").await.unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    owner.delete_app("web").await.unwrap();
}

/// Launch settings changed through one server hold on the others at once: each forgets the app
/// it cached, so another server does not delete the environment a launched app now follows.
#[tokio::test]
async fn postgres_launch_settings_changed_on_one_server_hold_on_another() {
    let Some(pg) = hush_testkit::PgDatabase::create(
        "postgres_launch_settings_changed_on_one_server_hold_on_another",
    ) else {
        return;
    };
    let apps = tempfile::tempdir().unwrap();
    std::fs::create_dir(apps.path().join("web")).unwrap();
    let key = hush_crypto::MasterKey::generate().to_encoded();
    let keyring = || {
        hush_server::Keyring::from_keys(vec![hush_crypto::MasterKey::from_encoded(&key).unwrap()])
    };
    let root = apps.path().to_path_buf();
    let a = TestServer::start_configured(
        hush_store::connect(&pg.url).await.unwrap(),
        keyring(),
        |c| c.apps_dir = Some(root),
    )
    .await;
    let b = TestServer::start_on(hush_store::connect(&pg.url).await.unwrap(), keyring()).await;
    let on_a = a.owner().await;
    on_a.create_app("web", Some("a = 1\n"), None).await.unwrap();
    on_a.create_env("web", "staging").await.unwrap();
    // B reads the app and its environment, and caches them.
    let on_b = b.login("olivia").await;
    on_b.app("web").await.unwrap();
    on_b.with_env(Some("staging")).keys("web").await.unwrap();

    let launch = json!({ "folder": "web", "command": "sleep 30", "env": "staging" });
    assert_eq!(set_launch(&a, "web", launch).await, 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if on_b.app("web").await.unwrap()["launch"]["env"] == "staging" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still serves the old launch settings"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = on_b.delete_env("web", "staging").await.unwrap_err();
    assert_eq!(refused.status(), Some(409), "{refused}");
    assert!(on_a.with_env(Some("staging")).keys("web").await.is_ok());
    a.stop().await;
    b.stop().await;
}
