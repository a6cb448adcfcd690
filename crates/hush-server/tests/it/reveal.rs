//! The values the panel shows editors (api/reveal.rs): one version's values by key path, one
//! value alone, the value-level difference between two versions. Driven on a real server: setup
//! through hush's client, the new endpoints with reqwest and a bearer token. Attacked from
//! below: a viewer, an app token and nobody at all get no value; a reveal while the audit log
//! cannot be written is refused.

use crate::common;

use std::time::{Duration, Instant};

use common::{PASSWORD, TestServer};
use serde_json::{Value, json};

const V1: &str = r#"# the seed, with every kind of value
db_username = "Jane"
db_password = "pw-V1-secret"
port = 5432
ratio = 1.0
big = inf
debug = true
since = 1979-05-27T07:32:00Z
"with.dot" = "dotted-V1"

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]

[empty]
"#;

const V2: &str = r#"db_username = "Jane"
db_password = "pw-V2-rotated"
port = 5432
ratio = 1.0
big = inf
debug = true
since = 1979-05-27T07:32:00Z
api_key = "key-V2-new"

[my_cool_secrets]
things_i_like = ["Streamlit", "Python", "Rust"]

[empty]
"#;

/// Every value in V1 and V2 that is secret enough to look for in places it must not be.
const VALUES: &[&str] = &["pw-V1-secret", "pw-V2-rotated", "dotted-V1", "key-V2-new"];

struct Setup {
    server: TestServer,
    owner: hush_client::api::Client,
    editor_token: String,
    viewer_token: String,
    app_token: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", V1).await;
    owner.save_secrets("web", V2, 1, None).await.unwrap();
    server.member(&owner, "edith", "editor").await;
    server.member(&owner, "victor", "viewer").await;
    let token = |name: &'static str| {
        let anonymous = server.anonymous();
        async move {
            anonymous
                .login(name, PASSWORD, "tests")
                .await
                .unwrap()
                .token
        }
    };
    let editor_token = token("edith").await;
    let viewer_token = token("victor").await;
    let app_token = owner
        .create_app_token("web", "runner", None)
        .await
        .unwrap()
        .token;
    Setup {
        server,
        owner,
        editor_token,
        viewer_token,
        app_token,
    }
}

/// GET `path` under /api/v1 with `token`: the status and the body as text.
async fn get(server: &TestServer, token: Option<&str>, path: &str) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{}/api/v1{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_json(server: &TestServer, token: &str, path: &str) -> Value {
    let (status, body) = get(server, Some(token), path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The entry of `list` whose `path` is `path`.
fn by_path(list: &[Value], path: &str) -> Value {
    list.iter()
        .find(|v| v["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {list:?}"))
        .clone()
}

#[tokio::test]
async fn an_editor_gets_every_value_typed_by_key_path_in_document_order() {
    let s = setup().await;
    let body = s.editor_json("/apps/web/versions/1/values").await;
    assert_eq!(body["version"], 1);
    let values = body["values"].as_array().unwrap();
    let row = |path: &str| by_path(values, path);
    let paths: Vec<&str> = values.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "db_username",
            "db_password",
            "port",
            "ratio",
            "big",
            "debug",
            "since",
            "\"with.dot\"",
            "my_cool_secrets.things_i_like",
            "empty",
        ],
        "leaves in document order; tables are descended into, an empty one is its own leaf"
    );
    assert_eq!(
        row("db_password"),
        json!({ "path": "db_password", "type": "string", "value": "pw-V1-secret", "text": "pw-V1-secret" })
    );
    assert_eq!(row("port")["value"], 5432);
    assert_eq!(row("port")["type"], "integer");
    assert_eq!(row("ratio")["type"], "float");
    assert_eq!(row("ratio")["text"], "1.0", "floats as Python prints them");
    assert_eq!(row("big")["value"], "inf");
    assert_eq!(row("debug")["value"], true);
    assert_eq!(row("debug")["text"], "true");
    assert_eq!(row("since")["type"], "datetime");
    assert_eq!(row("since")["text"], "1979-05-27T07:32:00Z");
    assert_eq!(row("\"with.dot\"")["text"], "dotted-V1");
    let list = row("my_cool_secrets.things_i_like");
    assert_eq!(list["type"], "array");
    assert_eq!(list["value"], json!(["Streamlit", "Python"]));
    assert_eq!(list["text"], r#"["Streamlit","Python"]"#);
    assert_eq!(row("empty")["type"], "table");

    // The owner may look too, at the newest version.
    let newest = get_json(
        &s.server,
        &s.owner_token().await,
        "/apps/web/versions/2/values",
    )
    .await;
    assert!(newest.to_string().contains("key-V2-new"));
}

impl Setup {
    /// GET `path` as the editor: the status and the body.
    async fn as_editor(&self, path: &str) -> (u16, String) {
        get(&self.server, Some(&self.editor_token), path).await
    }

    /// GET `path` as the editor, which must answer 200: the body as JSON.
    async fn editor_json(&self, path: &str) -> Value {
        get_json(&self.server, &self.editor_token, path).await
    }

    async fn owner_token(&self) -> String {
        self.server
            .anonymous()
            .login("olivia", PASSWORD, "tests")
            .await
            .unwrap()
            .token
    }
}

#[tokio::test]
async fn one_value_alone_by_its_key_path() {
    let s = setup().await;
    let one = s
        .editor_json("/apps/web/versions/1/values?key=db_password")
        .await;
    assert_eq!(
        one["values"],
        json!([{ "path": "db_password", "type": "string", "value": "pw-V1-secret", "text": "pw-V1-secret" }])
    );
    assert!(
        !one.to_string().contains("dotted-V1"),
        "only the value asked for"
    );

    // A quoted segment, written either way TOML allows, answers with the canonical path.
    let dotted = s
        .editor_json("/apps/web/versions/1/values?key=%27with.dot%27")
        .await;
    assert_eq!(dotted["values"][0]["path"], "\"with.dot\"");
    assert_eq!(dotted["values"][0]["value"], "dotted-V1");

    // A table by its name: the whole table.
    let table = s
        .editor_json("/apps/web/versions/2/values?key=my_cool_secrets")
        .await;
    assert_eq!(
        table["values"][0]["value"],
        json!({ "things_i_like": ["Streamlit", "Python", "Rust"] })
    );

    // Missing keys and versions are named; a path that is not a TOML key is a 400.
    let (status, body) = s.as_editor("/apps/web/versions/1/values?key=api_key").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("version 1") && body.contains("api_key"),
        "{body}"
    );
    let (status, body) = s
        .as_editor("/apps/web/versions/1/values?key=db_password.deeper")
        .await;
    assert_eq!(status, 404, "a string has no keys inside: {body}");
    let (status, body) = s.as_editor("/apps/web/versions/1/values?key=a..b").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.as_editor("/apps/web/versions/9/values").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no version 9"), "{body}");
    let (status, _) = s.as_editor("/apps/nope/versions/1/values").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_value_level_difference_gives_old_and_new_values() {
    let s = setup().await;
    let body = s.editor_json("/apps/web/diff/values?from=1&to=2").await;
    assert_eq!(
        (body["from"].clone(), body["to"].clone()),
        (json!(1), json!(2))
    );
    let changes = body["changes"].as_array().unwrap();
    let change = |path: &str| by_path(changes, path);
    assert_eq!(changes.len(), 4, "{changes:?}");
    let password = change("db_password");
    assert_eq!(password["change"], "changed");
    assert_eq!(password["old"]["value"], "pw-V1-secret");
    assert_eq!(password["new"]["value"], "pw-V2-rotated");
    let added = change("api_key");
    assert_eq!(added["change"], "added");
    assert_eq!(added["old"], Value::Null);
    assert_eq!(added["new"]["text"], "key-V2-new");
    let removed = change("\"with.dot\"");
    assert_eq!(removed["change"], "removed");
    assert_eq!(removed["old"]["value"], "dotted-V1");
    assert_eq!(removed["new"], Value::Null);
    let list = change("my_cool_secrets.things_i_like");
    assert_eq!(list["change"], "changed");
    assert_eq!(list["new"]["value"], json!(["Streamlit", "Python", "Rust"]));

    // The same paths as the names-only diff, which viewers may read.
    let names = s.owner.diff("web", 1, Some(2)).await.unwrap();
    for kind in ["added", "changed", "removed"] {
        let from_names: Vec<&Value> = names["diff"][kind].as_array().unwrap().iter().collect();
        let from_values: Vec<&Value> = changes
            .iter()
            .filter(|c| c["change"] == kind)
            .map(|c| &c["path"])
            .collect();
        assert_eq!(from_names, from_values, "{kind}");
    }

    // From version 0 (nothing) every leaf is added; two equal versions differ in nothing.
    let first = s.editor_json("/apps/web/diff/values?from=0&to=1").await;
    assert!(
        first["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["change"] == "added")
    );
    let same = s.editor_json("/apps/web/diff/values?from=2&to=2").await;
    assert_eq!(same["changes"], json!([]));
    let (status, body) = s.as_editor("/apps/web/diff/values?from=1&to=7").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = s.as_editor("/apps/web/diff/values?from=1").await;
    assert_eq!(status, 400, "both ends are required");
}

#[tokio::test]
async fn viewers_app_tokens_and_strangers_get_no_value() {
    let s = setup().await;
    let paths = [
        "/apps/web/versions/1/values",
        "/apps/web/versions/2/values?key=db_password",
        "/apps/web/diff/values?from=1&to=2",
        "/apps/web/diff/values?from=0&to=2",
        // An app that does not exist: not found for a member (who may list the apps anyway),
        // the same 403 as for any other app for an app token (it cannot probe for names).
        "/apps/nope/versions/1/values",
    ];
    for path in paths {
        let viewer = if path.starts_with("/apps/nope") {
            404
        } else {
            403
        };
        for (who, token, expected) in [
            ("viewer", Some(s.viewer_token.as_str()), viewer),
            ("app token", Some(s.app_token.as_str()), 403),
            ("nobody", None, 401),
            ("a made-up token", Some("hush_pat_forged"), 401),
        ] {
            let (status, body) = get(&s.server, token, path).await;
            assert_eq!(status, expected, "{who} on {path}: {body}");
            for value in VALUES {
                assert!(!body.contains(value), "{who} on {path} got a value");
            }
        }
    }
    // A viewer whom the owner makes an editor may look from then on; one made viewer again not.
    let members = s.owner.members().await.unwrap();
    let victor = members.iter().find(|m| m["name"] == "victor").unwrap()["id"]
        .as_i64()
        .unwrap();
    s.owner.set_role(victor, "editor").await.unwrap();
    get_json(&s.server, &s.viewer_token, "/apps/web/versions/1/values").await;
    s.owner.set_role(victor, "viewer").await.unwrap();
    let (status, _) = get(
        &s.server,
        Some(&s.viewer_token),
        "/apps/web/versions/1/values",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn every_reveal_is_audited_with_key_names_and_never_values() {
    let s = setup().await;
    s.editor_json("/apps/web/versions/1/values").await;
    s.editor_json("/apps/web/versions/2/values?key=api_key")
        .await;
    s.editor_json("/apps/web/diff/values?from=1&to=2").await;
    // A refused look is not a reveal.
    get(
        &s.server,
        Some(&s.viewer_token),
        "/apps/web/versions/1/values",
    )
    .await;

    // Reads are queued, so wait for the three to be written.
    let deadline = Instant::now() + Duration::from_secs(5);
    let reveals = loop {
        let reveals = s
            .owner
            .audit("action=secrets.reveal&actor=edith")
            .await
            .unwrap();
        if reveals.len() >= 3 || Instant::now() > deadline {
            break reveals;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let details: Vec<Value> = reveals.iter().map(|e| e["detail"].clone()).collect();
    assert!(
        details.contains(&json!({ "version": 1, "keys": "all" })),
        "{details:?}"
    );
    assert!(
        details.contains(&json!({ "version": 2, "key": "api_key" })),
        "{details:?}"
    );
    assert!(
        details.contains(&json!({ "from": 1, "to": 2 })),
        "{details:?}"
    );
    assert!(reveals.iter().all(|e| e["app_name"] == "web"));
    let victor = s
        .owner
        .audit("action=secrets.reveal&actor=victor")
        .await
        .unwrap();
    assert!(victor.is_empty(), "{victor:?}");
    let export = s.owner.audit_export("").await.unwrap();
    for value in VALUES {
        assert!(!export.contains(value), "the audit log holds a value");
    }
}

#[tokio::test]
async fn no_reveal_while_the_audit_log_cannot_be_written() {
    let s = setup().await;
    let _broken = s.server.break_audit_log().await;
    // The first reveal is queued and its write fails; from then on both endpoints refuse.
    let paths = [
        "/apps/web/versions/1/values",
        "/apps/web/diff/values?from=1&to=2",
    ];
    for path in paths {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = s.as_editor(path).await;
            if status == 503 {
                assert!(body.contains("audit log"), "{body}");
                for value in VALUES {
                    assert!(!body.contains(value));
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{path} still reveals values while the audit log is down"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
