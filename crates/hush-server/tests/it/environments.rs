//! Environments and shared documents end to end: a real server on port 0, driven through
//! hush's own client (`Client::with_env` for the per-environment routes).

use crate::common;

use std::time::Duration;

use common::{SEED, TestServer, api_err, app_with_staging, assert_refused};
use futures::StreamExt;
use hush_client::api::Client;

/// A fresh server with its owner, the editor erin and the viewer vic.
async fn owner_editor_viewer() -> (TestServer, Client, Client, Client) {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let editor = server.member(&owner, "erin", "editor").await;
    let viewer = server.member(&owner, "vic", "viewer").await;
    (server, owner, editor, viewer)
}

/// Asserts that `r` is the refusal of a save that would make web/staging's merged document
/// invalid, naming that environment.
#[track_caller]
fn assert_refused_for_staging<T: std::fmt::Debug>(r: Result<T, hush_client::api::ClientError>) {
    let message = assert_refused(r, 422, "invalid_effective");
    assert!(message.contains("web/staging"), "{message}");
}

/// Asserts that a watch stream ends at once, announcing nothing more, and that its runner's
/// token no longer works (what deleting its environment or app does).
async fn assert_ended<S>(stream: &mut S, runner: &Client)
where
    S: futures::Stream<Item = hush_client::api::Result<i64>> + Unpin,
{
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream ends at once");
    assert!(!matches!(ended, Some(Ok(_))), "{ended:?}");
    assert_eq!(api_err(runner.secrets("web").await).0, 401);
}

const STAGING: &str = "db_password = \"staging-pass\"\nonly_staging = 1\n";

#[tokio::test]
async fn each_environment_has_its_own_secrets_history_conflicts_and_tokens() {
    let (server, owner, editor, viewer) = owner_editor_viewer().await;
    owner.create_app("web", Some(SEED), None).await.unwrap();

    // Only owners add environments; names are checked.
    let (status, ..) = api_err(editor.create_env("web", "staging").await);
    assert_eq!(status, 403);
    for bad in ["Staging", "a b", "", "../x", "-dev"] {
        let (status, code, message) = api_err(owner.create_env("web", bad).await);
        assert!(
            status == 400 || status == 404 || status == 405,
            "{bad:?}: {status} {code} {message}"
        );
    }
    assert_refused(owner.create_env("web", "Staging").await, 400, "bad_name");
    owner.create_env("web", "staging").await.unwrap();
    let (status, _, message) = api_err(owner.create_env("web", "staging").await);
    assert_eq!(status, 409, "{message}");
    let envs = viewer.envs("web").await.unwrap();
    let names: Vec<&str> = envs["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "staging"]);

    // Staging starts empty; a save there leaves production alone.
    let staging = editor.with_env(Some("staging"));
    let (status, ..) = api_err(staging.secrets("web").await);
    assert_eq!(status, 404);
    let saved = staging
        .save_secrets("web", STAGING, 0, Some("first staging"))
        .await
        .unwrap();
    assert_eq!(saved.version, 1);
    let read = staging.secrets("web").await.unwrap();
    assert_eq!(
        (read.version, read.env.as_deref(), read.toml.as_str()),
        (1, Some("staging"), STAGING)
    );
    let prod = editor.secrets("web").await.unwrap();
    assert_eq!((prod.version, prod.toml.as_str()), (1, SEED));
    // Its own 409 on a stale base, nothing saved.
    assert_refused(
        staging.save_secrets("web", "x = 2\n", 0, None).await,
        409,
        "conflict",
    );
    staging
        .save_secrets("web", "x = 3\n", 1, None)
        .await
        .unwrap();
    assert_eq!(staging.versions("web").await.unwrap().len(), 2);
    assert_eq!(editor.versions("web").await.unwrap().len(), 1);
    let back = staging.rollback("web", 1, 2).await.unwrap();
    assert_eq!(back.version, 3);
    assert_eq!(staging.secrets("web").await.unwrap().toml, STAGING);
    // A viewer cannot save in any environment.
    let (status, ..) = api_err(
        viewer
            .with_env(Some("staging"))
            .save_secrets("web", "y = 1\n", 3, None)
            .await,
    );
    assert_eq!(status, 403);
    // An environment that does not exist.
    let (status, _, message) = api_err(editor.with_env(Some("nope")).secrets("web").await);
    assert_eq!(status, 404);
    assert!(message.contains("nope"), "{message}");

    // A token reads one app environment: the other environment's routes refuse it.
    let staging_token = owner
        .with_env(Some("staging"))
        .create_app_token("web", "staging-runner", None)
        .await
        .unwrap();
    assert!(
        staging_token
            .run_command
            .as_deref()
            .unwrap()
            .contains("--env staging")
    );
    let prod_token = owner
        .create_app_token("web", "prod-runner", None)
        .await
        .unwrap();
    let as_staging = server.anonymous().with_token(staging_token.token.clone());
    let as_prod = server.anonymous().with_token(prod_token.token.clone());
    assert_eq!(
        as_staging
            .with_env(Some("staging"))
            .secrets("web")
            .await
            .unwrap()
            .toml,
        STAGING
    );
    assert_eq!(as_prod.secrets("web").await.unwrap().toml, SEED);
    let (status, _, message) = api_err(as_staging.secrets("web").await);
    assert_eq!(status, 403, "{message}");
    let (status, ..) = api_err(as_prod.with_env(Some("staging")).secrets("web").await);
    assert_eq!(status, 403);
    let (status, ..) = api_err(as_prod.with_env(Some("nope")).secrets("web").await);
    assert_eq!(status, 403, "a token cannot probe for environment names");

    // Production stays; deleting staging takes its history and tokens.
    let (status, ..) = api_err(owner.delete_env("web", "production").await);
    assert_eq!(status, 409);
    let (status, ..) = api_err(editor.delete_env("web", "staging").await);
    assert_eq!(status, 403);
    owner.delete_env("web", "staging").await.unwrap();
    let (status, ..) = api_err(as_staging.with_env(Some("staging")).secrets("web").await);
    assert_eq!(status, 401, "its token is gone");
    assert_eq!(as_prod.secrets("web").await.unwrap().toml, SEED);
    server.stop().await;
}

/// The token list says which environment each app token reads (what the panel shows).
#[tokio::test]
async fn the_token_list_names_the_environment_each_token_reads() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let viewer = server.member(&owner, "vic", "viewer").await;
    app_with_staging(&owner, "web", SEED, &[]).await;
    owner
        .create_app_token("web", "prod-runner", None)
        .await
        .unwrap();
    owner
        .with_env(Some("staging"))
        .create_app_token("web", "staging-runner", None)
        .await
        .unwrap();
    owner.create_personal_token("laptop", None).await.unwrap();

    let by_name = |tokens: &[serde_json::Value]| -> Vec<(String, serde_json::Value)> {
        let mut out: Vec<_> = tokens
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["env"].clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    // Any member of the app sees it, viewers included.
    for who in [&owner, &viewer] {
        let tokens = who.tokens(Some("web")).await.unwrap();
        assert_eq!(
            by_name(&tokens),
            [
                ("prod-runner".to_string(), serde_json::json!("production")),
                ("staging-runner".to_string(), serde_json::json!("staging")),
            ]
        );
        assert!(tokens.iter().all(|t| t["app"] == "web"), "{tokens:?}");
    }
    // A personal token reads no environment (the test client signed in with one, too).
    let personal = owner.tokens(None).await.unwrap();
    assert!(by_name(&personal).contains(&("laptop".to_string(), serde_json::Value::Null)));
    assert!(personal.iter().all(|t| t["env"].is_null()), "{personal:?}");
    // Deleting staging takes its token out of the list; production's stays.
    owner.delete_env("web", "staging").await.unwrap();
    let tokens = owner.tokens(Some("web")).await.unwrap();
    assert_eq!(
        by_name(&tokens),
        [("prod-runner".to_string(), serde_json::json!("production"))]
    );
    server.stop().await;
}

#[tokio::test]
async fn shared_documents_merge_under_the_environment_with_provenance() {
    let (server, owner, editor, viewer) = owner_editor_viewer().await;
    let production = "own = \"p\"\n[db]\nhost = \"prod-db\"\n";
    app_with_staging(&owner, "web", production, &[]).await;
    let staging = editor.with_env(Some("staging"));
    staging
        .save_secrets("web", "own = \"s\"\n", 0, None)
        .await
        .unwrap();

    // Owners create shared documents; editors save them; viewers only look.
    let common = "DB_URL = \"postgres://common\"\nown = \"from-common\"\n[db]\nhost = \"common-db\"\nuser = \"common\"\n";
    let (status, ..) = api_err(editor.create_shared("common-db", Some(common)).await);
    assert_eq!(status, 403);
    assert_refused(
        owner.create_shared("Common", Some(common)).await,
        400,
        "bad_name",
    );
    let (status, ..) = api_err(owner.create_shared("web", None).await);
    assert_eq!(status, 409, "names are shared with apps");
    owner
        .create_shared("common-db", Some(common))
        .await
        .unwrap();
    owner
        .create_shared("keys", Some("API_KEY = \"k1\"\n"))
        .await
        .unwrap();
    let (status, ..) = api_err(
        viewer
            .save_shared("keys", "API_KEY = \"x\"\n", 1, None)
            .await,
    );
    assert_eq!(status, 403);
    let shown = viewer.shared_doc("common-db").await.unwrap();
    assert!(shown["toml"].is_null(), "viewers get no values");
    assert!(!shown.to_string().contains("postgres://common"));
    assert_eq!(
        editor.shared_doc("common-db").await.unwrap()["toml"],
        common
    );
    assert!(
        owner.app("common-db").await.is_err(),
        "a shared document is not an app"
    );

    // Includes: bad names, missing documents, duplicates and wrong roles are refused.
    let (status, ..) = api_err(editor.set_includes("web", "staging", &["keys"]).await);
    assert_eq!(status, 403);
    let (status, _, message) = api_err(owner.set_includes("web", "staging", &["missing"]).await);
    assert_eq!(status, 404);
    assert!(message.contains("missing"), "{message}");
    assert_refused(
        owner.set_includes("web", "staging", &["Bad Name"]).await,
        400,
        "bad_name",
    );
    let (status, _, message) = api_err(
        owner
            .set_includes("web", "staging", &["keys", "keys"])
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("twice"), "{message}");
    assert!(owner.includes("web", "staging").await.unwrap().is_empty());

    owner
        .set_includes("web", "staging", &["keys", "common-db"])
        .await
        .unwrap();
    assert_eq!(
        viewer.includes("web", "staging").await.unwrap(),
        ["keys", "common-db"]
    );

    // The runner's view: shared documents in order, then the environment's own; later wins
    // at the root, a table is replaced whole.
    let runner = server.env_runner(&owner, "web", "staging").await;
    let read = runner.secrets("web").await.unwrap();
    let doc = hush_core::Document::parse(&read.toml).unwrap();
    let root = doc.root();
    assert_eq!(root["own"], hush_core::Value::String("s".into()));
    assert_eq!(root["API_KEY"], hush_core::Value::String("k1".into()));
    assert_eq!(
        root["DB_URL"],
        hush_core::Value::String("postgres://common".into())
    );
    assert_eq!(
        root.keys().collect::<Vec<_>>(),
        ["API_KEY", "DB_URL", "own", "db"]
    );
    assert_eq!(read.version, 1);
    assert!(read.revision() > read.version);
    // Production includes nothing: unchanged, comments and all.
    assert_eq!(
        editor.secrets("web").await.unwrap().toml,
        "own = \"p\"\n[db]\nhost = \"prod-db\"\n"
    );

    // Provenance: where each root key comes from, values masked for viewers.
    let eff = viewer.effective("web", "staging").await.unwrap();
    assert!(eff["toml"].is_null());
    assert!(!eff.to_string().contains("postgres://common"));
    let keys = eff["keys"].as_array().unwrap();
    let from = |k: &str| {
        keys.iter()
            .find(|e| e["key"] == k)
            .map(|e| e["from"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(from("API_KEY"), "keys");
    assert_eq!(from("DB_URL"), "common-db");
    assert_eq!(from("own"), "staging");
    let own = keys.iter().find(|e| e["key"] == "own").unwrap();
    assert_eq!(own["hides"], serde_json::json!(["common-db"]));
    let eff = editor.effective("web", "staging").await.unwrap();
    assert_eq!(eff["toml"].as_str().unwrap(), read.toml);

    // A table in the environment's own document replaces the shared one whole.
    staging
        .save_secrets("web", "own = \"s\"\n[db]\nhost = \"staging-db\"\n", 1, None)
        .await
        .unwrap();
    let doc = hush_core::Document::parse(&runner.secrets("web").await.unwrap().toml).unwrap();
    let hush_core::Value::Table(db) = &doc.root()["db"] else {
        panic!("db is a table")
    };
    assert_eq!(
        db.len(),
        1,
        "db.user from common-db is gone (no deep merge)"
    );

    // A shared save that would make an including environment invalid is refused, naming it;
    // nothing is saved.
    let huge = format!("big = \"{}\"\n", "x".repeat(600 * 1024));
    staging.save_secrets("web", &huge, 2, None).await.unwrap();
    let big_shared = format!("API_KEY = \"k1\"\nbig2 = \"{}\"\n", "y".repeat(600 * 1024));
    assert_refused_for_staging(editor.save_shared("keys", &big_shared, 1, None).await);
    assert_eq!(editor.shared_versions("keys").await.unwrap().len(), 1);
    // The same check on the environment's own save.
    owner
        .save_shared(
            "common-db",
            &format!("{common}big3 = \"{}\"\n", "z".repeat(400 * 1024)),
            1,
            None,
        )
        .await
        .unwrap();
    let too_big = format!("{huge}more = \"{}\"\n", "w".repeat(40 * 1024));
    assert_refused_for_staging(staging.save_secrets("web", &too_big, 3, None).await);
    assert_eq!(
        staging.versions("web").await.unwrap().len(),
        3,
        "nothing saved"
    );
    // And on a rollback: version 3 fitted beside the shared document as it was then, not
    // beside what it has grown to.
    staging
        .save_secrets("web", "own = \"s\"\n", 3, None)
        .await
        .unwrap();
    owner
        .save_shared(
            "common-db",
            &format!("{common}big3 = \"{}\"\n", "z".repeat(500 * 1024)),
            2,
            None,
        )
        .await
        .unwrap();
    assert_refused_for_staging(staging.rollback("web", 3, 4).await);
    assert_eq!(
        staging.versions("web").await.unwrap().len(),
        4,
        "nothing saved"
    );

    // Removing a document still included is refused, naming who includes it.
    let (status, _, message) = api_err(owner.delete_shared("common-db").await);
    assert_eq!(status, 409);
    assert!(message.contains("web/staging"), "{message}");
    let (status, ..) = api_err(editor.delete_shared("common-db").await);
    assert_eq!(status, 403);
    owner
        .set_includes("web", "staging", &["keys"])
        .await
        .unwrap();
    owner.delete_shared("common-db").await.unwrap();
    let (status, ..) = api_err(viewer.shared_doc("common-db").await);
    assert_eq!(status, 404);
    let listed = viewer.shared_docs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["included_by"], serde_json::json!(["web/staging"]));
    server.stop().await;
}

#[tokio::test]
async fn a_shared_save_reaches_every_including_environments_watch_stream() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    owner
        .create_shared("common", Some("K = \"v1\"\n"))
        .await
        .unwrap();
    let mut streams = Vec::new();
    let mut runners: Vec<Client> = Vec::new();
    for app in ["web", "api"] {
        app_with_staging(&owner, app, "own = 1\n", &["common"]).await;
        let runner = server.env_runner(&owner, app, "staging").await;
        let mut stream = Box::pin(runner.watch(app, 0, Duration::from_secs(5)).await.unwrap());
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first, runner.secrets(app).await.unwrap().revision());
        streams.push((stream, first));
        runners.push(runner);
    }
    // A production watcher of web is not told: production does not include it.
    let prod_token = owner.create_app_token("web", "prod", None).await.unwrap();
    let prod = server.anonymous().with_token(prod_token.token);
    let mut prod_stream = Box::pin(prod.watch("web", 0, Duration::from_secs(3)).await.unwrap());
    assert_eq!(prod_stream.next().await.unwrap().unwrap(), 1);

    owner
        .save_shared("common", "K = \"v2\"\n", 1, None)
        .await
        .unwrap();
    for ((stream, first), (runner, app)) in
        streams.iter_mut().zip(runners.iter().zip(["web", "api"]))
    {
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the save reaches the stream")
            .unwrap()
            .unwrap();
        assert!(next > *first);
        let read = runner.secrets(app).await.unwrap();
        assert_eq!(read.revision(), next, "the read matches what was announced");
        assert!(read.toml.contains("v2"));
        assert_eq!(read.includes[0]["version"], 2);
    }
    // Heartbeats keep the stream open: nothing but them may arrive.
    if let Ok(Some(Ok(v))) =
        tokio::time::timeout(Duration::from_millis(700), prod_stream.next()).await
    {
        panic!("production announced {v} for a shared save it does not include");
    }
    server.stop().await;
}

#[tokio::test]
async fn compare_shows_keys_in_one_only_and_differing_values_for_editors() {
    let (server, owner, editor, viewer) = owner_editor_viewer().await;
    let production = "A = \"same\"\nB = \"prod-b\"\nONLY_PROD = 1\n";
    app_with_staging(&owner, "web", production, &[]).await;
    editor
        .with_env(Some("staging"))
        .save_secrets(
            "web",
            "A = \"same\"\nB = \"staging-b\"\nONLY_STAGING = 2\n",
            0,
            None,
        )
        .await
        .unwrap();
    let seen = viewer
        .compare("web", "staging", "production")
        .await
        .unwrap();
    assert_eq!(seen["only_in_a"], serde_json::json!(["ONLY_STAGING"]));
    assert_eq!(seen["only_in_b"], serde_json::json!(["ONLY_PROD"]));
    assert_eq!(seen["differing"][0]["key"], "B");
    assert!(seen["differing"][0]["a"].is_null(), "masked for viewers");
    assert_eq!(seen["values_shown"], false);
    assert!(!seen.to_string().contains("staging-b"));
    let seen = editor
        .compare("web", "staging", "production")
        .await
        .unwrap();
    assert_eq!(seen["differing"][0]["a"], "staging-b");
    assert_eq!(seen["differing"][0]["b"], "prod-b");

    // An editor made viewer on this app sees what a viewer sees: the role on the app counts.
    let erin = common::member_id(&owner, "erin").await;
    owner.set_app_role("web", erin, "viewer").await.unwrap();
    let seen = editor
        .compare("web", "staging", "production")
        .await
        .unwrap();
    assert_eq!(seen["values_shown"], false);
    assert!(!seen.to_string().contains("staging-b"));
    let eff = editor.effective("web", "staging").await.unwrap();
    assert!(eff["toml"].is_null(), "no text for a viewer on web");
    assert!(!eff.to_string().contains("staging-b"));

    let (status, _, message) = api_err(viewer.compare("web", "staging", "nope").await);
    assert_eq!(status, 404);
    assert!(message.contains("nope"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn the_editors_check_compares_with_the_environment_being_edited() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let viewer = server.member(&owner, "vic", "viewer").await;
    let staging = app_with_staging(&owner, "web", "A = 1\nB = 2\n", &[]).await;
    staging
        .save_secrets("web", "A = 1\nS = 3\n", 0, None)
        .await
        .unwrap();
    staging
        .save_secrets("web", "A = 1\nS = 4\n", 1, None)
        .await
        .unwrap();

    // Against staging's version 2, not production's version 1.
    let checked = staging
        .validate("A = 1\nS = 4\nT = 5\n", Some("web"))
        .await
        .unwrap();
    assert_eq!(checked["base_version"], 2);
    assert_eq!(checked["diff"]["added"], serde_json::json!(["T"]));
    assert_eq!(checked["diff"]["removed"], serde_json::json!([]));
    let checked = owner.validate("A = 1\nS = 4\n", Some("web")).await.unwrap();
    assert_eq!(checked["base_version"], 1);
    assert_eq!(checked["diff"]["added"], serde_json::json!(["S"]));
    assert_eq!(checked["diff"]["removed"], serde_json::json!(["B"]));

    let (status, _, message) = api_err(
        owner
            .with_env(Some("nope"))
            .validate("A = 1\n", Some("web"))
            .await,
    );
    assert_eq!(status, 404);
    assert!(message.contains("nope"), "{message}");
    let (status, ..) = api_err(
        viewer
            .with_env(Some("staging"))
            .validate("A = 1\n", Some("web"))
            .await,
    );
    assert_eq!(
        status, 403,
        "comparing tells whether a guess is right: editors only"
    );
    let (_, cookie, csrf) = common::panel_session(&server, "olivia", common::PASSWORD).await;
    let refused = reqwest::Client::new()
        .post(format!("{}/api/v1/validate", server.url))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({ "toml": "A = 1\n", "env": "staging" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "an environment without its app");
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_environments_and_shared_documents() {
    let doc = hush_server::api::openapi();
    let json = serde_json::to_value(&doc).unwrap();
    for path in [
        "/apps/{app}/envs",
        "/apps/{app}/envs/{env}",
        "/apps/{app}/envs/{env}/secrets",
        "/apps/{app}/envs/{env}/includes",
        "/apps/{app}/envs/{env}/effective",
        "/apps/{app}/envs/{env}/watch",
        "/apps/{app}/compare",
        "/shared",
        "/shared/{doc}",
        "/shared/{doc}/versions",
        "/shared/{doc}/versions/{version}",
        "/shared/{doc}/diff",
        "/shared/{doc}/rollback",
        "/shared/{doc}/roles",
        "/shared/{doc}/roles/{member}",
    ] {
        assert!(json["paths"][path].is_object(), "{path} is documented");
    }
}

/// Each per-app route's copy in an environment is documented like the route itself, with the
/// `env` path parameter after `app` and an operation id of its own.
#[tokio::test]
async fn the_openapi_document_describes_each_per_app_route_in_an_environment() {
    let doc = serde_json::to_value(hush_server::api::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let names = |operation: &serde_json::Value| -> Vec<String> {
        operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut copies = 0;
    for (path, item) in paths {
        let Some(rest) = path.strip_prefix("/apps/{app}/envs/{env}/") else {
            continue;
        };
        for (method, operation) in item.as_object().unwrap() {
            let in_env = names(operation);
            assert_eq!(in_env[..2], ["app", "env"], "{method} {path}");
            let Some(own) = paths.get(&format!("/apps/{{app}}/{rest}")) else {
                continue;
            };
            copies += 1;
            let own = &own[method];
            let mut without_env = in_env.clone();
            without_env.remove(1);
            assert_eq!(names(own), without_env, "{method} {path}");
            assert_eq!(operation["responses"], own["responses"], "{method} {path}");
            assert_eq!(
                operation["requestBody"], own["requestBody"],
                "{method} {path}"
            );
            assert_ne!(
                operation["operationId"], own["operationId"],
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        copies, 12,
        "secrets (2), keys, rollback, versions, version, diff, values, value diff, instances (2), watch"
    );
}

#[tokio::test]
async fn deleting_an_app_or_environment_ends_its_environments_watch_streams() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let mut streams = Vec::new();
    for env in ["staging", "dev"] {
        owner.create_env("web", env).await.unwrap();
        owner
            .with_env(Some(env))
            .save_secrets("web", "b = 2\n", 0, None)
            .await
            .unwrap();
        let runner = server.env_runner(&owner, "web", env).await;
        let mut stream = common::watch_stream(&runner, "web", 0, Duration::from_secs(30)).await;
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        streams.push((stream, runner));
    }
    // Deleting one environment ends its streams, not the other's.
    owner.delete_env("web", "dev").await.unwrap();
    let (mut dev, dev_runner) = streams.pop().unwrap();
    assert_ended(&mut dev, &dev_runner).await;
    // Deleting the app ends every environment's.
    owner.delete_app("web").await.unwrap();
    let (mut staging, staging_runner) = streams.pop().unwrap();
    assert_ended(&mut staging, &staging_runner).await;
    server.stop().await;
}

#[tokio::test]
async fn a_shared_document_has_version_texts_diffs_and_rollbacks_like_an_app() {
    let (server, owner, editor, viewer) = owner_editor_viewer().await;
    let v1 = "# the old password\nK = \"first-secret\"\nX = 1\n";
    owner.create_shared("common", Some(v1)).await.unwrap();
    editor
        .save_shared("common", "K = \"second-secret\"\nY = 2\n", 1, None)
        .await
        .unwrap();
    app_with_staging(&owner, "web", "own = 1\n", &["common"]).await;
    let runner = server.env_runner(&owner, "web", "staging").await;
    let mut stream = common::watch_stream(&runner, "web", 0, Duration::from_secs(5)).await;
    let first = stream.next().await.unwrap().unwrap();

    // One version's text: editors (audited); viewers get key names and masks only.
    let seen = editor.shared_version("common", 1).await.unwrap();
    assert_eq!(seen["toml"], v1, "comments and all");
    assert_eq!(seen["version"], 1);
    let masked = viewer.shared_version("common", 1).await.unwrap();
    assert!(masked["toml"].is_null());
    assert_eq!(masked["keys"], serde_json::json!(["K", "X"]));
    assert!(!masked.to_string().contains("first-secret"), "{masked}");
    let events = common::audit_eventually(&owner, "action=secrets.reveal&actor=erin", |e| {
        e["detail"]["shared"] == true && e["detail"]["version"] == 1
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| e["detail"]["shared"] == true && e["detail"]["version"] == 1),
        "{events:?}"
    );
    assert!(
        owner
            .audit("action=secrets.reveal&actor=vic")
            .await
            .unwrap()
            .is_empty(),
        "a masked view is no reveal"
    );
    let (status, _, message) = api_err(editor.shared_version("common", 9).await);
    assert_eq!(status, 404);
    assert!(
        message.contains("common") && message.contains('9'),
        "{message}"
    );
    let (status, ..) = api_err(editor.shared_version("nope", 1).await);
    assert_eq!(status, 404);

    // Diff: names only, for any member.
    let diff = viewer.shared_diff("common", 1, None).await.unwrap();
    assert_eq!(diff["to"], 2);
    assert_eq!(diff["diff"]["added"], serde_json::json!(["Y"]));
    assert_eq!(diff["diff"]["removed"], serde_json::json!(["X"]));
    assert_eq!(diff["diff"]["changed"], serde_json::json!(["K"]));
    assert!(!diff.to_string().contains("secret"), "{diff}");
    let (status, ..) = api_err(viewer.shared_diff("common", 1, Some(7)).await);
    assert_eq!(status, 404);

    // Rollback: editors only, on the newest base, a new version with the old text that
    // reaches every including environment's runners like a save.
    let (status, ..) = api_err(viewer.shared_rollback("common", 1, 2).await);
    assert_eq!(status, 403);
    let (status, ..) = api_err(editor.shared_rollback("common", 1, 1).await);
    assert_eq!(status, 409, "a stale base is refused");
    let (status, ..) = api_err(editor.shared_rollback("common", 5, 2).await);
    assert_eq!(status, 404);
    assert_eq!(
        editor.shared_doc("common").await.unwrap()["version"],
        2,
        "the refusals changed nothing"
    );
    let rolled = editor.shared_rollback("common", 1, 2).await.unwrap();
    assert_eq!((rolled.version, rolled.restored_from), (3, Some(1)));
    assert_eq!(
        editor.shared_version("common", 3).await.unwrap()["toml"],
        v1
    );
    let versions = viewer.shared_versions("common").await.unwrap();
    assert_eq!(
        versions[0].message.as_deref(),
        Some("Rollback to version 1")
    );
    let next = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let v = stream.next().await.unwrap().unwrap();
            if v > first && runner.secrets("web").await.unwrap().includes[0]["version"] == 3 {
                return v;
            }
        }
    })
    .await
    .expect("the rollback reaches the including environment's stream");
    let read = runner.secrets("web").await.unwrap();
    assert_eq!(read.revision(), next);
    assert!(read.toml.contains("first-secret"), "the old text is back");
    let events = common::audit_eventually(&owner, "action=secrets.rollback", |_| true).await;
    assert_eq!(events[0]["detail"]["restored_from"], 1, "{events:?}");
    // The same text again: nothing new.
    let again = editor.shared_rollback("common", 1, 3).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(again.version, 3);
    server.stop().await;
}

#[tokio::test]
async fn the_keys_of_an_environment_are_its_effective_keys_with_where_each_comes_from() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let viewer = server.member(&owner, "vic", "viewer").await;
    let staging = app_with_staging(&owner, "web", "prod = 1\n", &[]).await;
    staging
        .save_secrets(
            "web",
            "own = \"staging-secret\"\n[db]\nhost = \"h\"\n",
            0,
            None,
        )
        .await
        .unwrap();
    let common = "DB_URL = \"postgres://common\"\nown = \"hidden\"\n";
    common::share_into(&owner, "common", common, "web", "staging").await;

    let keys = viewer.with_env(Some("staging")).keys("web").await.unwrap();
    assert_eq!(keys["version"], 1);
    assert_eq!(keys["includes"][0]["document"], "common");
    assert_eq!(
        keys["keys"],
        serde_json::json!(["DB_URL", "own", "db", "db.host"]),
        "{keys}"
    );
    let sources: Vec<(String, String)> = keys["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["from"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("DB_URL".to_owned(), "common".to_owned()),
            ("own".to_owned(), "staging".to_owned()),
            ("db".to_owned(), "staging".to_owned()),
        ]
    );
    assert_eq!(keys["sources"][1]["hides"], serde_json::json!(["common"]));
    let exported = keys["env"]["exported"].to_string();
    assert!(
        exported.contains("DB_URL") && exported.contains("own"),
        "{exported}"
    );
    let text = keys.to_string();
    for secret in ["postgres://common", "staging-secret", "hidden"] {
        assert!(!text.contains(secret), "masked for viewers: {text}");
    }
    // Production includes nothing: its own keys, as before.
    let prod = viewer.keys("web").await.unwrap();
    assert_eq!(prod["keys"], serde_json::json!(["prod"]));
    assert_eq!(prod["sources"][0]["from"], "production");
    server.stop().await;
}

#[tokio::test]
async fn a_running_copy_reports_the_versions_its_revision_is_made_of() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let viewer = server.member(&owner, "vic", "viewer").await;
    owner
        .create_app("web", Some("own = 1\n"), None)
        .await
        .unwrap();
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let runner = server.anonymous().with_token(token.token);
    let report = |applied: Option<serde_json::Value>| hush_client::api::InstanceReport {
        instance_id: "i-1".into(),
        hostname: "box".into(),
        pid: Some(7),
        applied_version: 5,
        applied,
        status: None,
    };
    let pair = serde_json::json!({ "version": 3, "shared": [{ "name": "common", "version": 2 }] });
    runner
        .report_instance("web", &report(Some(pair.clone())))
        .await
        .unwrap();
    let listed = viewer.instances("web").await.unwrap();
    assert_eq!(listed[0]["applied_version"], 5);
    assert_eq!(listed[0]["applied"], pair);

    // Bad parts are refused, naming the field, and change nothing.
    for (bad, field) in [
        (
            serde_json::json!({ "version": -1, "shared": [] }),
            "applied.version",
        ),
        (
            serde_json::json!({ "version": 1, "shared": [{ "name": "Bad Name", "version": 1 }] }),
            "applied.shared[0].name",
        ),
        (
            serde_json::json!({ "version": 1, "shared": [{ "name": "ok", "version": -2 }] }),
            "applied.shared[0].version",
        ),
    ] {
        let (status, _, message) = api_err(runner.report_instance("web", &report(Some(bad))).await);
        assert_eq!(status, 400, "{message}");
        assert!(message.contains(field), "{field}: {message}");
    }
    let (status, ..) = api_err(
        runner
            .report_instance(
                "web",
                &report(Some(serde_json::json!({ "version": 1, "extra": true }))),
            )
            .await,
    );
    assert!(status == 400 || status == 422, "{status}");
    assert_eq!(viewer.instances("web").await.unwrap()[0]["applied"], pair);

    // A runner from before reports the revision only: still taken, the parts unknown.
    runner.report_instance("web", &report(None)).await.unwrap();
    let listed = viewer.instances("web").await.unwrap();
    assert_eq!(listed[0]["applied_version"], 5);
    assert!(listed[0]["applied"].is_null(), "{:?}", listed[0]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_of_a_new_shared_revision_load_and_build_it_once_per_environment() {
    use std::sync::atomic::Ordering;
    const ENVS: usize = 3;
    const READS: usize = 40;
    let server = TestServer::start().await;
    let owner = server.owner().await;
    owner
        .create_shared("common", Some("K = \"old\"\n"))
        .await
        .unwrap();
    let mut runners = Vec::new();
    for i in 0..ENVS {
        let app = format!("app{i}");
        app_with_staging(&owner, &app, "own = 1\n", &["common"]).await;
        let runner = server.env_runner(&owner, &app, "staging").await;
        assert!(runner.secrets(&app).await.unwrap().toml.contains("old"));
        runners.push((app, runner));
    }
    let metrics = &server.state.metrics;
    let loads = || metrics.environment_loads.load(Ordering::Relaxed);
    let builds = || metrics.effective_builds.load(Ordering::Relaxed);
    let (loads_before, builds_before) = (loads(), builds());

    owner
        .save_shared("common", "K = \"new\"\n", 1, None)
        .await
        .unwrap();
    // Every runner of every including environment reads at once, as after the announcement.
    let reads = runners.iter().flat_map(|(app, runner)| {
        (0..READS).map(move |_| async move { runner.secrets(app).await.unwrap() })
    });
    let read = futures::future::join_all(reads).await;
    assert!(read.iter().all(|r| r.toml.contains("new")));
    assert_eq!(
        loads() - loads_before,
        ENVS as u64,
        "each environment's includes read from the database once; its id not at all"
    );
    assert_eq!(
        builds() - builds_before,
        ENVS as u64,
        "each environment's new merged body built once"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_apps_revision_counts_changes_of_the_documents_production_includes() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    owner
        .create_app("web", Some("own = 1\n"), None)
        .await
        .unwrap();
    owner
        .create_shared("common", Some("db = 1\n"))
        .await
        .unwrap();
    let listed =
        |apps: Vec<serde_json::Value>| apps.into_iter().find(|a| a["name"] == "web").unwrap();
    let before = owner.app("web").await.unwrap();
    assert_eq!(before["revision"], before["latest_version"]);
    owner
        .set_includes("web", "production", &["common"])
        .await
        .unwrap();
    owner
        .save_shared("common", "db = 2\n", 1, None)
        .await
        .unwrap();
    let after = owner.app("web").await.unwrap();
    assert_eq!(
        after["latest_version"], 1,
        "the app's own document did not change"
    );
    let revision = after["revision"].as_i64().unwrap();
    assert!(revision > 1, "{after}");
    assert_eq!(
        listed(owner.apps().await.unwrap())["revision"],
        revision,
        "the list says the same"
    );
    // What a runner applies is that revision.
    let read = owner.secrets("web").await.unwrap();
    assert_eq!(read.revision, Some(revision));
    server.stop().await;
}
