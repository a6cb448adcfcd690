//! The SQL both backends run. Placeholders are `$N`, which PostgreSQL and SQLite both accept
//! (a number used twice is bound once). Backend-only statements (`pg_notify`, `VACUUM INTO`)
//! live in their backend's module.

macro_rules! user_cols {
    () => {
        "id, name, role, created_at"
    };
}
/// Invites with the inviter's current name; `FROM invites i LEFT JOIN users u`.
macro_rules! invite_select {
    () => {
        "SELECT i.id, i.kind, i.role, i.created_by, u.name AS created_by_name, i.created_at, \
         i.expires_at FROM invites i LEFT JOIN users u ON u.id = i.created_by "
    };
}
macro_rules! session_cols {
    () => {
        "id, user_id, created_at, last_seen_at, expires_at"
    };
}
macro_rules! token_cols {
    () => {
        "id, kind, name, prefix, user_id, app_id, created_at, expires_at, last_used_at, revoked_at"
    };
}
macro_rules! app_cols {
    () => {
        "id, name, created_at, created_by, wrapped_key, key_id, launch"
    };
}
/// Version metadata with the author's current name; `FROM versions v LEFT JOIN users u`.
macro_rules! version_meta_cols {
    () => {
        "v.app_id, v.version, v.author_id, u.name AS author_name, v.created_at, v.message, \
         v.summary, v.restored_from"
    };
}
macro_rules! version_from {
    () => {
        " FROM versions v LEFT JOIN users u ON u.id = v.author_id "
    };
}
macro_rules! instance_cols {
    () => {
        "app_id, instance_id, hostname, pid, applied_version, applied, status, reported_at"
    };
}
macro_rules! audit_cols {
    () => {
        "id, at, actor_kind, actor_id, actor_name, action, app_id, app_name, ip, outcome, detail"
    };
}

// ---- users ----
pub(crate) const USER_COUNT: &str = "SELECT COUNT(*) FROM users";
pub(crate) const OTHER_OWNERS: &str =
    "SELECT COUNT(*) FROM users WHERE role = 'owner' AND id <> $1";
pub(crate) const INSERT_USER: &str = "INSERT INTO users \
     (name, name_key, role, password_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub(crate) const NAME_KEY_TAKEN: &str = "SELECT COUNT(*) FROM users WHERE name_key = $1";
pub(crate) const GET_USER: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
pub(crate) const USER_CREDENTIALS: &str = concat!(
    "SELECT ",
    user_cols!(),
    ", password_hash FROM users WHERE name_key = $1"
);
pub(crate) const LIST_USERS: &str = concat!("SELECT ", user_cols!(), " FROM users ORDER BY id");
pub(crate) const SET_USER_ROLE: &str = "UPDATE users SET role = $2 WHERE id = $1";
pub(crate) const RESTORE_OWNER: &str = concat!(
    "UPDATE users SET role = 'owner' WHERE name_key = $1 RETURNING ",
    user_cols!()
);
pub(crate) const SET_USER_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";
/// App tokens the user created stay (their `user_id` is cleared by the foreign key).
pub(crate) const DELETE_USER_PERSONAL_TOKENS: &str =
    "DELETE FROM tokens WHERE user_id = $1 AND kind = 'personal'";
pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
/// Users created before names had keys (see the migration that added `name_key`).
pub(crate) const USERS_WITHOUT_NAME_KEY: &str =
    "SELECT id, name FROM users WHERE name_key IS NULL ORDER BY id";
pub(crate) const SET_NAME_KEY: &str = "UPDATE users SET name_key = $2 WHERE id = $1";

// ---- invites ----
pub(crate) const INSERT_INVITE: &str = "INSERT INTO invites \
     (token_hash, kind, role, created_by, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
pub(crate) const GET_INVITE: &str = concat!(invite_select!(), "WHERE i.id = $1");
pub(crate) const FIND_INVITE: &str = concat!(
    invite_select!(),
    "WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2"
);
/// One statement, so two concurrent uses of one link (even on two servers) cannot both succeed.
pub(crate) const USE_INVITE: &str =
    "UPDATE invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2";
pub(crate) const LIST_INVITES: &str = concat!(
    invite_select!(),
    "WHERE i.kind = 'invite' AND i.used_at IS NULL AND i.expires_at > $1 ORDER BY i.id DESC"
);
pub(crate) const DELETE_INVITE: &str =
    "DELETE FROM invites WHERE id = $1 AND kind = 'invite' AND used_at IS NULL";
pub(crate) const DELETE_SETUP_LINKS: &str = "DELETE FROM invites WHERE kind = 'setup'";
/// A member's unused invitations, when they leave or stop being an owner: a link they kept
/// must not bring anyone in on their behalf afterwards.
pub(crate) const DELETE_UNUSED_INVITES_BY: &str =
    "DELETE FROM invites WHERE created_by = $1 AND used_at IS NULL";

// ---- sessions ----
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (token_hash, user_id, created_at, last_seen_at, expires_at) \
     VALUES ($1, $2, $3, $3, $4) RETURNING id";
pub(crate) const FIND_SESSION: &str = concat!(
    "SELECT ",
    session_cols!(),
    " FROM sessions WHERE token_hash = $1"
);
pub(crate) const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen_at = $2 WHERE id = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1 RETURNING id";

// ---- tokens ----
pub(crate) const INSERT_TOKEN: &str = "INSERT INTO tokens \
     (kind, name, token_hash, prefix, user_id, app_id, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
pub(crate) const FIND_TOKEN: &str = concat!(
    "SELECT ",
    token_cols!(),
    " FROM tokens WHERE token_hash = $1"
);
pub(crate) const LIST_TOKENS: &str = concat!(
    "SELECT ",
    token_cols!(),
    " FROM tokens \
     WHERE ($1 IS NULL OR user_id = $1) \
     AND ($2 IS NULL OR app_id IN (SELECT id FROM environments WHERE app_id = $2)) \
     AND ($3 IS NULL OR kind = $3) ORDER BY id"
);
pub(crate) const GET_TOKEN: &str = concat!("SELECT ", token_cols!(), " FROM tokens WHERE id = $1");
/// Keeps the first revocation time when revoked twice.
pub(crate) const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
/// Never moves `last_used_at` backwards (batches may arrive out of order).
pub(crate) const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_at = $2 \
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

// ---- apps ----
pub(crate) const INSERT_APP: &str = "INSERT INTO apps \
     (id, name, created_at, created_by, wrapped_key, key_id, launch) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const APP_NAME_TAKEN: &str = "SELECT COUNT(*) FROM apps WHERE name = $1";
pub(crate) const GET_APP: &str = concat!("SELECT ", app_cols!(), " FROM apps WHERE id = $1");
/// Apps only: a shared document is an `apps` row of kind 'shared' (see `environments`).
pub(crate) const FIND_APP: &str = concat!(
    "SELECT ",
    app_cols!(),
    " FROM apps WHERE name = $1 AND kind = 'app'"
);
pub(crate) const APP_EXISTS: &str = "SELECT COUNT(*) FROM apps WHERE id = $1";
/// An app's environments other than production (whose id is the app's).
pub(crate) const OTHER_ENVIRONMENTS: &str =
    "SELECT id FROM environments WHERE app_id = $1 AND id <> $1";
pub(crate) const ENV_EXISTS: &str = "SELECT COUNT(*) FROM environments WHERE id = $1";
pub(crate) const LIST_APPS: &str = "SELECT a.id, a.name, a.created_at, a.created_by, \
     a.wrapped_key, a.key_id, a.launch, \
     v.version AS v_version, v.author_id AS v_author_id, u.name AS v_author_name, \
     v.created_at AS v_created_at, v.message AS v_message, v.summary AS v_summary, \
     v.restored_from AS v_restored_from \
     FROM apps a \
     LEFT JOIN versions v ON v.app_id = a.id \
       AND v.version = (SELECT MAX(version) FROM versions WHERE app_id = a.id) \
     LEFT JOIN users u ON u.id = v.author_id \
     WHERE a.kind = 'app' \
     ORDER BY a.name";
/// Versions, tokens and instance reports go with it (ON DELETE CASCADE).
pub(crate) const DELETE_APP: &str = "DELETE FROM apps WHERE id = $1";
pub(crate) const SET_APP_LAUNCH: &str = "UPDATE apps SET launch = $2 WHERE id = $1";

// ---- versions ----
/// Inserts `rows` versions, each only while its base is still the newest version (0 for none)
/// and its environment exists, first come first in for one `(app_id, version)`, answering with
/// the `(app_id, version)` of each it inserted. Each row binds, in [`numbered_rows`] order:
/// app_id, version, author_id, created_at, message, ciphertext, summary, restored_from, the
/// base, and the row's place in the group.
pub(crate) fn insert_versions(rows: usize) -> String {
    format!(
        "INSERT INTO versions \
         (app_id, version, author_id, created_at, message, ciphertext, summary, restored_from) \
         SELECT column1, column2, column3, column4, column5, column6, column7, column8 \
         FROM (VALUES {}) AS j \
         WHERE EXISTS (SELECT 1 FROM environments e WHERE e.id = j.column1) \
         AND COALESCE((SELECT MAX(v.version) FROM versions v WHERE v.app_id = j.column1), 0) \
         = j.column9 ORDER BY j.column10 \
         ON CONFLICT (app_id, version) DO NOTHING RETURNING app_id, version",
        numbered_rows(rows, 10)
    )
}

/// [`insert_versions`] for one save.
pub(crate) static INSERT_VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_versions(1));

/// `($1, …, $w), ($w+1, …), …`: `rows` rows of `width` numbered parameters.
pub(crate) fn numbered_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1, …, $n`: a list for `IN (…)`.
pub(crate) fn numbered_list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) const NEWEST_VERSION_NUMBER: &str =
    "SELECT COALESCE(MAX(version), 0) FROM versions WHERE app_id = $1";
pub(crate) const GET_VERSION_META: &str = concat!(
    "SELECT ",
    version_meta_cols!(),
    version_from!(),
    "WHERE v.app_id = $1 AND v.version = $2"
);
pub(crate) const GET_VERSION: &str = concat!(
    "SELECT ",
    version_meta_cols!(),
    ", v.ciphertext",
    version_from!(),
    "WHERE v.app_id = $1 AND v.version = $2"
);
pub(crate) const LATEST_VERSION: &str = concat!(
    "SELECT ",
    version_meta_cols!(),
    ", v.ciphertext",
    version_from!(),
    "WHERE v.app_id = $1 ORDER BY v.version DESC LIMIT 1"
);
pub(crate) const LIST_VERSIONS: &str = concat!(
    "SELECT ",
    version_meta_cols!(),
    version_from!(),
    "WHERE v.app_id = $1 AND ($2 IS NULL OR v.version < $2) \
     ORDER BY v.version DESC LIMIT $3"
);

// ---- master-key rotation ----
pub(crate) const APP_KEYS: &str = "SELECT id, key_id, wrapped_key FROM apps ORDER BY id";
/// Compare-and-set on the key id.
pub(crate) const REWRAP_APP_KEY: &str =
    "UPDATE apps SET wrapped_key = $3, key_id = $4 WHERE id = $1 AND key_id = $2";

// ---- instances ----
pub(crate) const UPSERT_INSTANCE: &str = "INSERT INTO instances \
     (app_id, instance_id, hostname, pid, applied_version, applied, status, reported_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (app_id, instance_id) DO UPDATE SET \
     hostname = excluded.hostname, pid = excluded.pid, \
     applied_version = excluded.applied_version, applied = excluded.applied, \
     status = excluded.status, \
     reported_at = excluded.reported_at";
/// Keeps an environment's `$2` newest reports (a token holder inventing instance ids cannot
/// grow the table, or every member's app list, without bound).
pub(crate) const TRIM_INSTANCES: &str = "DELETE FROM instances WHERE app_id = $1 \
     AND instance_id NOT IN (SELECT instance_id FROM instances WHERE app_id = $1 \
     ORDER BY reported_at DESC, instance_id LIMIT $2)";
pub(crate) const LIST_INSTANCES: &str = concat!(
    "SELECT ",
    instance_cols!(),
    " FROM instances WHERE app_id = $1 AND reported_at >= $2 \
     ORDER BY reported_at DESC, instance_id LIMIT $3"
);

// ---- audit ----
/// [`insert_audits`] for one event.
pub(crate) static INSERT_AUDIT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_audits(1));
/// Inserts `rows` audit events, ten values each.
pub(crate) fn insert_audits(rows: usize) -> String {
    format!(
        "INSERT INTO audit \
         (at, actor_kind, actor_id, actor_name, action, app_id, app_name, ip, outcome, detail) \
         VALUES {}",
        numbered_rows(rows, 10)
    )
}
/// `$3` is an action prefix, compared with `substr` rather than LIKE (no wildcard escaping,
/// and case-sensitive on both backends). `since` and `until` are both inclusive.
pub(crate) const QUERY_AUDIT: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit \
     WHERE ($1 IS NULL OR actor_name = $1) \
     AND ($2 IS NULL OR action = $2) \
     AND ($3 IS NULL OR substr(action, 1, length($3)) = $3) \
     AND ($4 IS NULL OR app_id = $4) \
     AND ($5 IS NULL OR at >= $5) \
     AND ($6 IS NULL OR at <= $6) \
     AND ($7 IS NULL OR id < $7) \
     ORDER BY id DESC LIMIT $8"
);

// ---- operations ----
pub(crate) const PROBE_WRITE: &str = "INSERT INTO heartbeat (id, at, pad) VALUES (1, $1, $2) \
     ON CONFLICT (id) DO UPDATE SET at = excluded.at, pad = excluded.pad";
pub(crate) const PROBE_SHRINK: &str = "UPDATE heartbeat SET pad = NULL WHERE id = 1";
pub(crate) const SWEEP_SESSIONS: &str =
    "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2";
pub(crate) const SWEEP_INVITES: &str =
    "DELETE FROM invites WHERE used_at IS NOT NULL OR expires_at <= $1";
pub(crate) const SWEEP_INSTANCES: &str = "DELETE FROM instances WHERE reported_at < $1";
