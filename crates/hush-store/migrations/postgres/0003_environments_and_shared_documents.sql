-- Environments and shared documents (see the SQLite migration of the same name for the model).
-- An environment's id is what versions.app_id, tokens.app_id and instances.app_id now hold;
-- an app's production environment has the app's own id, so existing rows stay as they are.

ALTER TABLE apps ADD COLUMN kind TEXT NOT NULL DEFAULT 'app';

CREATE TABLE environments (
    id         BIGINT PRIMARY KEY,
    app_id     BIGINT  NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    shared_rev BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (app_id, name)
);
CREATE INDEX environments_app_id ON environments (app_id);
INSERT INTO environments (id, app_id, name, created_at) SELECT id, id, 'production', created_at FROM apps;

CREATE TABLE env_includes (
    env_id   BIGINT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    ord      BIGINT NOT NULL,
    doc_id   BIGINT NOT NULL REFERENCES apps (id),
    PRIMARY KEY (env_id, ord),
    UNIQUE (env_id, doc_id)
);
CREATE INDEX env_includes_doc_id ON env_includes (doc_id);

ALTER TABLE versions DROP CONSTRAINT versions_app_id_fkey;
ALTER TABLE versions ADD CONSTRAINT versions_app_id_fkey
    FOREIGN KEY (app_id) REFERENCES environments (id) ON DELETE CASCADE;
ALTER TABLE tokens DROP CONSTRAINT tokens_app_id_fkey;
ALTER TABLE tokens ADD CONSTRAINT tokens_app_id_fkey
    FOREIGN KEY (app_id) REFERENCES environments (id) ON DELETE CASCADE;
ALTER TABLE instances DROP CONSTRAINT instances_app_id_fkey;
ALTER TABLE instances ADD CONSTRAINT instances_app_id_fkey
    FOREIGN KEY (app_id) REFERENCES environments (id) ON DELETE CASCADE;
