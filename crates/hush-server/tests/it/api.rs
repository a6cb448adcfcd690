//! The server end to end: a real server on port 0, driven through hush's own client.

use crate::common;

use std::time::Duration;

// This file's refusals are read with their body: status, code, message, body.
use common::api_refusal as api_err;
use common::{PASSWORD, SEED, TestServer, invite_token};
use futures::StreamExt;

#[tokio::test]
async fn setup_link_creates_the_owner_once_and_sign_in_failures_look_alike() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    assert_eq!(owner.me().await.unwrap()["user"]["role"], "owner");
    assert!(
        server.state.first_run_link().await.unwrap().is_none(),
        "no setup link once an owner exists"
    );

    let anon = server.anonymous();
    let wrong = api_err(anon.login("olivia", "not the password", "t").await);
    let unknown = api_err(anon.login("nobody", "not the password", "t").await);
    assert_eq!(
        (wrong.0, &wrong.1, &wrong.2),
        (
            401,
            &"bad_credentials".to_string(),
            &"wrong name or password".to_string()
        )
    );
    assert_eq!(
        (wrong.0, &wrong.1, &wrong.2),
        (unknown.0, &unknown.1, &unknown.2),
        "same answer for both"
    );

    // A used setup link cannot be used again.
    let (status, ..) = api_err(
        anon.accept_invite("hush_setup_made_up", "mallory", PASSWORD)
            .await,
    );
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn an_app_token_reads_only_its_own_apps_latest_secrets() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    owner
        .create_app("other", Some("x = 1\n"), None)
        .await
        .unwrap();
    let token = owner.create_app_token("web", "prod", None).await.unwrap();
    assert!(token.token.starts_with("hush_app_"));
    assert!(token.run_command.as_deref().unwrap().contains("hush run"));
    let app = server.anonymous().with_token(token.token.clone());

    let secrets = app.secrets("web").await.unwrap();
    assert_eq!(
        (secrets.version, secrets.toml.as_str()),
        (1, SEED),
        "the text comes back as typed, comments included"
    );

    let (status, ..) = api_err(app.secrets("other").await);
    assert_eq!(status, 403);
    let (status, ..) = api_err(app.secrets("no-such-app").await);
    assert_eq!(status, 403, "an app token cannot probe for app names");
    let (status, ..) = api_err(app.apps().await);
    assert_eq!(status, 403, "an app token cannot list apps");
    let (status, ..) = api_err(app.save_secrets("web", "a = 1", 1, None).await);
    assert_eq!(status, 403, "an app token cannot write");

    // Revocation takes effect at once, even with the token cached.
    owner.revoke_token(token.id).await.unwrap();
    let (status, code, ..) = api_err(app.secrets("web").await);
    assert_eq!((status, code.as_str()), (401, "token_expired"));
    let (status, ..) = api_err(
        server
            .anonymous()
            .with_token("hush_app_forged".into())
            .secrets("web")
            .await,
    );
    assert_eq!(status, 401);
}

#[tokio::test]
async fn roles_decide_who_sees_values() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let viewer = server.member(&owner, "victor", "viewer").await;
    let editor = server.member(&owner, "edith", "editor").await;

    let (status, ..) = api_err(viewer.secrets("web").await);
    assert_eq!(status, 403);
    let (status, ..) = api_err(viewer.version("web", 1).await);
    assert_eq!(status, 403);
    let keys = viewer.keys("web").await.unwrap();
    let text = keys.to_string();
    assert!(
        text.contains("db_password") && !text.contains("12345qwerty"),
        "names, never values: {text}"
    );
    assert_eq!(
        keys["env"]["exported"],
        serde_json::json!(["db_username", "db_password"])
    );
    let (status, ..) = api_err(viewer.save_secrets("web", "a = 1", 1, None).await);
    assert_eq!(status, 403);
    assert_eq!(
        owner.secrets("web").await.unwrap().version,
        1,
        "nothing changed"
    );

    assert_eq!(editor.secrets("web").await.unwrap().toml, SEED);
    let (status, ..) = api_err(editor.delete_app("web").await);
    assert_eq!(status, 403, "deleting apps is for owners");
    let (status, ..) = api_err(editor.invite("owner").await);
    assert_eq!(status, 403);

    let reveals = common::audit_eventually(&owner, "action=secrets.reveal", |e| {
        e["actor_name"] == "edith"
    })
    .await;
    assert!(
        reveals.iter().any(|e| e["actor_name"] == "edith"),
        "an editor's reveal is audited"
    );
}

#[tokio::test]
async fn a_stale_save_is_refused_with_what_changed_since() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let editor = server.member(&owner, "edith", "editor").await;
    owner
        .create_app("web", Some("a = 1\n"), None)
        .await
        .unwrap();

    editor
        .save_secrets("web", "a = 2\n", 1, Some("bump a"))
        .await
        .unwrap();
    let (status, code, message, body) =
        api_err(owner.save_secrets("web", "a = 3\nb = 1\n", 1, None).await);
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(message.contains("version 2 by edith"), "{message}");
    assert_eq!(body["latest_version"], 2);
    assert_eq!(body["since"][0]["message"], "bump a");
    assert_eq!(
        owner.secrets("web").await.unwrap().toml,
        "a = 2\n",
        "nothing was overwritten"
    );
}

#[tokio::test]
async fn concurrent_saves_from_one_base_never_overwrite_each_other() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 0\n").await;
    let saves = (0..8).map(|i| {
        let owner = owner.clone();
        async move {
            owner
                .save_secrets("web", &format!("a = {}\n", i + 1), 1, None)
                .await
        }
    });
    let results = futures::future::join_all(saves).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one save from the same base wins");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.status() == Some(409))
    );
    assert_eq!(owner.versions("web").await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;

    // Bad TOML: line and column, value not echoed.
    let (status, code, message, body) = api_err(
        owner
            .save_secrets("web", "a = 1\nb = \"unterminated-s3cr3t\n", 1, None)
            .await,
    );
    assert_eq!((status, code.as_str()), (422, "invalid_toml"));
    assert_eq!(
        (body["line"].as_u64(), body["column"].is_u64()),
        (Some(2), true),
        "{body}"
    );
    assert!(
        !message.contains("s3cr3t"),
        "the error must not echo the document: {message}"
    );

    // TOML 1.1-only syntax is refused and says so.
    let (status, _, message, _) =
        api_err(owner.save_secrets("web", "t = { a = 1, }\n", 1, None).await);
    assert_eq!(status, 422);
    assert!(message.contains("1.1"), "{message}");

    // A root key that cannot be an environment name.
    let (status, code, message, _) = api_err(
        owner
            .save_secrets("web", "\"a=b\" = \"x\"\n", 1, None)
            .await,
    );
    assert_eq!((status, code.as_str()), (422, "invalid_key"), "{message}");
    assert!(message.contains("a=b"));

    // Oversized document and oversized body.
    let big = format!("a = \"{}\"\n", "x".repeat(1024 * 1024));
    let (status, ..) = api_err(owner.save_secrets("web", &big, 1, None).await);
    assert_eq!(status, 413);
    let huge = format!("a = \"{}\"\n", "x".repeat(3 * 1024 * 1024));
    let (status, code, ..) = api_err(owner.save_secrets("web", &huge, 1, None).await);
    assert_eq!((status, code.as_str()), (413, "too_large"));

    // Bad app name; a missing app.
    let (status, code, ..) = api_err(owner.create_app("Bad Name!", None, None).await);
    assert_eq!((status, code.as_str()), (400, "bad_name"));
    let (status, ..) = api_err(owner.save_secrets("nope", "a = 1", 0, None).await);
    assert_eq!(status, 404);
    let (status, ..) = api_err(owner.create_app("web", Some("a = 1"), None).await);
    assert_eq!(status, 409, "a taken name");
    // An app with a bad first document is not created at all.
    let (status, ..) = api_err(owner.create_app("half", Some("a = "), None).await);
    assert_eq!(status, 422);
    assert!(owner.app("half").await.is_err());

    // Wrong JSON: a missing field and a wrong type, named without echoing the value.
    let pat = server
        .anonymous()
        .login("olivia", PASSWORD, "raw")
        .await
        .unwrap()
        .token;
    for (body, field) in [
        (r#"{"toml": "a = 1"}"#, "base_version"),
        (
            r#"{"toml": "a = 1", "base_version": "s3cr3t"}"#,
            "base_version",
        ),
        (r#"{"toml": 987654321, "base_version": 1}"#, "toml"),
    ] {
        let raw = reqwest::Client::new()
            .put(format!("{}/api/v1/apps/web/secrets", server.url))
            .bearer_auth(&pat)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = raw.status().as_u16();
        let text = raw.text().await.unwrap();
        assert_eq!(status, 422, "{text}");
        assert!(
            text.contains(field) && !text.contains("s3cr3t") && !text.contains("987654321"),
            "{text}"
        );
    }

    let versions = owner.versions("web").await.unwrap();
    assert_eq!(versions.len(), 1, "no bad input created a version");
    assert_eq!(owner.secrets("web").await.unwrap().toml, SEED);
}

#[tokio::test]
async fn history_diff_and_rollback() {
    let server = TestServer::start().await;
    let owner = server
        .owner_with_app("web", "a = 1\nb = 2\n[db]\nhost = \"h\"\n")
        .await;
    owner
        .save_secrets(
            "web",
            "a = 1\nc = 3\n[db]\nhost = \"h2\"\n",
            1,
            Some("second"),
        )
        .await
        .unwrap();

    let history = owner.versions("web").await.unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(history[0].author.as_deref(), Some("olivia"));
    assert_eq!(history[0].message.as_deref(), Some("second"));
    assert_eq!(history[0].changes["added"], serde_json::json!(["c"]));
    assert_eq!(history[0].changes["removed"], serde_json::json!(["b"]));
    assert_eq!(
        history[0].changes["changed"],
        serde_json::json!(["db.host"])
    );
    assert!(
        !history[0].changes.to_string().contains("h2"),
        "summaries hold names only"
    );

    let diff = owner.diff("web", 1, Some(2)).await.unwrap();
    assert_eq!(diff["diff"]["added"], serde_json::json!(["c"]));

    let rolled = owner.rollback("web", 1, 2).await.unwrap();
    assert_eq!((rolled.version, rolled.restored_from), (3, Some(1)));
    assert_eq!(
        owner.secrets("web").await.unwrap().toml,
        "a = 1\nb = 2\n[db]\nhost = \"h\"\n"
    );
    let (status, ..) = api_err(owner.rollback("web", 1, 2).await);
    assert_eq!(status, 409, "a rollback from a stale base is refused too");
    let (status, ..) = api_err(owner.rollback("web", 9, 3).await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn watchers_hear_of_every_save_at_once_and_resume() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let app = server.anonymous().with_token(token.token);

    let mut stream = Box::pin(app.watch("web", 0, Duration::from_secs(5)).await.unwrap());
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        1,
        "the current version first"
    );
    owner.save_secrets("web", "a = 2\n", 1, None).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .unwrap();
    assert_eq!(next.unwrap().unwrap(), 2);

    // Resuming with Last-Event-ID = 2 sends nothing old; a later save arrives.
    let mut resumed = Box::pin(app.watch("web", 2, Duration::from_secs(5)).await.unwrap());
    owner.save_secrets("web", "a = 3\n", 2, None).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(2), resumed.next())
        .await
        .unwrap();
    assert_eq!(next.unwrap().unwrap(), 3);

    // Heartbeats keep a quiet stream alive past the idle limit (heartbeat 0.5 s, idle 2 s).
    let mut quiet = Box::pin(app.watch("web", 3, Duration::from_secs(2)).await.unwrap());
    assert!(
        tokio::time::timeout(Duration::from_secs(3), quiet.next())
            .await
            .is_err(),
        "no event, no error: alive"
    );

    // Deleting the app ends its streams.
    assert_eq!(stream.next().await.unwrap().unwrap(), 3);
    owner.delete_app("web").await.unwrap();
    common::assert_stream_ends(&mut stream, "the stream ends").await;
}

#[tokio::test]
async fn instances_report_the_version_they_applied() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let app = server.anonymous().with_token(token.token);
    let report = hush_client::api::InstanceReport {
        instance_id: "i-1".into(),
        hostname: "box".into(),
        pid: Some(42),
        applied_version: 1,
        applied: None,
        status: None,
    };
    app.report_instance("web", &report).await.unwrap();
    // A version below 0 is no version; refused, and the report stays as it was.
    let negative = hush_client::api::InstanceReport {
        applied_version: -5,
        ..report.clone()
    };
    let (status, _, message, _) = api_err(app.report_instance("web", &negative).await);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("applied_version"), "{message}");
    let listed = owner.app("web").await.unwrap();
    assert_eq!(listed["instances"][0]["applied_version"], 1);
    assert_eq!(listed["instances"][0]["status"], "running");
    assert_eq!(listed["latest_version"], 1);
}

#[tokio::test]
async fn every_read_is_counted_in_the_audit_log() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let first = owner.create_app_token("web", "first", None).await.unwrap();
    let second = owner.create_app_token("web", "second", None).await.unwrap();
    let (a, b) = (
        server.anonymous().with_token(first.token.clone()),
        server.anonymous().with_token(second.token.clone()),
    );
    let reads = (0..60).map(|i| {
        let client = if i % 3 == 0 { b.clone() } else { a.clone() };
        async move { client.secrets("web").await.unwrap() }
    });
    futures::future::join_all(reads).await;

    // Rows may split across intervals; their counts add up to the reads, per token.
    let counted = |rows: &[serde_json::Value], token: &str| -> u64 {
        rows.iter()
            .filter(|r| r["actor_name"] == token)
            .map(|r| r["detail"]["count"].as_u64().unwrap_or(1))
            .sum()
    };
    let mut rows = Vec::new();
    for _ in 0..150 {
        rows = owner.audit("action=secrets.read&app=web").await.unwrap();
        if counted(&rows, "first") + counted(&rows, "second") >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counted(&rows, "first"), 40, "{rows:?}");
    assert_eq!(counted(&rows, "second"), 20, "{rows:?}");
    assert!(
        rows.len() <= 6,
        "folded, not one row per read: {}",
        rows.len()
    );
    assert!(rows.iter().all(|r| r["detail"]["version"] == 1));
}

#[tokio::test]
async fn the_audit_log_records_reads_and_changes_without_values() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let app = server.anonymous().with_token(token.token.clone());
    app.secrets("web").await.unwrap();
    let _ = server
        .anonymous()
        .login("olivia", "wrong password!", "t")
        .await;

    // Reads and failed sign-ins are queued, not awaited: wait until the writer has them.
    let queued = async |query: &str, there: fn(&[serde_json::Value]) -> bool| {
        let mut events = Vec::new();
        for _ in 0..250 {
            events = owner.audit(query).await.unwrap();
            if there(&events) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        events
    };
    let reads = queued("action=secrets.read&app=web", |e| !e.is_empty()).await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["actor_kind"], "token");
    assert_eq!(reads[0]["ip"], "127.0.0.1");
    let failed = queued("action=auth.login", |e| {
        e.iter().any(|e| e["outcome"] == "failed")
    })
    .await;
    assert!(
        failed.iter().any(|e| e["outcome"] == "failed"),
        "{failed:?}"
    );
    let export = owner.audit_export("").await.unwrap();
    for action in [
        "app.create",
        "secrets.update",
        "token.create",
        "secrets.read",
        "auth.login",
        "setup.owner_created",
    ] {
        assert!(
            export.contains(&format!("\"action\":\"{action}\"")),
            "{action} missing from the export"
        );
    }
    assert!(
        export
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "JSON lines"
    );
    for value in ["12345qwerty", "Jane", &token.token, PASSWORD] {
        assert!(
            !export.contains(value),
            "the audit log must not hold {value:?}"
        );
    }
    let refused = api_err(
        server
            .member(&owner, "victor", "viewer")
            .await
            .audit("")
            .await,
    );
    assert_eq!(refused.0, 403, "{refused:?}");
}

#[tokio::test]
async fn members_roles_and_the_last_owner() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    let editor = server.member(&owner, "edith", "editor").await;
    let members = owner.members().await.unwrap();
    let olivia = members.iter().find(|m| m["name"] == "olivia").unwrap()["id"]
        .as_i64()
        .unwrap();
    let edith = members.iter().find(|m| m["name"] == "edith").unwrap()["id"]
        .as_i64()
        .unwrap();

    let (status, ..) = api_err(owner.set_role(olivia, "viewer").await);
    assert_eq!(status, 409, "the last owner cannot step down");
    owner.set_role(edith, "viewer").await.unwrap();
    let (status, ..) = api_err(editor.create_app("x", None, None).await);
    assert_eq!(status, 403, "the new role applies at once");
    owner.remove_member(edith).await.unwrap();
    let (status, ..) = api_err(editor.me().await);
    assert_eq!(status, 401, "a removed member's tokens stop working");

    // An invitation link works once.
    let token = invite_token(&owner, "viewer").await;
    server
        .anonymous()
        .accept_invite(&token, "vera", PASSWORD)
        .await
        .unwrap();
    let (status, ..) = api_err(editor.me().await);
    assert_eq!(status, 401, "still refused once the next member has joined");
    let (status, ..) = api_err(
        server
            .anonymous()
            .accept_invite(&token, "vera2", PASSWORD)
            .await,
    );
    assert_eq!(status, 404);
    let invite = owner.invite("viewer").await.unwrap();
    let token = invite["url"].as_str().unwrap().split_once('#').unwrap().1;
    let (status, ..) = api_err(server.anonymous().accept_invite(token, "x", "short").await);
    assert_eq!(status, 400, "a short password is refused");
}

#[tokio::test]
async fn panel_sessions_use_locked_down_cookies_and_csrf() {
    let server = TestServer::start().await;
    let _owner = server.owner().await;
    let http = reqwest::Client::new();
    let login = common::panel_login(&server, "olivia", PASSWORD).await;
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let body: serde_json::Value = login.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    // A state-changing request with the cookie but without the CSRF token is refused.
    let create = |with_csrf: bool| {
        let mut req = http
            .post(format!("{}/api/v1/apps", server.url))
            .header("cookie", &session)
            .json(&serde_json::json!({ "name": "web" }));
        if with_csrf {
            req = req.header("x-csrf-token", &csrf);
        }
        req.send()
    };
    let refused = create(false).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "csrf");
    assert_eq!(create(true).await.unwrap().status(), 201);

    // A classic form post (what a cross-site attacker can send) is refused too.
    let form = http
        .post(format!("{}/api/v1/apps", server.url))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=evil")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);

    // Signing out everywhere ends the session.
    let out = common::panel_post(&server.url, "/auth/logout-all", &session, &csrf).await;
    assert_eq!(out.status(), 204);
    let me = http
        .get(format!("{}/api/v1/me", server.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}

#[tokio::test]
async fn validation_previews_the_environment_and_warns() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let out = owner
        .validate(
            "a = 1\nHOME = \"/x\"\nPATH = \"/x\"\nflag = true\n[db]\nhost = \"h\"\n",
            Some("web"),
        )
        .await
        .unwrap();
    assert_eq!(out["valid"], true);
    assert_eq!(out["env"]["exported"], serde_json::json!(["a", "HOME"]));
    let skipped = out["env"]["skipped"].to_string();
    assert!(
        skipped.contains("flag") && skipped.contains("db"),
        "{skipped}"
    );
    assert!(out["warnings"].to_string().contains("HOME becomes"));
    assert!(
        skipped.contains("PATH") && skipped.contains("which code programs load"),
        "{skipped}"
    );
    assert_eq!(
        out["diff"]["added"],
        serde_json::json!(["HOME", "PATH", "flag", "db.host"]),
        "in document order"
    );
    let bad = owner.validate("a = [1,\n", None).await.unwrap();
    assert_eq!(bad["valid"], false);
    assert!(bad["error"]["line"].is_u64());
}

#[tokio::test]
async fn health_ready_and_openapi() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for path in ["/api/v1/health", "/api/v1/ready", "/api/v1/openapi.json"] {
        let r = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        for (name, value) in [
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(r.headers()[name], value, "{name} on {path}");
        }
    }
    let missing = http
        .get(format!("{}/api/v1/nope", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

/// The OpenAPI document and the router name the same endpoints.
#[tokio::test]
async fn idle_sessions_end_and_active_ones_do_not() {
    // Wide margins both ways: a loaded machine can stretch a 0.5 s pause to well over a second.
    let server = TestServer::start_with(|c| c.session_idle = Duration::from_millis(2500)).await;
    let _owner = server.owner().await;
    let http = reqwest::Client::new();
    let login = common::panel_login(&server, "olivia", PASSWORD).await;
    let session = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me = || {
        http.get(format!("{}/api/v1/me", server.url))
            .header("cookie", &session)
            .send()
    };
    // Active: a request every 0.5 s keeps the session past the idle limit.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(me().await.unwrap().status(), 200);
    }
    // Idle for longer than the limit: the session is over.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let expired = me().await.unwrap();
    assert_eq!(expired.status(), 401);
    let body: serde_json::Value = expired.json().await.unwrap();
    assert_eq!(body["error"], "session_expired");
}

#[tokio::test]
async fn revoking_a_token_or_removing_a_member_ends_their_watch_streams() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "a = 1\n").await;
    let token = owner.create_app_token("web", "runner", None).await.unwrap();
    let app = server.anonymous().with_token(token.token.clone());
    let mut by_token = Box::pin(app.watch("web", 1, Duration::from_secs(5)).await.unwrap());
    let viewer = server.member(&owner, "victor", "viewer").await;
    let mut by_member = common::watch_stream(&viewer, "web", 1, Duration::from_secs(5)).await;

    owner.revoke_token(token.id).await.unwrap();
    common::assert_stream_ends(&mut by_token, "the revoked token's stream ends").await;

    let victor = common::member_id(&owner, "victor").await;
    owner.remove_member(victor).await.unwrap();
    common::assert_stream_ends(&mut by_member, "the removed member's stream ends").await;
}

/// A panel session's watch stream ends with the session: when that session signs out (another
/// session's stream goes on), and when it would end idle, after which the browser's reconnect is
/// refused.
#[tokio::test]
async fn a_panel_sessions_watch_stream_ends_with_the_session() {
    let server = TestServer::start_with(|c| c.session_idle = Duration::from_secs(8)).await;
    server.owner_with_app("web", "a = 1\n").await;
    let (_, leaving, csrf) = common::panel_session(&server, "olivia", PASSWORD).await;
    let signed_in_at = std::time::Instant::now();
    let (_, staying, _) = common::panel_session(&server, "olivia", PASSWORD).await;
    let opened = common::panel_watch(&server.url, "web", &leaving).await;
    assert_eq!(opened.status(), 200);
    let mut leaving_stream = opened.bytes_stream();
    let opened = common::panel_watch(&server.url, "web", &staying).await;
    assert_eq!(opened.status(), 200);
    let mut staying_stream = opened.bytes_stream();
    // Reads a stream until it ends; how long that took, or `None` when it did not within `secs`.
    async fn ends_within<S, T>(stream: &mut S, secs: u64) -> Option<Duration>
    where
        S: futures::Stream<Item = T> + Unpin,
    {
        let start = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(secs), async {
            while stream.next().await.is_some() {}
        })
        .await
        .ok()
        .map(|()| start.elapsed())
    }

    let out = common::panel_post(&server.url, "/auth/logout", &leaving, &csrf).await;
    assert_eq!(out.status(), 204);
    assert!(
        ends_within(&mut leaving_stream, 2).await.is_some(),
        "the signed-out session's stream ends"
    );
    assert!(
        ends_within(&mut staying_stream, 1).await.is_none(),
        "the other session's stream goes on"
    );
    // Left idle, the other session ends at its idle timeout, and so does its stream.
    assert!(
        ends_within(&mut staying_stream, 10).await.is_some(),
        "an idle session's stream ends"
    );
    assert!(
        signed_in_at.elapsed() >= Duration::from_secs(3),
        "not before"
    );
    let again = common::panel_watch(&server.url, "web", &staying).await;
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn viewers_cannot_compare_guesses_with_saved_values() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", "pin = \"1234\"\n").await;
    let viewer = server.member(&owner, "victor", "viewer").await;
    let (status, ..) = api_err(viewer.validate("pin = \"1234\"\n", Some("web")).await);
    assert_eq!(
        status, 403,
        "a diff against saved values would confirm a guess"
    );
    assert_eq!(
        viewer.validate("pin = \"1234\"\n", None).await.unwrap()["valid"],
        true
    );
}

#[tokio::test]
async fn saving_the_newest_text_again_creates_no_version() {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    let again = owner
        .save_secrets("web", SEED, 1, Some("same"))
        .await
        .unwrap();
    assert!(again.unchanged, "identical text is no change");
    assert_eq!(again.version, 1);
    let changed = owner
        .save_secrets("web", "db_username = \"Ann\"\n", 1, None)
        .await
        .unwrap();
    assert!(!changed.unchanged);
    assert_eq!(changed.version, 2);
    // A rollback to text equal to the newest is no change either.
    let back = owner.rollback("web", 2, 2).await.unwrap();
    assert!(back.unchanged);
    assert_eq!(owner.versions("web").await.unwrap().len(), 2);
    let updates = owner.audit("action=secrets.update").await.unwrap();
    assert_eq!(
        updates.len(),
        2,
        "versions 1 and 2 only: no-change saves are not logged"
    );
}

#[tokio::test]
async fn the_audit_log_names_app_tokens_and_sign_in_without_owner_says_so() {
    let server = TestServer::start().await;
    let (status, code, message, _) =
        api_err(server.anonymous().login("olivia", PASSWORD, "t").await);
    assert_eq!((status, code.as_str()), (401, "no_owner"), "{message}");
    assert!(message.contains("hush admin create-owner"), "{message}");

    let owner = server.owner_with_app("web", SEED).await;
    let token = owner
        .create_app_token("web", "prod-eu", None)
        .await
        .unwrap();
    let app = server.anonymous().with_token(token.token.clone());
    app.secrets("web").await.unwrap();
    // Reads are queued; wait until the writer has written them.
    let mut reads = Vec::new();
    for _ in 0..100 {
        reads = owner.audit("action=secrets.read").await.unwrap();
        if !reads.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reads[0]["actor_kind"], "token");
    assert_eq!(reads[0]["actor_name"], "prod-eu");
}
