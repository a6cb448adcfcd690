//! Per-app roles, attacked: a member with no access to an app gets, on every app route the
//! OpenAPI document lists, exactly the answer a name that does not exist gets; a viewer on an
//! app cannot change it; an editor on one app only; the role set to `none` while a watch
//! stream is open ends the stream; listings, tokens and the live check hide the app.

use crate::common;

use std::time::Duration;

use common::{SEED, TestServer, member_id};
use futures::StreamExt;
use serde_json::{Value, json};

fn status<T>(r: &Result<T, hush_client::api::ClientError>) -> Option<u16> {
    r.as_ref().err().and_then(|e| e.status())
}

/// A raw request with a bearer token: status and JSON body.
async fn raw(server: &TestServer, token: &str, method: &str, path: &str) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1{}", server.url, path);
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = http.request(method.clone(), url).bearer_auth(token);
    if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
        req = req.json(&json!({}));
    }
    let response = tokio::time::timeout(Duration::from_secs(10), req.send())
        .await
        .expect("an answer")
        .unwrap();
    let status = response.status().as_u16();
    let text = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("a whole body")
        .unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_looks_exactly_like_no_app_on_every_app_route() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("billing", SEED).await;
    owner.create_app("web", Some(SEED), None).await.unwrap();
    let (editor, edith) = server.member_with_id(&owner, "edith", "editor").await;
    owner.set_app_role("billing", edith, "none").await.unwrap();
    let token = common::personal_token(&editor, "probe").await;
    let owner_token = common::personal_token(&owner, "probe").await;

    let doc = hush_server::api::openapi();
    let doc = serde_json::to_value(&doc).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{app}") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = |app: &str| {
                path.replace("{app}", app)
                    .replace("{member}", &edith.to_string())
                    .replace("{version}", "1")
                    .replace("{id}", "1")
            };
            let hidden = raw(&server, &token, method, &concrete("billing")).await;
            let missing = raw(&server, &token, method, &concrete("ghost")).await;
            assert_eq!(hidden.0, 404, "{method} {path}: {hidden:?}");
            assert_eq!(hidden.1["error"], missing.1["error"], "{method} {path}");
            assert_eq!(
                hidden.1["message"]
                    .as_str()
                    .unwrap()
                    .replace("billing", "ghost"),
                missing.1["message"].as_str().unwrap(),
                "{method} {path}: the answer tells the hidden app from a missing one"
            );
            assert_eq!(
                hidden.1.as_object().unwrap().len(),
                missing.1.as_object().unwrap().len(),
                "{method} {path}"
            );
            // Positive control: the owner reaches the same route (whatever it answers, it is
            // not "no such app").
            if method == "get" && !path.ends_with("/watch") {
                let seen = raw(&server, &owner_token, method, &concrete("billing")).await;
                assert_ne!(
                    seen.1["message"],
                    missing.1["message"]
                        .as_str()
                        .unwrap()
                        .replace("ghost", "billing"),
                    "{method} {path}: {seen:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} app routes were checked");

    // The same member still reaches the other app, and the hidden one is absent from lists.
    assert!(editor.secrets("web").await.is_ok());
    assert_eq!(common::names(&editor.apps().await.unwrap()), ["web"]);
    assert_eq!(
        status(&editor.validate("a = 1\n", Some("billing")).await),
        Some(404)
    );
    assert_eq!(status(&editor.tokens(Some("billing")).await), Some(404));
    assert_eq!(
        status(&editor.create_app_token("billing", "ci", None).await),
        Some(404)
    );
    // An app token of the hidden app cannot be revoked (or found) by the member either.
    let billing_token = owner
        .create_app_token("billing", "prod", None)
        .await
        .unwrap();
    let refused = editor.revoke_token(billing_token.id).await;
    assert_eq!(status(&refused), Some(404));
    assert!(
        owner.tokens(Some("billing")).await.unwrap()[0]["revoked_at"].is_null(),
        "nothing was revoked"
    );
    // Owners have every app; the list of roles says who is restricted where.
    let roles = owner.app_roles("billing").await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["member"], "edith");
    assert_eq!(roles[0]["role"], "none");
    assert_eq!(
        editor.member_app_roles(edith).await.unwrap()[0]["app"],
        "billing",
        "a member may read their own per-app roles"
    );
}

/// A token names its environment, not its app: revoking one outside production must still go by
/// the member's role on the environment's app (it once fell back to the workspace role there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_of_any_environment_goes_by_the_role_on_its_app() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("billing", SEED).await;
    owner.create_env("billing", "staging").await.unwrap();
    let staging = owner.with_env(Some("staging"));
    let (editor, edith) = server.member_with_id(&owner, "edith", "editor").await;
    let (viewer, victor) = server.member_with_id(&owner, "victor", "viewer").await;
    let still_works = async |id: i64| {
        let tokens = owner.with_env(None).tokens(Some("billing")).await.unwrap();
        tokens.iter().any(|t| t["id"] == id)
    };

    // Hidden from a workspace editor: the staging token is no token to them, like production's.
    owner.set_app_role("billing", edith, "none").await.unwrap();
    for token in [
        staging
            .create_app_token("billing", "stage", None)
            .await
            .unwrap(),
        owner
            .create_app_token("billing", "prod", None)
            .await
            .unwrap(),
    ] {
        let refused = editor.revoke_token(token.id).await;
        assert_eq!(status(&refused), Some(404), "{}", token.id);
        assert!(still_works(token.id).await, "nothing was revoked");
    }
    // Viewer on the app: seen, not revocable.
    owner
        .set_app_role("billing", edith, "viewer")
        .await
        .unwrap();
    let token = staging
        .create_app_token("billing", "stage-2", None)
        .await
        .unwrap();
    assert_eq!(status(&editor.revoke_token(token.id).await), Some(403));
    assert!(still_works(token.id).await);

    // A workspace viewer who edits this one app revokes its staging token, and the audit entry
    // names the app and the environment.
    owner
        .set_app_role("billing", victor, "editor")
        .await
        .unwrap();
    viewer.revoke_token(token.id).await.unwrap();
    assert!(!still_works(token.id).await);
    let audit = owner
        .audit("action=token.revoke&app=billing")
        .await
        .unwrap();
    let entry = audit.first().expect("the revocation is audited on the app");
    assert_eq!(entry["detail"]["env"], "staging", "{entry}");

    // Another member's personal token is no token to a non-owner either.
    let personal = owner.create_personal_token("mine", None).await.unwrap();
    assert_eq!(status(&viewer.revoke_token(personal.id).await), Some(404));
    assert_eq!(status(&editor.revoke_token(personal.id).await), Some(404));
    assert!(
        owner
            .tokens(None)
            .await
            .unwrap()
            .iter()
            .any(|t| t["id"] == personal.id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_everywhere_editor_on_web() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    owner.create_app("api", Some(SEED), None).await.unwrap();
    let (viewer, victor) = server.member_with_id(&owner, "victor", "viewer").await;
    let (editor, edith) = server.member_with_id(&owner, "edith", "editor").await;

    // A viewer made editor on web saves web, and still cannot save api.
    assert_eq!(
        status(&viewer.save_secrets("web", "a = 1\n", 1, None).await),
        Some(403)
    );
    owner.set_app_role("web", victor, "editor").await.unwrap();
    viewer
        .save_secrets("web", "a = 1\n", 1, None)
        .await
        .unwrap();
    let refused = viewer.save_secrets("api", "a = 1\n", 1, None).await;
    assert_eq!(status(&refused), Some(403));
    assert_eq!(owner.secrets("api").await.unwrap().version, 1);
    viewer.create_app_token("web", "ci", None).await.unwrap();
    assert_eq!(
        status(&viewer.create_app_token("api", "ci", None).await),
        Some(403)
    );
    // The app list says what each app allows them.
    let apps = viewer.apps().await.unwrap();
    let role_of = |name: &str| {
        apps.iter().find(|a| a["name"] == name).unwrap()["role"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(role_of("web"), "editor");
    assert_eq!(role_of("api"), "viewer");

    // An editor made viewer on web: reading works, saving and revealing are refused.
    owner.set_app_role("web", edith, "viewer").await.unwrap();
    assert!(editor.keys("web").await.is_ok());
    let refused = editor.save_secrets("web", "b = 2\n", 2, None).await;
    assert_eq!(status(&refused), Some(403));
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("editor role on \"web\""), "{message}");
    assert_eq!(
        owner.secrets("web").await.unwrap().version,
        2,
        "nothing saved"
    );
    editor
        .save_secrets("api", "b = 2\n", 1, None)
        .await
        .unwrap();

    // Removing the per-app role gives the workspace role back.
    owner.remove_app_role("web", edith).await.unwrap();
    editor
        .save_secrets("web", "b = 2\n", 2, None)
        .await
        .unwrap();
    assert_eq!(
        status(&owner.remove_app_role("web", edith).await),
        Some(404),
        "nothing left to remove"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_set_per_app_roles_and_bad_input_changes_nothing() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let (editor, edith) = server.member_with_id(&owner, "edith", "editor").await;
    let olivia = member_id(&owner, "olivia").await;

    assert_eq!(
        status(&editor.set_app_role("web", edith, "editor").await),
        Some(403)
    );
    // Owners have every app: a per-app role for one is refused.
    let refused = owner.set_app_role("web", olivia, "none").await;
    assert_eq!(status(&refused), Some(409));
    assert!(refused.unwrap_err().to_string().contains("owner"));
    assert_eq!(
        status(&owner.set_app_role("web", 9_999, "viewer").await),
        Some(404)
    );
    assert_eq!(
        status(&owner.set_app_role("ghost", edith, "viewer").await),
        Some(404)
    );
    let bad = owner.set_app_role("web", edith, "owner").await;
    assert_eq!(status(&bad), Some(422), "{bad:?}");
    assert!(owner.app_roles("web").await.unwrap().is_empty());
    assert_eq!(
        status(&editor.member_app_roles(olivia).await),
        Some(403),
        "another member's roles are for owners"
    );
    // Each change is audited with the app and the member.
    owner.set_app_role("web", edith, "viewer").await.unwrap();
    let events = owner.audit("action=member.app_role").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["app_name"], "web");
    assert_eq!(events[0]["detail"]["member"], "edith");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_set_to_none_ends_an_open_watch_stream() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    owner.create_app("api", Some(SEED), None).await.unwrap();
    let (viewer, victor) = server.member_with_id(&owner, "victor", "viewer").await;
    let mut web = common::watch_stream(&viewer, "web", 1, Duration::from_secs(5)).await;
    let mut api = common::watch_stream(&viewer, "api", 1, Duration::from_secs(5)).await;
    // Another app's role changes nothing here; viewer on web keeps the stream too.
    owner.set_app_role("web", victor, "viewer").await.unwrap();
    owner.save_secrets("web", "a = 2\n", 1, None).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(3), web.next()).await;
    assert!(matches!(next, Ok(Some(Ok(2)))), "{next:?}");

    owner.set_app_role("web", victor, "none").await.unwrap();
    owner.save_secrets("web", "a = 3\n", 2, None).await.unwrap();
    let why = "a member without access was told of a new version";
    common::assert_stream_ends_without(&mut web, 3, why).await;
    // The stream of the other app goes on.
    owner.save_secrets("api", "a = 2\n", 1, None).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(3), api.next()).await;
    assert!(matches!(next, Ok(Some(Ok(2)))), "{next:?}");
    // And reconnecting is refused as for a missing app.
    assert_eq!(
        status(&viewer.watch("web", 0, Duration::from_secs(5)).await),
        Some(404)
    );
}
