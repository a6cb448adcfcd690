//! One storage conformance suite, written once against `Arc<dyn Store>`, run on SQLite always
//! and on PostgreSQL when `HUSH_TEST_DATABASE_URL` names a server (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`): each PostgreSQL test gets a fresh database
//! of its own, dropped afterwards.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hush_store::*;
use hush_testkit::PgDatabase;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A store on a database of its own, and what is needed to open a second store on it.
struct TestDb {
    store: Arc<dyn Store>,
    url: String,
    _place: Place,
}

enum Place {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PgDatabase),
}

impl TestDb {
    /// A second store on the same database: a second server.
    async fn reopen(&self) -> Arc<dyn Store> {
        connect(&self.url).await.expect("reopen the test database")
    }

    fn is_postgres(&self) -> bool {
        matches!(self._place, Place::Postgres(_))
    }
}

async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hush.db").display());
    let store = connect(&url).await.expect("open SQLite store");
    assert_eq!(store.backend(), Backend::Sqlite);
    TestDb {
        store,
        url,
        _place: Place::Sqlite(dir),
    }
}

/// A fresh database for `test` on the server `HUSH_TEST_DATABASE_URL` names, or `None` (said
/// on stderr) when it is unset.
async fn postgres_db(test: &str) -> Option<TestDb> {
    let pg = PgDatabase::create(&format!("postgres::{test}"))?;
    let url = pg.url.clone();
    let store = connect(&url).await.expect("open PostgreSQL store");
    assert_eq!(store.backend(), Backend::Postgres);
    Some(TestDb {
        store,
        url,
        _place: Place::Postgres(pg),
    })
}

/// Generates `sqlite::NAME` and `postgres::NAME` test functions for each conformance test.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite_db().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::postgres_db(stringify!($name)).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

conformance!(
    users_lifecycle,
    duplicate_user_name_conflicts,
    delete_user_takes_sessions_and_personal_tokens,
    invites_are_single_use_and_expire,
    an_owners_unused_invitations_end_with_their_ownership,
    concurrent_invite_use_succeeds_once,
    sessions_lifecycle,
    tokens_lookup_list_revoke_touch,
    apps_lifecycle,
    duplicate_app_name_conflicts,
    delete_app_cascades,
    versions_create_read_page,
    stale_base_conflicts_and_writes_nothing,
    concurrent_create_version_one_winner,
    a_group_of_saves_is_each_saved_audited_and_announced,
    rewrap_is_compare_and_set,
    instances_upsert_and_list,
    an_environment_keeps_its_newest_instances_only,
    audit_append_filter_page,
    events_cross_servers,
    export_import_copies_everything,
    sweep_removes_only_dead_rows,
    changes_carry_their_audit_event,
    refused_saves_in_a_group_leave_the_others_intact,
    setup_links_one_at_a_time_and_none_once_an_owner_exists,
    create_first_owner_ends_setup_links,
    last_owner_race_leaves_an_owner,
    reopen_keeps_data,
    app_roles_override_and_cascade,
    app_role_none_is_announced,
    workload_trusts_and_jti_replay,
    identity_rows_are_exported,
    environments_have_their_own_history_and_tokens,
    shared_documents_and_includes,
    export_import_copies_environments_and_includes,
    shared_changes_reach_other_servers,
    sso_links_are_one_to_one_cascade_and_are_exported,
    sign_in_tries_are_taken_atomically_across_servers,
    sso_sign_ins_under_way_are_taken_once_across_servers,
);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const T0: Millis = 1_700_000_000_000;

/// A random positive id, as the server chooses them.
fn new_app_id() -> i64 {
    (u64::from_be_bytes(hush_crypto::random_bytes()) >> 2) as i64
}

fn hash(label: &str) -> Vec<u8> {
    hush_crypto::token_hash(label).to_vec()
}

/// A member with `role`: the first owner directly, everyone else through an invitation, as
/// the server makes them.
async fn user(s: &dyn Store, name: &str, role: Role) -> User {
    let new = new_user(name);
    if role == Role::Owner && s.user_count().await.unwrap() == 0 {
        return s
            .create_first_owner(new, ev("setup.owner_created"))
            .await
            .unwrap();
    }
    let link = format!("invite-for-{name}");
    s.create_invite(
        invite(&link, InviteKind::Invite, role, T0 + 1_000),
        by_system("member.invite"),
    )
    .await
    .unwrap();
    s.accept_invite(&hash(&link), T0, new, ev("member.joined"))
        .await
        .unwrap()
        .1
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        name: name.into(),
        role: Role::Viewer,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt$hash-of-{name}"),
        created_at: T0,
    }
}

fn invite(link: &str, kind: InviteKind, role: Role, expires_at: Millis) -> NewInvite {
    NewInvite {
        token_hash: hash(link),
        kind,
        role,
        created_by: None,
        created_at: T0,
        expires_at,
    }
}

/// The audit event a change carries.
fn ev(action: &str) -> AuditEvent {
    audit(T0, "tester", action, None)
}

/// An event of hush itself (no member: nobody whose role a change must check).
fn by_system(action: &str) -> AuditEvent {
    AuditEvent {
        actor_kind: ActorKind::System,
        actor_id: None,
        ..audit(T0, "hush", action, None)
    }
}

/// An event whose actor is `actor` (role changes check that their actor is still an owner).
fn by(actor: &User, action: &str) -> AuditEvent {
    AuditEvent {
        actor_id: Some(actor.id),
        actor_name: Some(actor.name.clone()),
        ..audit(T0, &actor.name, action, None)
    }
}

/// What [`app`] and [`shared`] create, with a fresh id.
fn new_app(name: &str) -> NewApp {
    NewApp {
        id: new_app_id(),
        name: name.into(),
        wrapped_key: vec![1, 2, 3, name.len() as u8],
        key_id: "key-one".into(),
        created_by: None,
        created_at: T0,
        launch: None,
    }
}

async fn app(s: &dyn Store, name: &str, by: Option<i64>) -> App {
    let new = NewApp {
        created_by: by,
        ..new_app(name)
    };
    s.create_app(new, ev("app.create")).await.unwrap()
}

/// Version `n` saved on `env_id` over version `n - 1`.
async fn save(s: &dyn Store, env_id: i64, n: i64) -> VersionMeta {
    s.create_version(env_id, n - 1, version(n, None), ev("secrets.update"))
        .await
        .unwrap()
}

/// The number of `env_id`'s newest version, which must exist.
async fn newest_version(s: &dyn Store, env_id: i64) -> i64 {
    let newest = s.latest_version(env_id).await.unwrap();
    newest.expect("a version").meta.version
}

fn version(n: i64, author: Option<i64>) -> NewVersion {
    NewVersion {
        version: n,
        author_id: author,
        created_at: T0 + n,
        message: Some(format!("change {n}")),
        ciphertext: format!("ciphertext-{n}").into_bytes(),
        summary: json!({"added": [format!("KEY_{n}")]}),
        restored_from: None,
    }
}

fn token(kind: TokenKind, name: &str, user_id: Option<i64>, app_id: Option<i64>) -> NewToken {
    NewToken {
        kind,
        name: name.into(),
        token_hash: hash(name),
        prefix: format!("hush_{}", &name[..2]),
        user_id,
        app_id,
        created_at: T0,
        expires_at: None,
    }
}

/// A token `s` made (the audit event a change carries).
async fn issued(s: &dyn Store, token: NewToken) -> TokenRecord {
    s.create_token(token, ev("token.create")).await.unwrap()
}

/// A web session whose cookie is `cookie`, made at [`T0`].
fn new_session(cookie: &str, user_id: i64, expires_at: Millis) -> NewSession {
    NewSession {
        token_hash: hash(cookie),
        user_id,
        created_at: T0,
        expires_at,
    }
}

fn audit(at: Millis, actor: &str, action: &str, app_id: Option<i64>) -> AuditEvent {
    AuditEvent {
        at,
        actor_kind: ActorKind::User,
        actor_id: Some(1),
        actor_name: Some(actor.into()),
        action: action.into(),
        app_id,
        app_name: app_id.map(|id| format!("app{id}")),
        ip: Some("127.0.0.1".into()),
        outcome: Outcome::Ok,
        detail: json!({"at": at}),
    }
}

/// A running copy of `app_id` reporting at `reported_at` that it applied `applied_version`.
fn running(
    app_id: i64,
    instance_id: &str,
    applied_version: i64,
    reported_at: Millis,
) -> InstanceReport {
    InstanceReport {
        app_id,
        instance_id: instance_id.into(),
        hostname: "h".into(),
        pid: None,
        applied_version,
        applied: None,
        status: InstanceStatus::Running,
        reported_at,
    }
}

/// Sets `user_id`'s role on `app_id` at `at`; the role it replaced.
async fn grant(
    s: &dyn Store,
    user_id: i64,
    app_id: i64,
    role: AppRole,
    at: Millis,
) -> Option<AppRole> {
    s.set_app_role(user_id, app_id, role, at, ev("member.app_role"))
        .await
        .unwrap()
}

/// The audit rows (up to 1000), newest first; only `action`'s when given.
async fn audit_rows(s: &dyn Store, action: Option<&str>) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        action: action.map(Into::into),
        limit: 1000,
        ..Default::default()
    };
    s.query_audit(filter).await.unwrap()
}

type Events = futures::stream::BoxStream<'static, Result<StoreEvent>>;

/// What every server on the database hears, or `None` where there is one server (SQLite).
async fn subscribe(db: &TestDb) -> Option<Events> {
    let Some(bus) = db.store.events() else {
        assert!(!db.is_postgres(), "PostgreSQL has events");
        return None;
    };
    Some(bus.subscribe().await.unwrap())
}

/// The next event heard, within 10 s.
async fn next_event(events: &mut Events) -> StoreEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("a readable event")
}

/// A new SQLite store holding an export of `s`.
async fn sqlite_copy(s: &dyn Store) -> TestDb {
    let copy = sqlite_db().await;
    copy.store.import(s.export().await.unwrap()).await.unwrap();
    copy
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(r: Result<T>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn conflict_message<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

async fn users_lifecycle(db: TestDb) {
    let s = &*db.store;
    assert_eq!(s.user_count().await.unwrap(), 0);
    let alice = user(s, "alice", Role::Owner).await;
    let bob = user(s, "bob", Role::Viewer).await;
    assert_eq!(s.user_count().await.unwrap(), 2);
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.role, Role::Owner);
    assert_eq!(alice.created_at, T0);
    assert_ne!(alice.id, bob.id);

    assert_eq!(s.get_user(bob.id).await.unwrap(), bob);
    assert_not_found(s.get_user(bob.id + 1000).await);
    assert_eq!(
        s.list_users().await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );

    let (found, hash) = s.find_user_credentials("alice").await.unwrap();
    assert_eq!(found, alice);
    assert!(hash.ends_with("hash-of-alice"));
    assert_not_found(s.find_user_credentials("nobody").await);
    // A name is the same name whatever its case or look-alike letters.
    assert_eq!(s.find_user_credentials("ALICE").await.unwrap().0, alice);
    assert_eq!(
        s.find_user_credentials("\u{0430}lice").await.unwrap().0,
        alice
    );

    s.set_user_role(bob.id, Role::Editor, ev("member.role"))
        .await
        .unwrap();
    assert_eq!(s.get_user(bob.id).await.unwrap().role, Role::Editor);
    s.set_user_password(bob.id, "$argon2id$new", ev("member.password"))
        .await
        .unwrap();
    assert_eq!(
        s.find_user_credentials("bob").await.unwrap().1,
        "$argon2id$new"
    );
    assert_not_found(s.set_user_role(9999, Role::Owner, ev("member.role")).await);
    assert_not_found(s.set_user_password(9999, "x", ev("member.password")).await);

    // The last owner can be neither removed nor demoted.
    conflict_message(s.delete_user(alice.id, ev("member.remove")).await);
    conflict_message(
        s.set_user_role(alice.id, Role::Editor, ev("member.role"))
            .await,
    );
    s.delete_user(bob.id, ev("member.remove")).await.unwrap();
    assert_not_found(s.get_user(bob.id).await);
    assert_not_found(s.delete_user(bob.id, ev("member.remove")).await);
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn duplicate_user_name_conflicts(db: TestDb) {
    let s = &*db.store;
    user(s, "carol", Role::Owner).await;
    // The same name, another case, or a look-alike (Cyrillic "с", Latin-looking "1" for "l"):
    // refused, and the link stays usable.
    for taken in ["carol", "CAROL", "\u{0441}arol", "caro1"] {
        s.create_invite(
            invite(taken, InviteKind::Invite, Role::Viewer, T0 + 100),
            ev("member.invite"),
        )
        .await
        .unwrap();
        let mut new = new_user(taken);
        new.password_hash = "$argon2id$secret-hash".into();
        let msg = conflict_message(
            s.accept_invite(&hash(taken), T0, new, ev("member.joined"))
                .await,
        );
        assert!(msg.contains("taken"), "{msg}");
        assert!(!msg.contains("secret-hash"), "{msg}");
        assert!(
            s.find_invite(&hash(taken), T0).await.is_ok(),
            "the link is not used up"
        );
    }
    assert_eq!(s.user_count().await.unwrap(), 1);
    // A name that only shares letters is fine.
    s.accept_invite(
        &hash("carol"),
        T0,
        new_user("caroline"),
        ev("member.joined"),
    )
    .await
    .unwrap();
    assert_eq!(s.user_count().await.unwrap(), 2);
}

async fn delete_user_takes_sessions_and_personal_tokens(db: TestDb) {
    let s = &*db.store;
    let dave = user(s, "dave", Role::Editor).await;
    let erin = user(s, "erin", Role::Editor).await;
    let a = app(s, "web", Some(dave.id)).await;
    for (h, u) in [("dave-session", dave.id), ("erin-session", erin.id)] {
        s.create_session(new_session(h, u, T0 + 1000))
            .await
            .unwrap();
    }
    let personal = issued(
        s,
        token(TokenKind::Personal, "dave-cli", Some(dave.id), None),
    )
    .await;
    let app_token = issued(
        s,
        token(TokenKind::App, "web-prod", Some(dave.id), Some(a.id)),
    )
    .await;
    let version = s
        .create_version(a.id, 0, version(1, Some(dave.id)), ev("token.create"))
        .await
        .unwrap();
    assert_eq!(version.author_name.as_deref(), Some("dave"));

    // Only an owner may remove a member, checked in the same transaction.
    let refused = conflict_message(s.delete_user(erin.id, by(&dave, "member.remove")).await);
    assert!(refused.contains("no longer an owner"), "{refused}");
    assert!(s.find_session(&hash("erin-session")).await.is_ok());
    let olga = user(s, "olga", Role::Owner).await;
    s.delete_user(dave.id, by(&olga, "member.remove"))
        .await
        .unwrap();

    assert_not_found(s.find_session(&hash("dave-session")).await);
    assert!(s.find_session(&hash("erin-session")).await.is_ok());
    assert_not_found(s.find_token(&hash("dave-cli")).await);
    let _ = personal;
    // The app keeps its token (and its creator is forgotten), its history keeps the version.
    let kept = s.find_token(&hash("web-prod")).await.unwrap();
    assert_eq!(kept.id, app_token.id);
    assert_eq!(kept.user_id, None);
    let v1 = s.get_version(a.id, 1).await.unwrap();
    assert_eq!(v1.meta.author_id, None);
    assert_eq!(v1.meta.author_name, None);
    assert_eq!(s.get_app(a.id).await.unwrap().created_by, None);
}

// ---------------------------------------------------------------------------------------------
// Invites
// ---------------------------------------------------------------------------------------------

/// A link kept by an owner who was removed or demoted must not bring anyone in afterwards (an
/// owner invitation would make its holder owner again), and an owner's change on its way while
/// its sender was demoted is refused.
async fn an_owners_unused_invitations_end_with_their_ownership(db: TestDb) {
    let s = &*db.store;
    let olga = user(s, "olga", Role::Owner).await;
    let bob = user(s, "bob", Role::Owner).await;
    let dana = user(s, "dana", Role::Owner).await;
    let from = |owner: &User, link: &str, role: Role| NewInvite {
        created_by: Some(owner.id),
        ..invite(link, InviteKind::Invite, role, T0 + 1_000)
    };
    s.create_invite(
        from(&bob, "bob-owner", Role::Owner),
        by(&bob, "member.invite"),
    )
    .await
    .unwrap();
    s.create_invite(
        from(&dana, "dana-owner", Role::Owner),
        by(&dana, "member.invite"),
    )
    .await
    .unwrap();
    let kept = s
        .create_invite(
            from(&olga, "olga-viewer", Role::Viewer),
            by(&olga, "member.invite"),
        )
        .await
        .unwrap();

    s.delete_user(bob.id, by(&olga, "member.remove"))
        .await
        .unwrap();
    assert_not_found(s.find_invite(&hash("bob-owner"), T0 + 1).await);
    assert_not_found(
        s.accept_invite(
            &hash("bob-owner"),
            T0 + 2,
            new_user("bob2"),
            ev("member.joined"),
        )
        .await,
    );
    s.set_user_role(dana.id, Role::Editor, by(&olga, "member.role"))
        .await
        .unwrap();
    assert_not_found(s.find_invite(&hash("dana-owner"), T0 + 1).await);
    // Demoted, dana cannot make one either (her request was checked before the demotion).
    let refused = conflict_message(
        s.create_invite(
            from(&dana, "dana-late", Role::Owner),
            by(&dana, "member.invite"),
        )
        .await,
    );
    assert!(refused.contains("no longer an owner"), "{refused}");
    assert_not_found(s.find_invite(&hash("dana-late"), T0 + 1).await);
    // Nor delete an app, an environment or a shared document, nor set what a server launches.
    let web = app(s, "web", None).await;
    let refused = conflict_message(s.delete_app(web.id, by(&dana, "app.delete")).await);
    assert!(refused.contains("no longer an owner"), "{refused}");
    let refused = conflict_message(
        s.set_app_launch(web.id, None, by(&dana, "app.launch"))
            .await,
    );
    assert!(refused.contains("no longer an owner"), "{refused}");
    assert!(s.get_app(web.id).await.is_ok());
    // Another owner's links, and links already used, are untouched.
    assert_eq!(s.list_invites(T0 + 1).await.unwrap(), vec![kept]);
    s.set_user_role(dana.id, Role::Owner, by(&olga, "member.role"))
        .await
        .unwrap();
    assert_eq!(s.list_invites(T0 + 1).await.unwrap().len(), 1);
}

async fn invites_are_single_use_and_expire(db: TestDb) {
    let s = &*db.store;
    let owner = user(s, "owner", Role::Owner).await;
    let mut from_owner = invite("invite-link", InviteKind::Invite, Role::Editor, T0 + 100);
    from_owner.created_by = Some(owner.id);
    let created = s
        .create_invite(from_owner, ev("member.invite"))
        .await
        .unwrap();
    assert_eq!(
        created.created_by_name.as_deref(),
        Some("owner"),
        "who invited is known"
    );

    // Looking does not use it.
    assert_eq!(
        s.find_invite(&hash("invite-link"), T0 + 1).await.unwrap(),
        created
    );
    assert_eq!(s.list_invites(T0 + 1).await.unwrap(), vec![created.clone()]);
    // Used once (with the link's role, whatever was asked), then gone.
    let (used, member) = s
        .accept_invite(
            &hash("invite-link"),
            T0 + 3,
            new_user("newbie"),
            ev("member.joined"),
        )
        .await
        .unwrap();
    assert_eq!(used, created);
    assert_eq!(member.role, Role::Editor);
    let joined = audit_rows(s, Some("member.joined")).await;
    assert_eq!(
        joined[0].event.actor_id,
        Some(member.id),
        "audited as the new member"
    );
    assert_not_found(
        s.accept_invite(
            &hash("invite-link"),
            T0 + 4,
            new_user("again"),
            ev("member.joined"),
        )
        .await,
    );
    assert_not_found(s.find_invite(&hash("invite-link"), T0 + 4).await);
    assert!(s.list_invites(T0 + 4).await.unwrap().is_empty());
    // Expired at its expiry instant.
    s.create_invite(
        invite("late-link", InviteKind::Invite, Role::Viewer, T0 + 100),
        ev("member.invite"),
    )
    .await
    .unwrap();
    assert_not_found(s.find_invite(&hash("late-link"), T0 + 100).await);
    assert_not_found(
        s.accept_invite(
            &hash("late-link"),
            T0 + 100,
            new_user("late"),
            ev("member.joined"),
        )
        .await,
    );
    assert!(s.list_invites(T0 + 100).await.unwrap().is_empty());
    assert_not_found(
        s.accept_invite(
            &hash("never-issued"),
            T0,
            new_user("x"),
            ev("member.joined"),
        )
        .await,
    );

    // Revoked: cannot be used, and revoking twice says it is gone.
    let pending = s
        .create_invite(
            invite("revoked-link", InviteKind::Invite, Role::Owner, T0 + 100),
            ev("member.invite"),
        )
        .await
        .unwrap();
    assert_eq!(
        s.revoke_invite(pending.id, ev("member.invite_revoke"))
            .await
            .unwrap(),
        pending
    );
    assert_not_found(
        s.revoke_invite(pending.id, ev("member.invite_revoke"))
            .await,
    );
    assert_not_found(
        s.accept_invite(
            &hash("revoked-link"),
            T0,
            new_user("mallory"),
            ev("member.joined"),
        )
        .await,
    );

    let msg = conflict_message(
        s.create_invite(
            invite("late-link", InviteKind::Invite, Role::Viewer, T0 + 100),
            ev("member.invite"),
        )
        .await,
    );
    assert!(msg.contains("invite"), "{msg}");
}

async fn setup_links_one_at_a_time_and_none_once_an_owner_exists(db: TestDb) {
    let s = &*db.store;
    let first = s
        .replace_setup_link(invite("setup-1", InviteKind::Setup, Role::Owner, T0 + 100))
        .await
        .unwrap();
    assert_eq!(first.kind, InviteKind::Setup);
    // A restart mints a new link: the old one stops working.
    s.replace_setup_link(invite("setup-2", InviteKind::Setup, Role::Owner, T0 + 100))
        .await
        .unwrap();
    assert_not_found(s.find_invite(&hash("setup-1"), T0).await);
    assert_not_found(
        s.accept_invite(
            &hash("setup-1"),
            T0,
            new_user("mallory"),
            ev("setup.owner_created"),
        )
        .await,
    );
    let (_, owner) = s
        .accept_invite(
            &hash("setup-2"),
            T0,
            new_user("olivia"),
            ev("setup.owner_created"),
        )
        .await
        .unwrap();
    assert_eq!(owner.role, Role::Owner);
    conflict_message(
        s.replace_setup_link(invite("setup-3", InviteKind::Setup, Role::Owner, T0 + 100))
            .await,
    );
    assert_not_found(s.find_invite(&hash("setup-3"), T0).await);

    // There is only one first owner.
    let msg = conflict_message(
        s.create_first_owner(new_user("second"), ev("setup.owner_created"))
            .await,
    );
    assert!(msg.contains("members"), "{msg}");
}

async fn create_first_owner_ends_setup_links(db: TestDb) {
    let s = &*db.store;
    s.replace_setup_link(invite(
        "printed-link",
        InviteKind::Setup,
        Role::Owner,
        T0 + 100,
    ))
    .await
    .unwrap();
    let owner = s
        .create_first_owner(new_user("admin"), ev("setup.owner_created"))
        .await
        .unwrap();
    assert_eq!(owner.role, Role::Owner);
    assert_not_found(
        s.accept_invite(
            &hash("printed-link"),
            T0,
            new_user("mallory"),
            ev("setup.owner_created"),
        )
        .await,
    );
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn concurrent_invite_use_succeeds_once(db: TestDb) {
    let s = db.store.clone();
    s.create_invite(
        invite("race", InviteKind::Invite, Role::Viewer, T0 + 1000),
        by_system("member.invite"),
    )
    .await
    .unwrap();
    // Two servers on PostgreSQL: the use must be single even across them.
    let other = db.reopen().await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { s.clone() } else { other.clone() };
            tokio::spawn(async move {
                s.accept_invite(
                    &hash("race"),
                    T0 + i,
                    new_user(&format!("racer{i}")),
                    ev("member.joined"),
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::NotFound) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn last_owner_race_leaves_an_owner(db: TestDb) {
    let s = db.store.clone();
    let other = db.reopen().await;
    let mut owners = vec![user(&*s, "own0", Role::Owner).await];
    for trial in 0..10 {
        // Two owners demote each other at once (through two servers on PostgreSQL).
        let a = owners.pop().unwrap();
        let b = user(&*s, &format!("own{}", trial + 1), Role::Owner).await;
        let (sa, sb) = (s.clone(), other.clone());
        let (by_a, by_b) = (by(&a, "member.role"), by(&b, "member.role"));
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { sa.set_user_role(b.id, Role::Viewer, by_a).await }),
            tokio::spawn(async move { sb.set_user_role(a.id, Role::Viewer, by_b).await }),
        );
        let results = [ra.unwrap().is_ok(), rb.unwrap().is_ok()];
        let left: Vec<User> = s
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.role == Role::Owner)
            .collect();
        assert_eq!(left.len(), 1, "trial {trial}: {results:?} left {left:?}");
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "trial {trial}");
        owners = left;
    }
    // A change checked before its sender was demoted does not go through, even with other
    // owners left.
    let x = owners.pop().unwrap();
    let (y, z) = (
        user(&*s, "own-y", Role::Owner).await,
        user(&*s, "own-z", Role::Owner).await,
    );
    s.set_user_role(y.id, Role::Viewer, by(&x, "member.role"))
        .await
        .unwrap();
    let refused = conflict_message(
        s.set_user_role(z.id, Role::Viewer, by(&y, "member.role"))
            .await,
    );
    assert!(refused.contains("no longer an owner"), "{refused}");
    conflict_message(s.delete_user(z.id, by(&y, "member.remove")).await);
    assert_eq!(s.get_user(z.id).await.unwrap().role, Role::Owner);
    // And the way back for a workspace that lost its owners: restore one by name.
    let viewer = user(&*s, "viewer", Role::Viewer).await;
    let restored = s.restore_owner("VIEWER", ev("member.role")).await.unwrap();
    assert_eq!((restored.id, restored.role), (viewer.id, Role::Owner));
    assert_not_found(s.restore_owner("nobody", ev("member.role")).await);
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

async fn sessions_lifecycle(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "frank", Role::Viewer).await;
    let session = s
        .create_session(new_session("cookie-1", u.id, T0 + 3_600_000))
        .await
        .unwrap();
    assert_eq!(session.last_seen_at, T0);
    s.create_session(new_session("cookie-2", u.id, T0 + 3_600_000))
        .await
        .unwrap();
    assert_eq!(s.find_session(&hash("cookie-1")).await.unwrap(), session);
    assert_not_found(s.find_session(&hash("cookie-3")).await);

    s.touch_session(session.id, T0 + 500).await.unwrap();
    assert_eq!(
        s.find_session(&hash("cookie-1"))
            .await
            .unwrap()
            .last_seen_at,
        T0 + 500
    );
    assert_not_found(s.touch_session(session.id + 1000, T0).await);

    conflict_message(
        s.create_session(new_session("cookie-1", u.id, T0 + 1))
            .await,
    );
    assert_not_found(
        s.create_session(new_session("cookie-for-nobody", u.id + 1000, T0 + 1))
            .await,
    );

    let ended = s.delete_session(&hash("cookie-1")).await.unwrap();
    assert!(ended.is_some(), "the ended session's id");
    assert_not_found(s.find_session(&hash("cookie-1")).await);
    // Logging out twice is fine; the second time ends nothing.
    assert_eq!(s.delete_session(&hash("cookie-1")).await.unwrap(), None);
    assert!(s.find_session(&hash("cookie-2")).await.is_ok());
    s.delete_user_sessions(u.id, ev("auth.logout_all"))
        .await
        .unwrap();
    assert_not_found(s.find_session(&hash("cookie-2")).await);
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

async fn tokens_lookup_list_revoke_touch(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "gina", Role::Editor).await;
    let v = user(s, "hal", Role::Editor).await;
    let a = app(s, "api", Some(u.id)).await;
    let b = app(s, "batch", Some(u.id)).await;
    let mut expiring = token(TokenKind::Personal, "gina-cli", Some(u.id), None);
    expiring.expires_at = Some(T0 + 10);
    let p1 = s.create_token(expiring, ev("token.create")).await.unwrap();
    assert_eq!(p1.expires_at, Some(T0 + 10));
    assert_eq!(p1.last_used_at, None);
    assert_eq!(p1.revoked_at, None);
    let p2 = issued(s, token(TokenKind::Personal, "hal-cli", Some(v.id), None)).await;
    let t_a = issued(s, token(TokenKind::App, "api-prod", Some(u.id), Some(a.id))).await;
    let t_b = issued(
        s,
        token(TokenKind::App, "batch-prod", Some(u.id), Some(b.id)),
    )
    .await;

    // Looked up by hash, and only by the right one.
    assert_eq!(s.find_token(&hash("api-prod")).await.unwrap(), t_a);
    assert_eq!(s.find_token(&hash("gina-cli")).await.unwrap(), p1);
    assert_not_found(s.find_token(&hash("api-prod ")).await);
    assert_not_found(s.find_token(b"api-prod").await);

    // Each filter, and the tokens it lists, in id order.
    let cases = [
        (TokenFilter::default(), vec![p1.id, p2.id, t_a.id, t_b.id]),
        (
            TokenFilter {
                user_id: Some(u.id),
                ..Default::default()
            },
            vec![p1.id, t_a.id, t_b.id],
        ),
        (
            TokenFilter {
                app_id: Some(b.id),
                ..Default::default()
            },
            vec![t_b.id],
        ),
        (
            TokenFilter {
                kind: Some(TokenKind::Personal),
                ..Default::default()
            },
            vec![p1.id, p2.id],
        ),
        (
            TokenFilter {
                user_id: Some(u.id),
                kind: Some(TokenKind::App),
                app_id: Some(a.id),
            },
            vec![t_a.id],
        ),
    ];
    for (filter, expected) in cases {
        let listed = s.list_tokens(filter.clone()).await.unwrap();
        let ids: Vec<i64> = listed.iter().map(|t| t.id).collect();
        assert_eq!(ids, expected, "{filter:?}");
    }

    // Revoked tokens are still found (the caller decides); the first revocation time stays.
    s.revoke_token(t_a.id, T0 + 5, ev("token.revoke"))
        .await
        .unwrap();
    s.revoke_token(t_a.id, T0 + 9, ev("token.revoke"))
        .await
        .unwrap();
    assert_eq!(
        s.find_token(&hash("api-prod")).await.unwrap().revoked_at,
        Some(T0 + 5)
    );
    assert_not_found(s.revoke_token(9999, T0, ev("token.revoke")).await);

    // Touches are batched; a later time wins, an earlier one never moves it back.
    s.touch_tokens(&[(p1.id, T0 + 20), (t_b.id, T0 + 30), (9999, T0)])
        .await
        .unwrap();
    s.touch_tokens(&[(p1.id, T0 + 15), (t_b.id, T0 + 40)])
        .await
        .unwrap();
    s.touch_tokens(&[]).await.unwrap();
    assert_eq!(
        s.find_token(&hash("gina-cli")).await.unwrap().last_used_at,
        Some(T0 + 20)
    );
    assert_eq!(
        s.find_token(&hash("batch-prod"))
            .await
            .unwrap()
            .last_used_at,
        Some(T0 + 40)
    );
    assert_eq!(
        s.find_token(&hash("hal-cli")).await.unwrap().last_used_at,
        None
    );

    conflict_message(
        s.create_token(
            token(TokenKind::Personal, "hal-cli", Some(u.id), None),
            ev("token.create"),
        )
        .await,
    );
    assert_not_found(
        s.create_token(
            token(TokenKind::App, "ghost-app", None, Some(b.id + 1000)),
            ev("token.create"),
        )
        .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Apps
// ---------------------------------------------------------------------------------------------

async fn apps_lifecycle(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "ivan", Role::Owner).await;
    let zeta = app(s, "zeta", Some(u.id)).await;
    let launch = LaunchConfig {
        folder: "/srv/alpha".into(),
        command: "streamlit run app.py".into(),
        port: Some(8501),
        env: Some("staging".into()),
    };
    let new_alpha = NewApp {
        wrapped_key: vec![9; 73],
        created_at: T0 + 1,
        launch: Some(launch.clone()),
        ..new_app("alpha")
    };
    let alpha = s.create_app(new_alpha, ev("app.create")).await.unwrap();
    assert_eq!(alpha.launch, Some(launch.clone()));
    assert_eq!(s.get_app(alpha.id).await.unwrap(), alpha);
    assert_eq!(s.find_app("zeta").await.unwrap(), zeta);
    assert_not_found(s.find_app("beta").await);
    assert_not_found(s.get_app(zeta.id + 1000).await);

    // Ordered by name, each with its newest version.
    let listed = s.list_apps().await.unwrap();
    assert_eq!(listed, vec![(alpha.clone(), None), (zeta.clone(), None)]);
    s.create_version(zeta.id, 0, version(1, Some(u.id)), ev("token.create"))
        .await
        .unwrap();
    let v2 = save(s, zeta.id, 2).await;
    let listed = s.list_apps().await.unwrap();
    assert_eq!(listed[0], (alpha.clone(), None));
    assert_eq!(listed[1].0, zeta);
    assert_eq!(listed[1].1.as_ref(), Some(&v2));

    s.set_app_launch(zeta.id, Some(launch.clone()), by_system("app.launch"))
        .await
        .unwrap();
    assert_eq!(s.get_app(zeta.id).await.unwrap().launch, Some(launch));
    s.set_app_launch(zeta.id, None, by_system("app.launch"))
        .await
        .unwrap();
    assert_eq!(s.get_app(zeta.id).await.unwrap().launch, None);
    assert_not_found(s.set_app_launch(9999, None, by_system("app.launch")).await);

    // Debug never shows the wrapped key.
    let shown = format!("{alpha:?}");
    assert!(!shown.contains("9, 9, 9"), "{shown}");
}

async fn duplicate_app_name_conflicts(db: TestDb) {
    let s = &*db.store;
    let shop = app(s, "shop", None).await;
    // The wrapped key is 171s: no message may show it.
    let attempt = |id: i64, name: &str| NewApp {
        id,
        wrapped_key: vec![0xAB; 40],
        key_id: "k".into(),
        ..new_app(name)
    };
    let msg = conflict_message(
        s.create_app(attempt(new_app_id(), "shop"), ev("app.create"))
            .await,
    );
    assert!(
        msg.contains("an app named \"shop\" already exists"),
        "{msg}"
    );
    assert!(!msg.contains("171, 171"), "{msg}");
    let msg = conflict_message(
        s.create_app(attempt(shop.id, "other"), ev("app.create"))
            .await,
    );
    assert!(msg.contains(&format!("id {}", shop.id)), "{msg}");
    assert_eq!(s.list_apps().await.unwrap().len(), 1);
    assert_not_found(s.find_app("other").await);
}

async fn delete_app_cascades(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "judy", Role::Owner).await;
    let doomed = app(s, "doomed", Some(u.id)).await;
    let kept = app(s, "kept", Some(u.id)).await;
    for a in [&doomed, &kept] {
        s.create_version(a.id, 0, version(1, Some(u.id)), ev("secrets.update"))
            .await
            .unwrap();
        s.create_token(
            token(
                TokenKind::App,
                &format!("{}-token", a.name),
                Some(u.id),
                Some(a.id),
            ),
            ev("token.create"),
        )
        .await
        .unwrap();
        s.report_instance(running(a.id, "i-1", 1, T0))
            .await
            .unwrap();
    }
    s.delete_app(doomed.id, by_system("app.delete"))
        .await
        .unwrap();

    assert_not_found(s.get_app(doomed.id).await);
    assert_not_found(s.find_app("doomed").await);
    assert_not_found(s.get_version(doomed.id, 1).await);
    assert!(s.latest_version(doomed.id).await.unwrap().is_none());
    assert!(
        s.list_versions(doomed.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(s.find_token(&hash("doomed-token")).await);
    assert!(s.list_instances(doomed.id, 0).await.unwrap().is_empty());
    assert!(
        s.app_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.app_id != doomed.id)
    );
    assert_not_found(s.delete_app(doomed.id, by_system("app.delete")).await);

    // The other app is untouched, and the name can be used again.
    assert!(s.get_version(kept.id, 1).await.is_ok());
    assert!(s.find_token(&hash("kept-token")).await.is_ok());
    assert_eq!(s.list_instances(kept.id, 0).await.unwrap().len(), 1);
    let again = app(s, "doomed", None).await;
    assert_ne!(again.id, doomed.id);
    assert!(s.latest_version(again.id).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

async fn versions_create_read_page(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "kim", Role::Editor).await;
    let a = app(s, "svc", Some(u.id)).await;
    assert!(s.latest_version(a.id).await.unwrap().is_none());
    assert!(s.list_versions(a.id, None, 10).await.unwrap().is_empty());

    let v1 = s
        .create_version(a.id, 0, version(1, Some(u.id)), ev("token.create"))
        .await
        .unwrap();
    assert_eq!(
        v1,
        VersionMeta {
            app_id: a.id,
            version: 1,
            author_id: Some(u.id),
            author_name: Some("kim".into()),
            created_at: T0 + 1,
            message: Some("change 1".into()),
            summary: json!({"added": ["KEY_1"]}),
            restored_from: None,
        }
    );
    for n in 2..=5 {
        let mut nv = version(n, None);
        if n == 5 {
            nv.restored_from = Some(2);
            nv.message = None;
        }
        s.create_version(a.id, n - 1, nv, ev("secrets.update"))
            .await
            .unwrap();
    }

    let latest = s.latest_version(a.id).await.unwrap().unwrap();
    assert_eq!(latest.meta.version, 5);
    assert_eq!(latest.meta.restored_from, Some(2));
    assert_eq!(latest.meta.message, None);
    assert_eq!(latest.meta.author_name, None);
    assert_eq!(latest.ciphertext, b"ciphertext-5");
    let got = s.get_version(a.id, 1).await.unwrap();
    assert_eq!(got.meta, v1);
    assert_eq!(got.ciphertext, b"ciphertext-1");
    assert_not_found(s.get_version(a.id, 6).await);
    assert!(!format!("{got:?}").contains("ciphertext-1"));

    let numbers = |v: Vec<VersionMeta>| v.into_iter().map(|m| m.version).collect::<Vec<_>>();
    assert_eq!(
        numbers(s.list_versions(a.id, None, 100).await.unwrap()),
        vec![5, 4, 3, 2, 1]
    );
    assert_eq!(
        numbers(s.list_versions(a.id, None, 2).await.unwrap()),
        vec![5, 4]
    );
    assert_eq!(
        numbers(s.list_versions(a.id, Some(4), 2).await.unwrap()),
        vec![3, 2]
    );
    assert_eq!(
        numbers(s.list_versions(a.id, Some(2), 2).await.unwrap()),
        vec![1]
    );
    assert!(s.list_versions(a.id, Some(1), 2).await.unwrap().is_empty());

    // A version number that does not follow the base, and a missing app.
    let msg = conflict_message(
        s.create_version(a.id, 5, version(7, None), ev("secrets.update"))
            .await,
    );
    assert!(msg.contains('6'), "{msg}");
    assert_not_found(
        s.create_version(a.id + 1000, 0, version(1, None), ev("secrets.update"))
            .await,
    );
}

async fn stale_base_conflicts_and_writes_nothing(db: TestDb) {
    let s = &*db.store;
    let a = app(s, "stale", None).await;
    save(s, a.id, 1).await;
    save(s, a.id, 2).await;

    let mut late = version(2, None);
    late.ciphertext = b"late-writer".to_vec();
    let msg = conflict_message(s.create_version(a.id, 1, late, ev("secrets.update")).await);
    assert!(msg.contains("stale base version 1"), "{msg}");
    let mut from_nothing = version(1, None);
    from_nothing.ciphertext = b"late-writer".to_vec();
    conflict_message(
        s.create_version(a.id, 0, from_nothing, ev("secrets.update"))
            .await,
    );
    // A base from the future would leave a gap in the history: refused too.
    let msg = conflict_message(
        s.create_version(a.id, 5, version(6, None), ev("secrets.update"))
            .await,
    );
    assert!(msg.contains("newest version is now 2"), "{msg}");

    let latest = s.latest_version(a.id).await.unwrap().unwrap();
    assert_eq!(latest.meta.version, 2);
    assert_eq!(latest.ciphertext, b"ciphertext-2");
    assert_eq!(s.list_versions(a.id, None, 10).await.unwrap().len(), 2);
    // The next correct base still works.
    save(s, a.id, 3).await;
}

async fn concurrent_create_version_one_winner(db: TestDb) {
    let s = db.store.clone();
    let a = app(&*s, "race", None).await;
    save(&*s, a.id, 1).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut nv = version(2, None);
                nv.ciphertext = format!("writer-{i}").into_bytes();
                barrier.wait().await;
                (i, s.create_version(a.id, 1, nv, ev("secrets.update")).await)
            })
        })
        .collect();
    let mut winners = vec![];
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(meta)) => {
                assert_eq!(meta.version, 2);
                winners.push(i);
            }
            (_, Err(StoreError::Conflict(m))) => assert!(m.contains("stale base"), "{m}"),
            (_, Err(e)) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let latest = s.latest_version(a.id).await.unwrap().unwrap();
    assert_eq!(latest.meta.version, 2);
    assert_eq!(
        latest.ciphertext,
        format!("writer-{}", winners[0]).into_bytes()
    );
    assert_eq!(s.list_versions(a.id, None, 10).await.unwrap().len(), 2);
}

/// Saves that arrive together are committed as one group: each gets its version, the same
/// metadata a read gives back (the author's name included) and its audit row; a shared
/// document's version moves the environments that include it on once; of several saves on one
/// base, one wins and the others are refused as stale.
async fn a_group_of_saves_is_each_saved_audited_and_announced(db: TestDb) {
    let s = db.store.clone();
    let ann = user(&*s, "ann", Role::Owner).await;
    let mut targets = Vec::new();
    for i in 0..12 {
        targets.push(app(&*s, &format!("app-{i}"), None).await);
    }
    let doc = shared(&*s, "common").await;
    targets.push(doc.clone());
    let web = app(&*s, "web", None).await;
    s.set_includes(web.id, vec![doc.id], ev("env.includes"))
        .await
        .unwrap();
    let rev_before = s.get_environment(web.id).await.unwrap().shared_rev;
    let race = app(&*s, "race", None).await;
    let racers = 4;
    let barrier = Arc::new(tokio::sync::Barrier::new(targets.len() + racers));
    let saves: Vec<_> = targets
        .iter()
        .map(|target| (target.id, version(1, Some(ann.id))))
        .chain((0..racers).map(|i| {
            let mut nv = version(1, None);
            nv.ciphertext = format!("racer-{i}").into_bytes();
            (race.id, nv)
        }))
        .map(|(env_id, nv)| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.create_version(env_id, 0, nv, ev("secrets.group")).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in saves {
        answers.push(task.await.unwrap());
    }
    let (mine, raced) = answers.split_at(targets.len());
    for (target, answer) in targets.iter().zip(mine) {
        let meta = answer.as_ref().unwrap();
        assert_eq!((meta.app_id, meta.version), (target.id, 1));
        assert_eq!(meta.author_name.as_deref(), Some("ann"));
        let read = s.latest_version(target.id).await.unwrap().unwrap();
        assert_eq!(
            &read.meta, meta,
            "what the save answered is what a read gives"
        );
    }
    assert_eq!(raced.iter().filter(|a| a.is_ok()).count(), 1, "{raced:?}");
    for refused in raced.iter().filter_map(|a| a.as_ref().err()) {
        let StoreError::Conflict(m) = refused else {
            panic!("{refused:?}")
        };
        assert!(m.contains("stale base"), "{m}");
    }
    assert_eq!(
        audit_rows(&*s, Some("secrets.group")).await.len(),
        targets.len() + 1,
        "one audit row for each version saved"
    );
    assert_eq!(
        s.get_environment(web.id).await.unwrap().shared_rev,
        rev_before + 1
    );
}

// ---------------------------------------------------------------------------------------------
// Master-key rotation
// ---------------------------------------------------------------------------------------------

async fn rewrap_is_compare_and_set(db: TestDb) {
    let s = &*db.store;
    let a = app(s, "one", None).await;
    let b = app(s, "two", None).await;
    let keys = s.app_keys().await.unwrap();
    let (first, second) = if a.id < b.id { (&a, &b) } else { (&b, &a) };
    assert_eq!(
        keys,
        vec![
            AppKey {
                app_id: first.id,
                key_id: "key-one".into(),
                wrapped_key: first.wrapped_key.clone()
            },
            AppKey {
                app_id: second.id,
                key_id: "key-one".into(),
                wrapped_key: second.wrapped_key.clone()
            },
        ]
    );
    let new = AppKey {
        app_id: a.id,
        key_id: "key-two".into(),
        wrapped_key: vec![7; 73],
    };
    s.rewrap_app_key(a.id, "key-one", new.clone())
        .await
        .unwrap();
    let got = s.get_app(a.id).await.unwrap();
    assert_eq!(got.key_id, "key-two");
    assert_eq!(got.wrapped_key, vec![7; 73]);

    // A second rotation racing with the first, still expecting the old key: refused, unchanged.
    let msg = conflict_message(
        s.rewrap_app_key(
            a.id,
            "key-one",
            AppKey {
                app_id: a.id,
                key_id: "key-three".into(),
                wrapped_key: vec![3; 73],
            },
        )
        .await,
    );
    assert!(msg.contains("key-one"), "{msg}");
    assert_eq!(s.get_app(a.id).await.unwrap().key_id, "key-two");
    assert_eq!(s.get_app(b.id).await.unwrap().key_id, "key-one");
    assert_not_found(
        s.rewrap_app_key(
            b.id + 1000,
            "key-one",
            AppKey {
                app_id: b.id + 1000,
                ..new
            },
        )
        .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------

/// Instance ids are the runner's word: a token holder inventing new ones replaces that
/// environment's oldest reports instead of growing the table (and every app list) without end.
async fn an_environment_keeps_its_newest_instances_only(db: TestDb) {
    let s = &*db.store;
    let a = app(s, "flooded", None).await;
    let b = app(s, "quiet", None).await;
    s.report_instance(running(b.id, "b-1", 1, T0))
        .await
        .unwrap();
    let cap = hush_store::MAX_INSTANCES;
    for i in 0..cap + 20 {
        s.report_instance(running(a.id, &format!("i-{i:04}"), 1, T0 + i))
            .await
            .unwrap();
    }
    let listed = s.list_instances(a.id, 0).await.unwrap();
    assert_eq!(listed.len() as i64, cap);
    assert_eq!(
        listed[0].instance_id,
        format!("i-{:04}", cap + 19),
        "newest first"
    );
    assert_eq!(
        listed.last().unwrap().instance_id,
        "i-0020",
        "the 20 oldest made room"
    );
    // An old instance reporting again is the newest, and another one makes room for it.
    s.report_instance(running(a.id, "i-0000", 2, T0 + cap + 100))
        .await
        .unwrap();
    let listed = s.list_instances(a.id, 0).await.unwrap();
    assert_eq!(listed.len() as i64, cap);
    assert_eq!(listed[0].instance_id, "i-0000");
    assert_eq!(listed.last().unwrap().instance_id, "i-0021");
    // Another environment's copies are untouched.
    assert_eq!(s.list_instances(b.id, 0).await.unwrap().len(), 1);
}

async fn instances_upsert_and_list(db: TestDb) {
    let s = &*db.store;
    let a = app(s, "run", None).await;
    let report = |id: &str, v: i64, at: Millis| InstanceReport {
        hostname: format!("{id}.local"),
        pid: Some(100),
        ..running(a.id, id, v, at)
    };
    s.report_instance(report("i-1", 1, T0)).await.unwrap();
    s.report_instance(report("i-2", 1, T0 + 10)).await.unwrap();
    s.report_instance(report("i-3", 1, T0 - 100)).await.unwrap();
    let mut again = report("i-1", 2, T0 + 20);
    again.status = InstanceStatus::Restarting;
    again.pid = None;
    s.report_instance(again.clone()).await.unwrap();

    // The parts of the revision, when a runner says them, come back as they were said; a
    // later report without them (an older runner) clears them.
    let mut parts = report("i-2", 1, T0 + 10);
    parts.applied = Some(AppliedVersions {
        version: 4,
        shared: vec![
            SharedVersion {
                name: "common-db".into(),
                version: 7,
            },
            SharedVersion {
                name: "api-keys".into(),
                version: 1,
            },
        ],
    });
    s.report_instance(parts.clone()).await.unwrap();
    assert_eq!(
        s.list_instances(a.id, T0 + 5).await.unwrap(),
        vec![again.clone(), parts]
    );
    s.report_instance(report("i-2", 1, T0 + 10)).await.unwrap();

    let listed = s.list_instances(a.id, T0).await.unwrap();
    assert_eq!(listed, vec![again, report("i-2", 1, T0 + 10)]);
    assert_eq!(s.list_instances(a.id, T0 - 1000).await.unwrap().len(), 3);
    assert!(s.list_instances(a.id, T0 + 21).await.unwrap().is_empty());
    assert_not_found(
        s.report_instance(InstanceReport {
            app_id: a.id + 1000,
            ..report("i-9", 1, T0)
        })
        .await,
    );
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

async fn audit_append_filter_page(db: TestDb) {
    let s = &*db.store;
    s.append_audit(vec![]).await.unwrap();
    s.append_audit(vec![
        audit(T0, "alice", "auth.login", None),
        audit(T0 + 1, "alice", "secrets.read", Some(1)),
        audit(T0 + 2, "bob", "secrets.update", Some(1)),
    ])
    .await
    .unwrap();
    s.append_audit(vec![
        audit(T0 + 3, "bob", "secrets.read", Some(2)),
        audit(T0 + 4, "alice", "secretsx.weird", Some(2)),
        audit(T0 + 5, "carol", "token.create", None),
    ])
    .await
    .unwrap();

    // Each filter, and the events it finds (by their offset from T0), newest first.
    let by_actor = |name: &str| AuditFilter {
        actor_name: Some(name.into()),
        ..Default::default()
    };
    let by_action = |action: &str| AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    let cases: Vec<(AuditFilter, Vec<Millis>)> = vec![
        (AuditFilter::default(), vec![5, 4, 3, 2, 1, 0]),
        (by_actor("alice"), vec![4, 1, 0]),
        (by_action("secrets.read"), vec![3, 1]),
        (by_action("secrets."), vec![3, 2, 1]),
        // Without the trailing '.', it is an exact action, not a prefix.
        (by_action("secrets"), vec![]),
        (
            AuditFilter {
                app_id: Some(2),
                ..Default::default()
            },
            vec![4, 3],
        ),
        (
            AuditFilter {
                since: Some(T0 + 1),
                until: Some(T0 + 3),
                ..Default::default()
            },
            vec![3, 2, 1],
        ),
        (
            AuditFilter {
                actor_name: Some("bob".into()),
                action: Some("secrets.".into()),
                app_id: Some(1),
                ..Default::default()
            },
            vec![2],
        ),
    ];
    for (filter, expected) in cases {
        let found = s
            .query_audit(AuditFilter {
                limit: 100,
                ..filter.clone()
            })
            .await
            .unwrap();
        let offsets: Vec<Millis> = found.iter().map(|r| r.event.at - T0).collect();
        assert_eq!(offsets, expected, "{filter:?}");
    }

    // Paging back by id.
    let page1 = s
        .query_audit(AuditFilter {
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.len(), 4);
    let page2 = s
        .query_audit(AuditFilter {
            limit: 4,
            before_id: Some(page1.last().unwrap().id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page2.iter().map(|r| r.event.at - T0).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(page1.windows(2).all(|w| w[0].id > w[1].id));

    // Every field comes back as written.
    let newest = &page1[0];
    assert_eq!(newest.event, audit(T0 + 5, "carol", "token.create", None));
    assert_eq!(newest.event.detail, json!({"at": T0 + 5}));

    // A limit of 0 means the default, not "nothing".
    assert_eq!(
        s.query_audit(AuditFilter::default()).await.unwrap().len(),
        6
    );
}

// ---------------------------------------------------------------------------------------------
// Events between servers
// ---------------------------------------------------------------------------------------------

async fn events_cross_servers(db: TestDb) {
    let s = db.store.clone();
    let a = app(&*s, "watched", None).await;
    let Some(mut events) = subscribe(&db).await else {
        return;
    };
    // A second server on the same database: its committed changes are heard here.
    let other = db.reopen().await;
    save(&*other, a.id, 1).await;
    // A refused change announces nothing.
    conflict_message(
        other
            .create_version(a.id, 0, version(1, None), ev("secrets.update"))
            .await,
    );
    let t = issued(
        &*other,
        token(TokenKind::App, "watched-token", None, Some(a.id)),
    )
    .await;
    other
        .revoke_token(t.id, T0, ev("token.revoke"))
        .await
        .unwrap();
    let u = user(&*s, "leaver", Role::Owner).await;
    s.delete_user_sessions(u.id, ev("auth.logout_all"))
        .await
        .unwrap();

    let expected = [
        StoreEvent::NewVersion {
            app_id: a.id,
            version: 1,
        },
        StoreEvent::TokenRevoked { token_id: t.id },
        // Including this server's own events.
        StoreEvent::SessionsRevoked { user_id: u.id },
    ];
    for event in expected {
        assert_eq!(next_event(&mut events).await, event);
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Everything arrives: export from one store, import into an empty one (the same backend, and
/// SQLite to PostgreSQL), ids kept, new ids after them, ciphertext untouched.
async fn export_import_copies_everything(db: TestDb) {
    let s = &*db.store;
    let owner = user(s, "exporter", Role::Owner).await;
    let editor = user(s, "helper", Role::Editor).await;
    let a = app(s, "copied", Some(owner.id)).await;
    for n in 1..=3 {
        s.create_version(
            a.id,
            n - 1,
            version(n, Some(editor.id)),
            ev("secrets.update"),
        )
        .await
        .unwrap();
    }
    issued(
        s,
        token(TokenKind::App, "copied-prod", Some(owner.id), Some(a.id)),
    )
    .await;
    s.create_session(new_session("copied-session", owner.id, T0 + 10))
        .await
        .unwrap();
    s.report_instance(running(a.id, "i-1", 3, T0))
        .await
        .unwrap();
    let audit_before = audit_rows(s, None).await;

    let mut targets: Vec<(String, Arc<dyn Store>, Option<TestDb>)> = Vec::new();
    let sqlite = sqlite_db().await;
    targets.push(("sqlite".into(), sqlite.store.clone(), Some(sqlite)));
    if let Some(pg) = postgres_db("export_import_copies_everything").await {
        targets.push(("postgres".into(), pg.store.clone(), Some(pg)));
    }
    for (label, target, _keep) in targets {
        let written = target.import(s.export().await.unwrap()).await.unwrap();
        assert!(written >= 10, "{label}: {written} rows");
        assert_eq!(
            target.list_users().await.unwrap(),
            s.list_users().await.unwrap(),
            "{label}"
        );
        assert_eq!(target.find_app("copied").await.unwrap(), a, "{label}");
        assert_eq!(
            target.list_versions(a.id, None, 10).await.unwrap(),
            s.list_versions(a.id, None, 10).await.unwrap(),
            "{label}"
        );
        assert_eq!(
            target.get_version(a.id, 2).await.unwrap(),
            s.get_version(a.id, 2).await.unwrap()
        );
        assert_eq!(
            target.find_token(&hash("copied-prod")).await.unwrap(),
            s.find_token(&hash("copied-prod")).await.unwrap()
        );
        assert_eq!(
            target.find_session(&hash("copied-session")).await.unwrap(),
            s.find_session(&hash("copied-session")).await.unwrap()
        );
        assert_eq!(target.list_instances(a.id, 0).await.unwrap().len(), 1);
        assert_eq!(audit_rows(&*target, None).await, audit_before, "{label}");
        // New rows get ids after the copied ones; the name rules hold in the copy.
        let newer = user(&*target, "newcomer", Role::Viewer).await;
        assert!(newer.id > editor.id, "{label}");
        let taken = target
            .create_invite(
                invite("copy-dup", InviteKind::Invite, Role::Viewer, T0 + 10),
                ev("member.invite"),
            )
            .await;
        assert!(taken.is_ok());
        conflict_message(
            target
                .accept_invite(
                    &hash("copy-dup"),
                    T0,
                    new_user("HELPER"),
                    ev("member.joined"),
                )
                .await,
        );
        // A second import into a database that holds data is refused, and changes nothing.
        let msg = conflict_message(target.import(s.export().await.unwrap()).await);
        assert!(msg.contains("not empty"), "{label}: {msg}");
        assert_eq!(target.user_count().await.unwrap(), 3);
    }
}

async fn sweep_removes_only_dead_rows(db: TestDb) {
    let s = &*db.store;
    let u = user(s, "sweeper", Role::Owner).await;
    let a = app(s, "swept", None).await;
    let session = |h: &str, seen: Millis, end: Millis| NewSession {
        token_hash: hash(h),
        user_id: u.id,
        created_at: seen,
        expires_at: end,
    };
    s.create_session(session("alive", T0, T0 + 10_000))
        .await
        .unwrap();
    s.create_session(session("ended", T0 - 20_000, T0 - 1))
        .await
        .unwrap();
    s.create_session(session("idle", T0 - 20_000, T0 + 10_000))
        .await
        .unwrap();
    s.create_invite(
        invite("fresh", InviteKind::Invite, Role::Viewer, T0 + 100),
        ev("member.invite"),
    )
    .await
    .unwrap();
    s.create_invite(
        invite("stale", InviteKind::Invite, Role::Viewer, T0 - 1),
        ev("member.invite"),
    )
    .await
    .unwrap();
    for (id, at) in [("recent", T0), ("gone", T0 - 100_000)] {
        s.report_instance(running(a.id, id, 0, at)).await.unwrap();
    }
    let audit_count = audit_rows(s, None).await.len();
    let report = s
        .sweep(SweepPolicy {
            now: T0,
            sessions_idle_before: T0 - 10_000,
            instances_before: T0 - 50_000,
        })
        .await
        .unwrap();
    assert_eq!(
        report,
        SweepReport {
            sessions: 2,
            invites: 1,
            instances: 1
        }
    );
    assert!(s.find_session(&hash("alive")).await.is_ok());
    assert_not_found(s.find_session(&hash("idle")).await);
    assert!(s.find_invite(&hash("fresh"), T0).await.is_ok());
    assert_eq!(s.list_instances(a.id, 0).await.unwrap().len(), 1);
    assert_eq!(
        audit_rows(s, None).await.len(),
        audit_count,
        "audit events are kept"
    );
}

/// A change and its audit event are one transaction; refused changes leave no event; many
/// concurrent saves share commits and each is answered for itself.
async fn changes_carry_their_audit_event(db: TestDb) {
    let s = db.store.clone();
    let apps: Vec<App> = {
        let mut v = Vec::new();
        for i in 0..8 {
            v.push(app(&*s, &format!("grouped-{i}"), None).await);
        }
        v
    };
    let mut tasks = Vec::new();
    for (i, a) in apps.iter().enumerate() {
        for n in 1..=5i64 {
            let (s, id) = (s.clone(), a.id);
            // Each app gets five saves racing on base 0: exactly one wins per app.
            tasks.push(tokio::spawn(async move {
                let mut event = ev("secrets.update");
                event.app_id = Some(id);
                event.detail = json!({ "writer": n, "app": i });
                s.create_version(id, 0, version(1, None), event).await
            }));
        }
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, apps.len(), "one winner per app");
    let updates = audit_rows(&*s, Some("secrets.update")).await;
    assert_eq!(
        updates.len(),
        apps.len(),
        "an audit event for each saved version, none for refusals"
    );
    assert_eq!(s.write_health(), WriteHealth::Ok);
    s.probe_write(T0).await.unwrap();
}

/// Saves refused for their own reasons (a stale base, an environment that does not exist)
/// among saves that succeed, all at once so that the writer runs them in shared transactions:
/// every good save is there with its audit event and its announcement, the refused ones left
/// nothing, and the writer goes on.
async fn refused_saves_in_a_group_leave_the_others_intact(db: TestDb) {
    let s = db.store.clone();
    let mut apps = Vec::new();
    for i in 0..6 {
        let a = app(&*s, &format!("mixed-{i}"), None).await;
        save(&*s, a.id, 1).await;
        apps.push(a.id);
    }
    // PostgreSQL announces each save to the other servers (SQLite has one server).
    let mut events = subscribe(&db).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(apps.len() * 3));
    let mut tasks = Vec::new();
    for &id in &apps {
        // A good save, a stale one and one for an environment nobody has, per app.
        for (kind, target, base, n) in [
            ("good", id, 1, 2),
            ("stale", id, 0, 1),
            ("missing", id + 1_000_000, 1, 2),
        ] {
            let (s, barrier) = (s.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let mut event = ev("secrets.update");
                event.detail = json!({ "kind": kind, "app": id });
                barrier.wait().await;
                let result = s
                    .create_version(target, base, version(n, None), event)
                    .await;
                (kind, result)
            }));
        }
    }
    for task in tasks {
        match task.await.unwrap() {
            ("good", result) => assert_eq!(result.unwrap().version, 2),
            ("stale", result) => assert!(
                matches!(&result, Err(StoreError::Conflict(m)) if m.contains("stale base")),
                "{result:?}"
            ),
            (_, result) => assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}"),
        }
    }
    for &id in &apps {
        let versions = s.list_versions(id, None, 10).await.unwrap();
        assert_eq!(versions.len(), 2, "versions 1 and 2, nothing else");
        assert_eq!(
            s.latest_version(id).await.unwrap().unwrap().ciphertext,
            b"ciphertext-2"
        );
    }
    let updates = audit_rows(&*s, Some("secrets.update")).await;
    let kinds: Vec<&str> = updates
        .iter()
        .filter_map(|e| e.event.detail["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        vec!["good"; apps.len()],
        "only the good saves' events"
    );
    if let Some(events) = &mut events {
        let mut announced = Vec::new();
        while announced.len() < apps.len() {
            match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
                Ok(Some(Ok(StoreEvent::NewVersion { app_id, version: 2 }))) => {
                    announced.push(app_id)
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("an announcement is missing: {other:?} after {announced:?}"),
            }
        }
        announced.sort();
        let mut expected = apps.clone();
        expected.sort();
        assert_eq!(announced, expected);
    }
    assert_eq!(s.write_health(), WriteHealth::Ok);
    save(&*s, apps[0], 3).await;
}

async fn reopen_keeps_data(db: TestDb) {
    let u = user(&*db.store, "lee", Role::Owner).await;
    let a = app(&*db.store, "persist", Some(u.id)).await;
    db.store
        .create_version(a.id, 0, version(1, Some(u.id)), ev("secrets.update"))
        .await
        .unwrap();
    // Opening again runs the migrations again: nothing changes, nothing is lost.
    let again = db.reopen().await;
    assert_eq!(again.get_user(u.id).await.unwrap(), u);
    assert_eq!(again.find_app("persist").await.unwrap(), a);
    assert_eq!(
        again
            .latest_version(a.id)
            .await
            .unwrap()
            .unwrap()
            .meta
            .author_name
            .as_deref(),
        Some("lee")
    );
}

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_url_schemes_are_refused_with_the_accepted_ones() {
    for url in ["mysql://x", "sqlite-typo", "postgre://u@h/db", "hush.db"] {
        match connect(url).await {
            Err(StoreError::Config(m)) => {
                assert!(m.contains("sqlite://"), "{url}: {m}");
                assert!(m.contains("postgres://"), "{url}: {m}");
            }
            Err(e) => panic!("{url}: expected Config, got {e:?}"),
            Ok(_) => panic!("{url}: expected Config, got a store"),
        }
    }
    // Nothing was created by the typos.
    assert!(!std::path::Path::new("sqlite-typo").exists());
}

#[tokio::test]
async fn in_memory_sqlite_is_refused() {
    match connect("sqlite::memory:").await {
        Err(StoreError::Config(m)) => assert!(m.contains("sqlite://PATH"), "{m}"),
        Err(e) => panic!("expected Config, got {e:?}"),
        Ok(_) => panic!("expected Config, got a store"),
    }
}

#[tokio::test]
async fn postgres_url_errors_do_not_repeat_the_password() {
    // Nothing listens on port 1.
    let url = "postgres://hush:hunter2-password@127.0.0.1:1/hush";
    match connect(url).await {
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        Ok(_) => panic!("connected to port 1?"),
    }
}

// ---------------------------------------------------------------------------------------------
// Identity: per-app roles, workload trusts
// ---------------------------------------------------------------------------------------------

async fn app_roles_override_and_cascade(db: TestDb) {
    let s = &*db.store;
    let owner = user(s, "boss", Role::Owner).await;
    let viewer = user(s, "vera", Role::Viewer).await;
    let web = app(s, "web", None).await;
    let billing = app(s, "billing", None).await;
    assert_eq!(s.app_role(viewer.id, web.id).await.unwrap(), None);
    let before = grant(s, viewer.id, web.id, AppRole::Editor, T0).await;
    assert_eq!(before, None);
    grant(s, viewer.id, billing.id, AppRole::None, T0).await;
    // Setting again replaces, and says what it replaced.
    let before = grant(s, viewer.id, web.id, AppRole::Viewer, T0 + 1).await;
    assert_eq!(before, Some(AppRole::Editor));
    grant(s, viewer.id, web.id, AppRole::Editor, T0 + 2).await;
    assert_eq!(
        s.app_role(viewer.id, web.id).await.unwrap(),
        Some(AppRole::Editor)
    );
    let grants = s.list_app_roles(Some(viewer.id), None).await.unwrap();
    let shown: Vec<(&str, AppRole)> = grants
        .iter()
        .map(|g| (g.app_name.as_str(), g.role))
        .collect();
    assert_eq!(
        shown,
        [("billing", AppRole::None), ("web", AppRole::Editor)]
    );
    assert_eq!(grants[1].user_name, "vera");
    assert_eq!(s.list_app_roles(None, Some(web.id)).await.unwrap().len(), 1);
    assert_eq!(
        effective_role(viewer.role, Some(AppRole::None)),
        None,
        "none hides the app"
    );
    assert_eq!(
        effective_role(Role::Owner, Some(AppRole::None)),
        Some(Role::Owner)
    );

    // Owners have every app: no per-app role for them, and nothing is written.
    let msg = conflict_message(
        s.set_app_role(owner.id, web.id, AppRole::Viewer, T0, ev("member.app_role"))
            .await,
    );
    assert!(msg.contains("owner"), "{msg}");
    assert_eq!(s.app_role(owner.id, web.id).await.unwrap(), None);
    // Unknown member or app.
    assert_not_found(
        s.set_app_role(9_999, web.id, AppRole::Viewer, T0, ev("member.app_role"))
            .await,
    );
    assert_not_found(
        s.set_app_role(
            viewer.id,
            12_345,
            AppRole::Viewer,
            T0,
            ev("member.app_role"),
        )
        .await,
    );
    // A sender who is no longer an owner changes nothing.
    let demoted = AuditEvent {
        actor_id: Some(viewer.id),
        ..ev("member.app_role")
    };
    conflict_message(
        s.set_app_role(viewer.id, web.id, AppRole::None, T0, demoted)
            .await,
    );
    assert_eq!(
        s.app_role(viewer.id, web.id).await.unwrap(),
        Some(AppRole::Editor)
    );

    // Removing gives the workspace role back; removing twice is NotFound.
    assert_eq!(
        s.remove_app_role(viewer.id, web.id, ev("member.app_role_remove"))
            .await
            .unwrap(),
        AppRole::Editor
    );
    assert_eq!(s.app_role(viewer.id, web.id).await.unwrap(), None);
    assert_not_found(
        s.remove_app_role(viewer.id, web.id, ev("member.app_role_remove"))
            .await,
    );

    // Deleting the app or the member takes their roles with them.
    s.delete_app(billing.id, by_system("app.delete"))
        .await
        .unwrap();
    assert!(
        s.list_app_roles(Some(viewer.id), None)
            .await
            .unwrap()
            .is_empty()
    );
    grant(s, viewer.id, web.id, AppRole::Viewer, T0).await;
    s.delete_user(viewer.id, ev("member.remove")).await.unwrap();
    assert!(
        s.list_app_roles(None, Some(web.id))
            .await
            .unwrap()
            .is_empty()
    );
    // Each change carried its audit row.
    let rows = audit_rows(s, Some("member.app_role")).await;
    assert_eq!(rows.len(), 5);
}

async fn app_role_none_is_announced(db: TestDb) {
    let s = db.store.clone();
    user(&*s, "boss", Role::Owner).await;
    let member = user(&*s, "ed", Role::Editor).await;
    let web = app(&*s, "web", None).await;
    let Some(mut events) = subscribe(&db).await else {
        return;
    };
    let other = db.reopen().await;
    // Viewer keeps access: nothing to announce; none does.
    grant(&*other, member.id, web.id, AppRole::Viewer, T0).await;
    grant(&*other, member.id, web.id, AppRole::None, T0).await;
    assert_eq!(
        next_event(&mut events).await,
        StoreEvent::AppAccessRevoked {
            user_id: member.id,
            app_id: web.id
        }
    );
}

async fn workload_trusts_and_jti_replay(db: TestDb) {
    let s = &*db.store;
    let web = app(s, "web", None).await;
    let api = app(s, "api", None).await;
    let conditions: std::collections::BTreeMap<String, String> = [
        ("repository".to_string(), "acme/*".to_string()),
        ("ref".to_string(), "refs/heads/main".to_string()),
    ]
    .into();
    let trust = s
        .add_workload_trust(
            NewWorkloadTrust {
                app_id: web.id,
                issuer: "https://token.actions.example".into(),
                jwks_url: None,
                audience: "hush".into(),
                conditions: conditions.clone(),
                ttl_seconds: 900,
                created_at: T0,
            },
            ev("workload.trust_add"),
        )
        .await
        .unwrap();
    assert_eq!(
        s.list_workload_trusts(web.id).await.unwrap(),
        std::slice::from_ref(&trust)
    );
    assert!(s.list_workload_trusts(api.id).await.unwrap().is_empty());
    assert_eq!(trust.conditions, conditions);
    // Another app's id does not remove it.
    assert_not_found(
        s.remove_workload_trust(api.id, trust.id, ev("workload.trust_remove"))
            .await,
    );
    // Missing app.
    assert_not_found(
        s.add_workload_trust(
            NewWorkloadTrust {
                app_id: 77,
                issuer: "https://x".into(),
                jwks_url: Some("https://x/jwks".into()),
                audience: "hush".into(),
                conditions: Default::default(),
                ttl_seconds: 60,
                created_at: T0,
            },
            ev("workload.trust_add"),
        )
        .await,
    );

    // A token id is used once; a second use is a Conflict; other issuers are separate.
    s.use_workload_jti("https://a", "j-1", T0 + 1_000, T0)
        .await
        .unwrap();
    conflict_message(s.use_workload_jti("https://a", "j-1", T0 + 1_000, T0).await);
    s.use_workload_jti("https://b", "j-1", T0 + 1_000, T0)
        .await
        .unwrap();
    // Two at once: exactly one wins.
    let (x, y) = tokio::join!(
        s.use_workload_jti("https://a", "j-2", T0 + 1_000, T0),
        s.use_workload_jti("https://a", "j-2", T0 + 1_000, T0)
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one use wins: {x:?} {y:?}");
    // Once the token has expired its id is forgotten (the token itself is refused by then).
    s.use_workload_jti("https://a", "j-1", T0 + 5_000, T0 + 2_000)
        .await
        .unwrap();

    s.delete_app(web.id, by_system("app.delete")).await.unwrap();
    assert!(s.list_workload_trusts(web.id).await.unwrap().is_empty());
}

async fn identity_rows_are_exported(db: TestDb) {
    let s = &*db.store;
    user(s, "boss", Role::Owner).await;
    let v = user(s, "vic", Role::Viewer).await;
    let web = app(s, "web", None).await;
    grant(s, v.id, web.id, AppRole::None, T0).await;
    let trust = s
        .add_workload_trust(
            NewWorkloadTrust {
                app_id: web.id,
                issuer: "https://issuer".into(),
                jwks_url: Some("https://issuer/keys".into()),
                audience: "hush".into(),
                conditions: [("sub".to_string(), "repo:*".to_string())].into(),
                ttl_seconds: 900,
                created_at: T0,
            },
            ev("workload.trust_add"),
        )
        .await
        .unwrap();
    let copy = sqlite_copy(s).await;
    let target = &*copy.store;
    assert_eq!(
        target.app_role(v.id, web.id).await.unwrap(),
        Some(AppRole::None)
    );
    assert_eq!(target.list_workload_trusts(web.id).await.unwrap(), [trust]);
}

// ---------------------------------------------------------------------------------------------
// Environments and shared documents
// ---------------------------------------------------------------------------------------------

fn new_env(app: &App, name: &str) -> NewEnvironment {
    NewEnvironment {
        id: new_app_id(),
        app_id: app.id,
        name: name.into(),
        created_at: T0,
    }
}

/// Environment `name` of `app`, created.
async fn environment(s: &dyn Store, app: &App, name: &str) -> Environment {
    s.create_environment(new_env(app, name), ev("env.create"))
        .await
        .unwrap()
}

async fn shared(s: &dyn Store, name: &str) -> App {
    let new = NewApp {
        wrapped_key: vec![9, 9, name.len() as u8],
        ..new_app(name)
    };
    s.create_shared_doc(new, ev("shared.create")).await.unwrap()
}

async fn environments_have_their_own_history_and_tokens(db: TestDb) {
    let s = &*db.store;
    let web = app(s, "web", None).await;
    // A new app has production, whose id is the app's own (routes without an environment).
    let envs = s.list_environments(web.id).await.unwrap();
    assert_eq!(envs.len(), 1);
    assert_eq!((envs[0].id, envs[0].name.as_str()), (web.id, PRODUCTION));

    let staging = environment(s, &web, "staging").await;
    assert_eq!(staging.app_id, web.id);
    assert_eq!(staging.shared_rev, 0);
    let m = conflict_message(
        s.create_environment(new_env(&web, "staging"), ev("env.create"))
            .await,
    );
    assert!(m.contains("staging"), "{m}");
    for bad in ["", "Staging", "-x", "a/b", "a b", &"x".repeat(64)] {
        let m = conflict_message(
            s.create_environment(new_env(&web, bad), ev("env.create"))
                .await,
        );
        assert!(m.contains("lowercase letters"), "{bad:?}: {m}");
    }
    assert_not_found(
        s.create_environment(
            NewEnvironment {
                app_id: 42,
                ..new_env(&web, "dev")
            },
            ev("env.create"),
        )
        .await,
    );
    let found = s.find_environment(web.id, "staging").await.unwrap();
    assert_eq!(found, staging);
    assert_eq!(s.get_environment(staging.id).await.unwrap(), staging);
    assert_not_found(s.find_environment(web.id, "nope").await);
    let envs = s.list_environments(web.id).await.unwrap();
    let env_names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(env_names, ["production", "staging"]);

    // Each environment has its own numbering and its own conflicts.
    save(s, web.id, 1).await;
    save(s, web.id, 2).await;
    save(s, staging.id, 1).await;
    let m = conflict_message(
        s.create_version(staging.id, 0, version(1, None), ev("secrets.update"))
            .await,
    );
    assert!(m.contains("stale base version 0"), "{m}");
    assert_eq!(newest_version(s, web.id).await, 2);
    assert_eq!(newest_version(s, staging.id).await, 1);
    assert_eq!(
        s.list_versions(staging.id, None, 10).await.unwrap().len(),
        1
    );

    // A token is bound to one environment; listing by app finds every environment's tokens.
    let prod_token = issued(s, token(TokenKind::App, "prod-runner", None, Some(web.id))).await;
    let staging_token = issued(
        s,
        token(TokenKind::App, "staging-runner", None, Some(staging.id)),
    )
    .await;
    assert_eq!(
        s.find_token(&hash("staging-runner")).await.unwrap().app_id,
        Some(staging.id)
    );
    let listed = s
        .list_tokens(TokenFilter {
            app_id: Some(web.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [prod_token.id, staging_token.id]
    );
    s.report_instance(running(staging.id, "i-1", 1, T0))
        .await
        .unwrap();

    // Production cannot go; staging goes with its versions, tokens and reports.
    let m = conflict_message(s.delete_environment(web.id, by_system("env.delete")).await);
    assert!(m.contains("production"), "{m}");
    let gone = s
        .delete_environment(staging.id, by_system("env.delete"))
        .await
        .unwrap();
    assert_eq!(gone.name, "staging");
    assert!(s.latest_version(staging.id).await.unwrap().is_none());
    assert_not_found(s.find_token(&hash("staging-runner")).await);
    assert!(s.list_instances(staging.id, 0).await.unwrap().is_empty());
    assert_eq!(newest_version(s, web.id).await, 2, "production untouched");
    assert_not_found(
        s.delete_environment(staging.id, by_system("env.delete"))
            .await,
    );

    // Deleting the app takes its environments.
    let dev = environment(s, &web, "dev").await;
    s.delete_app(web.id, by_system("app.delete")).await.unwrap();
    assert_not_found(s.get_environment(dev.id).await);
    assert!(s.list_environments(web.id).await.unwrap().is_empty());
}

async fn shared_documents_and_includes(db: TestDb) {
    let s = &*db.store;
    let web = app(s, "web", None).await;
    let api = app(s, "api", None).await;
    let staging = environment(s, &web, "staging").await;
    let db_doc = shared(s, "common-db").await;
    let keys = shared(s, "api-keys").await;

    // Names are shared with apps; shared documents are not apps.
    let m = conflict_message(
        s.create_shared_doc(new_app("web"), ev("shared.create"))
            .await,
    );
    assert!(m.contains("\"web\""), "{m}");
    assert_not_found(s.find_app("common-db").await);
    assert_eq!(
        s.list_apps()
            .await
            .unwrap()
            .iter()
            .map(|(a, _)| a.name.as_str())
            .collect::<Vec<_>>(),
        ["api", "web"]
    );
    assert_eq!(s.find_shared_doc("common-db").await.unwrap().id, db_doc.id);
    assert_not_found(s.find_shared_doc("web").await);
    assert_eq!(
        s.list_shared_docs()
            .await
            .unwrap()
            .iter()
            .map(|(d, v)| (d.name.as_str(), v.is_some()))
            .collect::<Vec<_>>(),
        [("api-keys", false), ("common-db", false)]
    );
    // Its data key is rotated with the apps'.
    assert!(
        s.app_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.app_id == db_doc.id)
    );

    // Includes: ordered, each at most once, only shared documents, only into app environments.
    let env = s
        .set_includes(staging.id, vec![keys.id, db_doc.id], ev("env.includes"))
        .await
        .unwrap();
    assert_eq!(env.shared_rev, 1, "setting the includes bumps the revision");
    let included = s.includes(staging.id).await.unwrap();
    let included_names: Vec<&str> = included.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(included_names, ["api-keys", "common-db"]);
    s.set_includes(api.id, vec![db_doc.id], ev("env.includes"))
        .await
        .unwrap();
    let m = conflict_message(
        s.set_includes(web.id, vec![db_doc.id, db_doc.id], ev("env.includes"))
            .await,
    );
    assert!(m.contains("twice"), "{m}");
    assert_not_found(
        s.set_includes(web.id, vec![api.id], ev("env.includes"))
            .await,
    );
    assert_not_found(
        s.set_includes(web.id, vec![424242], ev("env.includes"))
            .await,
    );
    let m = conflict_message(
        s.set_includes(db_doc.id, vec![keys.id], ev("env.includes"))
            .await,
    );
    assert!(m.contains("cannot include"), "{m}");
    assert!(
        s.includes(web.id).await.unwrap().is_empty(),
        "refusals change nothing"
    );
    assert!(s.includes(db_doc.id).await.unwrap().is_empty());

    // A shared document's own history, and the including environments' revisions grow.
    let (meta, users) = s
        .create_shared_version(db_doc.id, 0, version(1, None), ev("shared.update"))
        .await
        .unwrap();
    assert_eq!(meta.version, 1);
    assert_eq!(
        users.iter().map(IncludingEnv::label).collect::<Vec<_>>(),
        ["api/production", "web/staging"]
    );
    assert_eq!(users[1].env.shared_rev, 2);
    assert_eq!(users[0].env.shared_rev, 2);
    let m = conflict_message(
        s.create_shared_version(db_doc.id, 0, version(1, None), ev("shared.update"))
            .await,
    );
    assert!(m.contains("stale base"), "{m}");
    assert_not_found(
        s.create_shared_version(web.id, 0, version(1, None), ev("shared.update"))
            .await,
    );
    s.create_shared_version(keys.id, 0, version(1, None), ev("shared.update"))
        .await
        .unwrap();
    assert_eq!(s.get_environment(staging.id).await.unwrap().shared_rev, 3);
    assert_eq!(s.get_environment(api.id).await.unwrap().shared_rev, 2);
    assert_eq!(s.list_versions(db_doc.id, None, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.get_version(db_doc.id, 1).await.unwrap().ciphertext,
        b"ciphertext-1"
    );

    // A document still included cannot be deleted; the message names who includes it.
    let m = conflict_message(
        s.delete_shared_doc(db_doc.id, by_system("shared.delete"))
            .await,
    );
    assert!(
        m.contains("api/production") && m.contains("web/staging"),
        "{m}"
    );
    assert!(s.find_shared_doc("common-db").await.is_ok());
    s.set_includes(staging.id, vec![keys.id], ev("env.includes"))
        .await
        .unwrap();
    s.delete_app(api.id, by_system("app.delete")).await.unwrap();
    assert!(s.including(db_doc.id).await.unwrap().is_empty());
    s.delete_shared_doc(db_doc.id, by_system("shared.delete"))
        .await
        .unwrap();
    assert_not_found(s.find_shared_doc("common-db").await);
    assert!(s.latest_version(db_doc.id).await.unwrap().is_none());
    assert_not_found(
        s.delete_shared_doc(db_doc.id, by_system("shared.delete"))
            .await,
    );
    assert_not_found(
        s.delete_shared_doc(web.id, by_system("shared.delete"))
            .await,
    );
    // Deleting an environment takes its includes with it.
    s.delete_environment(staging.id, by_system("env.delete"))
        .await
        .unwrap();
    assert!(s.including(keys.id).await.unwrap().is_empty());
}

async fn export_import_copies_environments_and_includes(db: TestDb) {
    let s = &*db.store;
    let web = app(s, "web", None).await;
    let staging = environment(s, &web, "staging").await;
    let doc = shared(s, "common-db").await;
    s.set_includes(staging.id, vec![doc.id], ev("env.includes"))
        .await
        .unwrap();
    save(s, staging.id, 1).await;
    s.create_shared_version(doc.id, 0, version(1, None), ev("shared.update"))
        .await
        .unwrap();
    let copy = sqlite_copy(s).await;
    let t = &*copy.store;
    let copied = t.find_environment(web.id, "staging").await.unwrap();
    assert_eq!(copied, s.get_environment(staging.id).await.unwrap());
    assert_eq!(t.includes(staging.id).await.unwrap()[0].name, "common-db");
    assert_eq!(t.find_shared_doc("common-db").await.unwrap().id, doc.id);
    assert_not_found(t.find_app("common-db").await);
    assert_eq!(newest_version(t, staging.id).await, 1);
    assert_eq!(newest_version(t, doc.id).await, 1);
}

async fn shared_changes_reach_other_servers(db: TestDb) {
    let s = db.store.clone();
    let web = app(&*s, "web", None).await;
    let staging = environment(&*s, &web, "staging").await;
    let doc = shared(&*s, "common").await;
    let Some(mut events) = subscribe(&db).await else {
        return;
    };
    let other = db.reopen().await;
    other
        .set_includes(staging.id, vec![doc.id], ev("env.includes"))
        .await
        .unwrap();
    // A plain create_version of the document moves its including environments on too.
    other
        .create_version(doc.id, 0, version(1, None), ev("shared.update"))
        .await
        .unwrap();
    let expected = [
        StoreEvent::SharedChanged {
            env_id: staging.id,
            shared_rev: 1,
        },
        StoreEvent::NewVersion {
            app_id: doc.id,
            version: 1,
        },
        StoreEvent::SharedChanged {
            env_id: staging.id,
            shared_rev: 2,
        },
    ];
    for event in expected {
        assert_eq!(next_event(&mut events).await, event);
    }
}

async fn sso_links_are_one_to_one_cascade_and_are_exported(db: TestDb) {
    let s = &*db.store;
    user(s, "boss", Role::Owner).await;
    let alice = user(s, "alice@example.com", Role::Viewer).await;
    let bob = user(s, "bob@example.com", Role::Viewer).await;
    let link = |user_id: i64, subject: &str, email: &str| SsoIdentity {
        user_id,
        issuer: "https://id.example.com".into(),
        subject: subject.into(),
        email: email.into(),
        linked_at: T0,
    };
    assert_eq!(s.sso_identity_of(alice.id).await.unwrap(), None);
    s.link_sso_identity(link(alice.id, "a1", "alice@example.com"))
        .await
        .unwrap();
    // The same link again refreshes the email.
    s.link_sso_identity(link(alice.id, "a1", "alice@new.example.com"))
        .await
        .unwrap();
    let found = s
        .find_sso_identity("https://id.example.com", "a1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.email, "alice@new.example.com");
    assert_eq!(
        s.sso_identity_of(alice.id).await.unwrap(),
        Some(found.clone())
    );
    // One identity per member, one member per identity.
    assert!(matches!(
        s.link_sso_identity(link(bob.id, "a1", "bob@example.com"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.link_sso_identity(link(alice.id, "a2", "alice@example.com"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.sso_identity_of(bob.id).await.unwrap(), None);
    s.link_sso_identity(link(bob.id, "b1", "bob@example.com"))
        .await
        .unwrap();
    // Exported with everything else.
    let copy = sqlite_copy(s).await;
    let target = &*copy.store;
    assert_eq!(target.sso_identity_of(alice.id).await.unwrap(), Some(found));
    // A removed member's link goes with them.
    s.delete_user(bob.id, ev("member.remove")).await.unwrap();
    assert_eq!(
        s.find_sso_identity("https://id.example.com", "b1")
            .await
            .unwrap(),
        None
    );
}

fn throttle_key(label: &str, free: i64) -> ThrottleKey {
    ThrottleKey {
        hash: hush_crypto::token_hash(label),
        free,
    }
}

async fn sign_in_tries_are_taken_atomically_across_servers(db: TestDb) {
    let s = db.store.clone();
    let other = db.reopen().await;
    let (account, address) = (throttle_key("account", 5), throttle_key("address", 30));
    // 40 at once, half through each server: the free tries, no more.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = if i % 2 == 0 { s.clone() } else { other.clone() };
            tokio::spawn(async move { s.take_sign_in_try(vec![account, address], T0).await })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            TryTaken::Taken => taken += 1,
            TryTaken::Refused { key, until } => assert_eq!((key, until), (0, T0 + 1000)),
        }
    }
    assert_eq!(taken, 5);
    // The wait ends at its time, then doubles.
    assert_eq!(
        s.take_sign_in_try(vec![account], T0 + 999).await.unwrap(),
        TryTaken::Refused {
            key: 0,
            until: T0 + 1000
        }
    );
    assert_eq!(
        other
            .take_sign_in_try(vec![account], T0 + 1000)
            .await
            .unwrap(),
        TryTaken::Taken
    );
    assert_eq!(
        s.take_sign_in_try(vec![account], T0 + 1000).await.unwrap(),
        TryTaken::Refused {
            key: 0,
            until: T0 + 3000
        }
    );
    // Long quiet: the count starts over.
    let later = T0 + SIGN_IN_MAX_WAIT + 1001;
    for _ in 0..5 {
        assert_eq!(
            s.take_sign_in_try(vec![account], later).await.unwrap(),
            TryTaken::Taken
        );
    }

    // All keys or none: a refusal on the second takes nothing from the first.
    let (fresh, busy) = (throttle_key("fresh", 2), throttle_key("busy", 1));
    assert_eq!(
        s.take_sign_in_try(vec![fresh, busy], T0).await.unwrap(),
        TryTaken::Taken
    );
    assert_eq!(
        s.take_sign_in_try(vec![fresh, busy], T0).await.unwrap(),
        TryTaken::Refused {
            key: 1,
            until: T0 + 1000
        }
    );
    assert_eq!(
        s.take_sign_in_try(vec![fresh], T0).await.unwrap(),
        TryTaken::Taken
    );
    assert!(matches!(
        s.take_sign_in_try(vec![fresh], T0).await.unwrap(),
        TryTaken::Refused { key: 0, .. }
    ));
    // Given back and cleared.
    s.end_sign_in_try(vec![], vec![fresh.hash]).await.unwrap();
    assert_eq!(
        s.take_sign_in_try(vec![fresh], T0).await.unwrap(),
        TryTaken::Taken
    );
    s.end_sign_in_try(vec![fresh.hash], vec![]).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            s.take_sign_in_try(vec![fresh], T0).await.unwrap(),
            TryTaken::Taken
        );
    }
    // Swept: only counters whose last try is old.
    assert_eq!(
        s.forget_sign_in_tries(T0 + 1).await.unwrap(),
        3,
        "address, fresh and busy"
    );
    assert_eq!(
        s.forget_sign_in_tries(later + 1).await.unwrap(),
        1,
        "account"
    );
}

async fn sso_sign_ins_under_way_are_taken_once_across_servers(db: TestDb) {
    let s = db.store.clone();
    let other = db.reopen().await;
    let pending = |state: &str, at: Millis| PendingSsoSignIn {
        state_hash: hush_crypto::token_hash(state),
        sealed: format!("sealed {state}").into_bytes(),
        created_at: at,
        expires_at: at + 600_000,
    };
    s.put_sso_pending(pending("one", T0), 100).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { s.clone() } else { other.clone() };
            tokio::spawn(async move {
                s.take_sso_pending(hush_crypto::token_hash("one"), T0 + 1)
                    .await
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        if let Some(sealed) = t.await.unwrap().unwrap() {
            got.push(sealed);
        }
    }
    assert_eq!(got, vec![b"sealed one".to_vec()], "taken once");
    // Expired: not given, and gone.
    s.put_sso_pending(pending("late", T0), 100).await.unwrap();
    let expired = T0 + 600_000;
    assert_eq!(
        s.take_sso_pending(hush_crypto::token_hash("late"), expired)
            .await
            .unwrap(),
        None
    );
    // At most so many: the oldest go first.
    for i in 0..5 {
        s.put_sso_pending(pending(&format!("n{i}"), T0 + i), 3)
            .await
            .unwrap();
    }
    for (i, kept) in [(0, false), (1, false), (2, true), (3, true), (4, true)] {
        let taken = s
            .take_sso_pending(hush_crypto::token_hash(&format!("n{i}")), T0 + 10)
            .await
            .unwrap();
        assert_eq!(taken.is_some(), kept, "n{i}");
    }
    s.put_sso_pending(pending("swept", T0), 100).await.unwrap();
    assert_eq!(s.forget_sso_pending(expired).await.unwrap(), 1);

    // The CLI's one-time codes: once, on either server, within their minute.
    let member = user(s.as_ref(), "carol", Role::Viewer).await;
    let code = hush_crypto::token_hash("code");
    s.put_sso_cli_code(code, member.id, T0, T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(
        other.take_sso_cli_code(code, T0 + 1).await.unwrap(),
        Some(member.id)
    );
    assert_eq!(s.take_sso_cli_code(code, T0 + 2).await.unwrap(), None);
    s.put_sso_cli_code(code, member.id, T0, T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(
        s.take_sso_cli_code(code, T0 + 60_000).await.unwrap(),
        None,
        "expired"
    );
}
