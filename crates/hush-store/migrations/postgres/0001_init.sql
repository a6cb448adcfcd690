-- hush schema, PostgreSQL. Never edit a migration that has shipped: add a new one.
-- Times are milliseconds since the Unix epoch; JSON columns hold JSON text.
-- Identity columns never reuse ids (audit paging, token ids in logs).

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE invites (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash BYTEA   NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_by BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);

CREATE TABLE sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   BYTEA   NOT NULL UNIQUE,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- App ids are chosen by the caller (random): a data key is wrapped with its app id bound in
-- before the row exists.
CREATE TABLE apps (
    id          BIGINT PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    created_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    wrapped_key BYTEA   NOT NULL,
    key_id      TEXT    NOT NULL,
    launch      TEXT
);

-- Personal tokens are deleted with their user (delete_user does it); app tokens outlive
-- the person who created them, so user_id is only cleared.
CREATE TABLE tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    token_hash   BYTEA   NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    user_id      BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    app_id       BIGINT  REFERENCES apps (id) ON DELETE CASCADE,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_app_id ON tokens (app_id);

CREATE TABLE versions (
    app_id        BIGINT  NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version       BIGINT  NOT NULL,
    author_id     BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at    BIGINT  NOT NULL,
    message       TEXT,
    ciphertext    BYTEA   NOT NULL,
    summary       TEXT    NOT NULL,
    restored_from BIGINT,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE instances (
    app_id          BIGINT  NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    instance_id     TEXT    NOT NULL,
    hostname        TEXT    NOT NULL,
    pid             BIGINT,
    applied_version BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    reported_at     BIGINT  NOT NULL,
    PRIMARY KEY (app_id, instance_id)
);

-- Append-only; no foreign keys, so the record outlives the users and apps it names.
CREATE TABLE audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT  NOT NULL,
    actor_kind TEXT    NOT NULL,
    actor_id   BIGINT,
    actor_name TEXT,
    action     TEXT    NOT NULL,
    app_id     BIGINT,
    app_name   TEXT,
    ip         TEXT,
    outcome    TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_app_id ON audit (app_id);
