-- hush schema, SQLite. Never edit a migration that has shipped: add a new one.
-- Times are milliseconds since the Unix epoch; JSON columns hold JSON text.
-- AUTOINCREMENT keeps ids from ever being reused (audit paging, token ids in logs).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE invites (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- App ids are chosen by the caller (random): a data key is wrapped with its app id bound in
-- before the row exists.
CREATE TABLE apps (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    wrapped_key BLOB    NOT NULL,
    key_id      TEXT    NOT NULL,
    launch      TEXT
);

-- Personal tokens are deleted with their user (delete_user does it); app tokens outlive
-- the person who created them, so user_id is only cleared.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    user_id      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    app_id       INTEGER REFERENCES apps (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_app_id ON tokens (app_id);

CREATE TABLE versions (
    app_id        INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    author_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    message       TEXT,
    ciphertext    BLOB    NOT NULL,
    summary       TEXT    NOT NULL,
    restored_from INTEGER,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE instances (
    app_id          INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    instance_id     TEXT    NOT NULL,
    hostname        TEXT    NOT NULL,
    pid             INTEGER,
    applied_version INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    reported_at     INTEGER NOT NULL,
    PRIMARY KEY (app_id, instance_id)
);

-- Append-only; no foreign keys, so the record outlives the users and apps it names.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_kind TEXT    NOT NULL,
    actor_id   INTEGER,
    actor_name TEXT,
    action     TEXT    NOT NULL,
    app_id     INTEGER,
    app_name   TEXT,
    ip         TEXT,
    outcome    TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_app_id ON audit (app_id);
