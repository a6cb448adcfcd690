//! Roles per shared document, attacked: an editor made viewer of one document can no longer
//! save, roll back or read the values of it (403 naming the document and their role) while
//! another document stays theirs; a viewer made editor saves; only owners set roles; unknown
//! members and documents are 404; `none` is refused; every change is audited; removing a
//! member removes their document roles.

use crate::common;

use common::{SEED, TestServer, member_id};
use hush_client::api::{Client, ClientError};

const COMMON: &str = "db_host = \"db.internal\"\ndb_password = \"shared-pass\"\n";
const KEYS: &str = "API_KEY = \"k1\"\n";

/// The status and message of a refusal.
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    let e = r.expect_err("refused");
    (e.status().unwrap_or(0), e.to_string())
}

/// A server whose owner has made the app `web` and the documents `common-db` and `keys`
/// (version 1 each), with the editor edith and the viewer victor (clients and member ids).
struct Workspace {
    server: TestServer,
    owner: Client,
    editor: Client,
    viewer: Client,
    edith: i64,
    victor: i64,
}

async fn workspace() -> Workspace {
    let server = TestServer::start().await;
    let owner = server.owner_with_app("web", SEED).await;
    owner
        .create_shared("common-db", Some(COMMON))
        .await
        .unwrap();
    owner.create_shared("keys", Some(KEYS)).await.unwrap();
    let (editor, edith) = server.member_with_id(&owner, "edith", "editor").await;
    let (viewer, victor) = server.member_with_id(&owner, "victor", "viewer").await;
    Workspace {
        server,
        owner,
        editor,
        viewer,
        edith,
        victor,
    }
}

impl Workspace {
    /// The owner sets `member`'s role on the document `doc`, which must work.
    async fn set_doc_role(&self, doc: &str, member: i64, role: &str) {
        self.owner.set_shared_role(doc, member, role).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_made_viewer_of_one_document_keeps_the_other() {
    let w = workspace().await;
    // Positive control: before the role, edith reads the text.
    assert_eq!(
        w.editor.shared_doc("common-db").await.unwrap()["toml"],
        COMMON
    );
    w.set_doc_role("common-db", w.edith, "viewer").await;

    let (status, message) = refused(
        w.editor
            .save_shared("common-db", "db_host = \"x\"\n", 1, None)
            .await,
    );
    assert_eq!(status, 403);
    assert!(
        message.contains("shared document \"common-db\"") && message.contains("you are viewer"),
        "{message}"
    );
    let (status, _) = refused(w.editor.shared_rollback("common-db", 1, 1).await);
    assert_eq!(status, 403);
    // Key names and masked values still; the text and every value, no longer.
    let shown = w.editor.shared_doc("common-db").await.unwrap();
    assert!(shown["toml"].is_null(), "{shown}");
    assert_eq!(shown["role"], "viewer");
    assert!(!shown.to_string().contains("shared-pass"));
    let old = w.editor.shared_version("common-db", 1).await.unwrap();
    assert!(old["toml"].is_null() && !old.to_string().contains("shared-pass"));
    assert!(w.editor.shared_versions("common-db").await.unwrap().len() == 1);
    assert!(w.editor.shared_diff("common-db", 1, None).await.is_ok());
    assert_eq!(
        w.owner.shared_versions("common-db").await.unwrap().len(),
        1,
        "nothing saved"
    );
    // The list says each document's role for the caller.
    let listed = w.editor.shared_docs().await.unwrap();
    let role_of = |name: &str| listed.iter().find(|d| d["name"] == name).unwrap()["role"].clone();
    assert_eq!(role_of("common-db"), "viewer");
    assert_eq!(role_of("keys"), "editor");

    // Another document is untouched by it.
    w.editor
        .save_shared("keys", "API_KEY = \"k2\"\n", 1, None)
        .await
        .unwrap();
    assert_eq!(
        w.editor.shared_doc("keys").await.unwrap()["toml"],
        "API_KEY = \"k2\"\n"
    );

    // Removing the role gives the workspace role back.
    w.owner
        .remove_shared_role("common-db", w.edith)
        .await
        .unwrap();
    w.editor
        .save_shared("common-db", "db_host = \"x\"\n", 1, None)
        .await
        .unwrap();
    let (status, message) = refused(w.owner.remove_shared_role("common-db", w.edith).await);
    assert_eq!(status, 404, "nothing left to remove: {message}");
    assert!(
        message.contains("shared document \"common-db\""),
        "{message}"
    );
    w.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_made_editor_of_a_document_saves_and_rolls_it_back() {
    let w = workspace().await;
    let (status, _) = refused(
        w.viewer
            .save_shared("common-db", "db_host = \"v\"\n", 1, None)
            .await,
    );
    assert_eq!(status, 403);
    w.set_doc_role("common-db", w.victor, "editor").await;
    assert_eq!(
        w.viewer.shared_doc("common-db").await.unwrap()["toml"],
        COMMON
    );
    let saved = w
        .viewer
        .save_shared("common-db", "db_host = \"v\"\n", 1, None)
        .await
        .unwrap();
    assert_eq!(saved.version, 2);
    w.viewer.shared_rollback("common-db", 1, 2).await.unwrap();
    assert_eq!(
        w.owner.shared_doc("common-db").await.unwrap()["toml"],
        COMMON
    );
    // Still a viewer of the other document and of apps; never an owner of the document.
    let (status, _) = refused(
        w.viewer
            .save_shared("keys", "API_KEY = \"v\"\n", 1, None)
            .await,
    );
    assert_eq!(status, 403);
    assert_eq!(refused(w.viewer.delete_shared("common-db").await).0, 403);
    assert_eq!(
        refused(w.viewer.save_secrets("web", "a = 1\n", 1, None).await).0,
        403
    );
    w.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_set_document_roles_and_bad_input_changes_nothing() {
    let w = workspace().await;
    let olivia = member_id(&w.owner, "olivia").await;

    // Not an owner: 403, whatever the role or document.
    assert_eq!(
        [
            refused(
                w.editor
                    .set_shared_role("common-db", w.edith, "editor")
                    .await
            )
            .0,
            refused(
                w.editor
                    .set_shared_role("common-db", w.victor, "editor")
                    .await
            )
            .0,
            refused(w.viewer.shared_roles("common-db").await).0,
            refused(w.editor.remove_shared_role("common-db", w.victor).await).0,
        ],
        [403; 4]
    );
    // Unknown member or document: 404 naming it.
    let (status, message) = refused(w.owner.set_shared_role("common-db", 9_999, "viewer").await);
    assert_eq!(status, 404);
    assert!(message.contains("9999"), "{message}");
    let (status, message) = refused(w.owner.set_shared_role("ghost", w.edith, "viewer").await);
    assert_eq!(status, 404);
    assert!(
        message.contains("no shared document named \"ghost\""),
        "{message}"
    );
    assert_eq!(refused(w.owner.shared_roles("ghost").await).0, 404);
    // An app is not a shared document, nor a document an app.
    assert_eq!(
        [
            refused(w.owner.set_shared_role("web", w.edith, "viewer").await).0,
            refused(w.owner.set_app_role("common-db", w.edith, "none").await).0,
        ],
        [404; 2]
    );
    // `none` is refused: the document's keys reach every app that includes it.
    let (status, message) = refused(w.owner.set_shared_role("common-db", w.edith, "none").await);
    assert_eq!(status, 400);
    assert!(
        message.contains("not none") && message.contains("every app that includes it"),
        "{message}"
    );
    // Owners have every document; a role that is no role is refused by the body's schema.
    assert_eq!(
        [
            refused(w.owner.set_shared_role("common-db", olivia, "viewer").await).0,
            refused(w.owner.set_shared_role("common-db", w.edith, "owner").await).0,
        ],
        [409, 422]
    );
    assert!(w.owner.shared_roles("common-db").await.unwrap().is_empty());
    assert!(
        w.owner
            .audit("action=member.shared_role")
            .await
            .unwrap()
            .is_empty(),
        "refusals change nothing"
    );
    assert_eq!(
        w.editor.shared_doc("common-db").await.unwrap()["toml"],
        COMMON,
        "edith is still an editor of it"
    );

    // Each change is audited with the document and the member.
    w.set_doc_role("common-db", w.edith, "viewer").await;
    w.set_doc_role("common-db", w.victor, "editor").await;
    let roles = w.owner.shared_roles("common-db").await.unwrap();
    let pairs: Vec<(String, String)> = roles
        .iter()
        .map(|r| (r["member"].to_string(), r["role"].to_string()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("\"edith\"".into(), "\"viewer\"".into()),
            ("\"victor\"".into(), "\"editor\"".into())
        ]
    );
    w.owner
        .remove_shared_role("common-db", w.victor)
        .await
        .unwrap();
    let set = w.owner.audit("action=member.shared_role").await.unwrap();
    let mut members: Vec<&str> = set
        .iter()
        .filter(|e| e["action"] == "member.shared_role")
        .map(|e| e["detail"]["member"].as_str().unwrap())
        .collect();
    members.sort();
    assert_eq!(members, ["edith", "victor"]);
    assert!(set.iter().all(|e| e["app_name"] == "common-db"), "{set:?}");
    let removed = w
        .owner
        .audit("action=member.shared_role_remove")
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["detail"]["member"], "victor");
    assert!(
        w.owner
            .audit("action=member.app_role")
            .await
            .unwrap()
            .is_empty(),
        "document roles are not logged as app roles"
    );
    w.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_member_removes_their_document_roles() {
    let w = workspace().await;
    w.set_doc_role("common-db", w.edith, "viewer").await;
    w.set_doc_role("keys", w.edith, "viewer").await;
    w.owner
        .set_app_role("web", w.edith, "viewer")
        .await
        .unwrap();
    let of_edith = w.owner.member_app_roles(w.edith).await.unwrap();
    let kinds: Vec<(&str, bool)> = of_edith
        .iter()
        .map(|r| (r["app"].as_str().unwrap(), r["shared"] == true))
        .collect();
    assert_eq!(
        kinds,
        [("common-db", true), ("keys", true), ("web", false)],
        "a member's roles say which are on shared documents"
    );
    w.owner.remove_member(w.edith).await.unwrap();
    assert!(w.owner.shared_roles("common-db").await.unwrap().is_empty());
    assert!(w.owner.shared_roles("keys").await.unwrap().is_empty());
    assert!(w.owner.app_roles("web").await.unwrap().is_empty());
    // A new member of the same name starts with the workspace role only.
    let again = w.server.member(&w.owner, "edith", "editor").await;
    assert_eq!(again.shared_doc("keys").await.unwrap()["toml"], KEYS);
    w.server.stop().await;
}
