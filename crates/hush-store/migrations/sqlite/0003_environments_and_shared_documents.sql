-- Environments and shared documents.
--
-- Each app has one or more environments (production, staging, ...), each with its own document
-- and history. An environment's id is what `versions.app_id`, `tokens.app_id` and
-- `instances.app_id` now hold: the `production` environment of an app has the app's own id, so
-- every existing version, token and instance report is production's without being rewritten
-- (and the versions' ciphertext, sealed with the app id and version as associated data, still
-- opens). Other environments get random ids, like apps.
--
-- A shared document is an `apps` row of kind 'shared' with one environment (`production`)
-- holding its versions: it has its own data key (rotated with the apps'), immutable history,
-- and a name unique among apps and shared documents. Shared documents include nothing, so
-- includes cannot form a cycle.

ALTER TABLE apps ADD COLUMN kind TEXT NOT NULL DEFAULT 'app';

CREATE TABLE environments (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    -- Bumped each time an included shared document changes or the includes are set: with the
    -- environment's newest version it makes the effective revision (their sum), which only grows.
    shared_rev INTEGER NOT NULL DEFAULT 0,
    UNIQUE (app_id, name)
);
CREATE INDEX environments_app_id ON environments (app_id);
INSERT INTO environments (id, app_id, name, created_at) SELECT id, id, 'production', created_at FROM apps;

-- An environment's included shared documents, in order (ord 0 first). A document still
-- included cannot be deleted (no ON DELETE: the store refuses first, naming the environments).
CREATE TABLE env_includes (
    env_id   INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    ord      INTEGER NOT NULL,
    doc_id   INTEGER NOT NULL REFERENCES apps (id),
    PRIMARY KEY (env_id, ord),
    UNIQUE (env_id, doc_id)
);
CREATE INDEX env_includes_doc_id ON env_includes (doc_id);

-- versions, tokens and instances now refer to environments. SQLite cannot change a foreign key
-- in place: each table is rebuilt with the same columns and rows.
CREATE TABLE versions_new (
    app_id        INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    author_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    message       TEXT,
    ciphertext    BLOB    NOT NULL,
    summary       TEXT    NOT NULL,
    restored_from INTEGER,
    PRIMARY KEY (app_id, version)
);
INSERT INTO versions_new SELECT app_id, version, author_id, created_at, message, ciphertext, summary, restored_from FROM versions;
DROP TABLE versions;
ALTER TABLE versions_new RENAME TO versions;

CREATE TABLE tokens_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    user_id      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    app_id       INTEGER REFERENCES environments (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
INSERT INTO tokens_new SELECT id, kind, name, token_hash, prefix, user_id, app_id, created_at, expires_at, last_used_at, revoked_at FROM tokens;
-- Token ids are never reused: carry the sequence over.
DELETE FROM sqlite_sequence WHERE name = 'tokens_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'tokens_new', seq FROM sqlite_sequence WHERE name = 'tokens';
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_app_id ON tokens (app_id);

CREATE TABLE instances_new (
    app_id          INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    instance_id     TEXT    NOT NULL,
    hostname        TEXT    NOT NULL,
    pid             INTEGER,
    applied_version INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    reported_at     INTEGER NOT NULL,
    PRIMARY KEY (app_id, instance_id)
);
INSERT INTO instances_new SELECT app_id, instance_id, hostname, pid, applied_version, status, reported_at FROM instances;
DROP TABLE instances;
ALTER TABLE instances_new RENAME TO instances;
CREATE INDEX instances_reported_at ON instances (reported_at);
