//! Opening a database written by the previous release (migrations 0001–0002; see
//! `fixtures/previous-release/README.md`): after migration 0003 every app's document and its
//! whole history are its `production` environment, and tokens and reports are production's.

use hush_store::*;

fn fixture_copy() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hush.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/previous-release/hush.db"
        ),
        &path,
    )
    .unwrap();
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

#[tokio::test]
async fn previous_release_data_becomes_production() {
    let (_dir, url) = fixture_copy();
    let s = open(&url, Open::Existing)
        .await
        .expect("the old database opens and migrates");

    let apps = s.list_apps().await.unwrap();
    assert_eq!(
        apps.iter()
            .map(|(a, v)| (a.name.as_str(), v.as_ref().map(|v| v.version)))
            .collect::<Vec<_>>(),
        [("api", Some(1)), ("web", Some(2))]
    );
    let web = s.find_app("web").await.unwrap();
    assert_eq!((web.env_id, web.env.as_str()), (web.id, PRODUCTION));
    let envs = s.list_environments(web.id).await.unwrap();
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0].name, PRODUCTION);
    assert_eq!(envs[0].id, web.id, "production keeps the app's id");
    assert_eq!(envs[0].shared_rev, 0);
    assert!(s.includes(web.id).await.unwrap().is_empty());

    // The whole history is production's, ciphertext untouched.
    let history = s.list_versions(web.id, None, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert!(
        !s.get_version(web.id, 1)
            .await
            .unwrap()
            .ciphertext
            .is_empty()
    );

    // The old app token is production's; the report too.
    let token = s
        .list_tokens(TokenFilter {
            app_id: Some(web.id),
            kind: Some(TokenKind::App),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(token.len(), 1);
    assert_eq!(token[0].app_id, Some(web.id));
    let old = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/previous-release/app-token.txt"
    ))
    .unwrap();
    let found = s
        .find_token(&hush_crypto::token_hash(old.trim()))
        .await
        .unwrap();
    assert_eq!(found.app_id, Some(web.id));
    assert_eq!(s.list_instances(web.id, 0).await.unwrap().len(), 1);

    // New environments and versions work on the migrated database.
    let staging = s
        .create_environment(
            NewEnvironment {
                id: 77,
                app_id: web.id,
                name: "staging".into(),
                created_at: 1,
            },
            AuditEvent {
                at: 1,
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: None,
                action: "env.create".into(),
                app_id: Some(web.id),
                app_name: Some("web".into()),
                ip: None,
                outcome: Outcome::Ok,
                detail: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    assert_eq!(staging.id, 77);
    // Token ids keep counting up from where the old table was.
    let next = s
        .create_token(
            NewToken {
                kind: TokenKind::App,
                name: "staging-runner".into(),
                token_hash: hush_crypto::token_hash("x").to_vec(),
                prefix: "hush_app_x".into(),
                user_id: None,
                app_id: Some(77),
                created_at: 2,
                expires_at: None,
            },
            AuditEvent {
                at: 2,
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: None,
                action: "token.create".into(),
                app_id: None,
                app_name: None,
                ip: None,
                outcome: Outcome::Ok,
                detail: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    assert!(next.id > found.id);
}
