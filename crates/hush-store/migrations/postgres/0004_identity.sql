-- Identity: per-app roles and workload identity (trusted issuers, used token ids).

-- A member's role on one app, overriding their workspace role there ('none': no access).
-- Owners are not restricted by these rows (hush ignores them for owners).
CREATE TABLE app_roles (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_id     BIGINT  NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, app_id)
);
CREATE INDEX app_roles_app_id ON app_roles (app_id);

-- Who may trade a signed JWT for a short-lived token of an app: the issuer, where its keys
-- are (NULL: from its OpenID discovery document), the audience the token must name, and
-- claim conditions (a JSON object of claim name -> glob).
CREATE TABLE workload_trusts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id      BIGINT  NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    issuer      TEXT    NOT NULL,
    jwks_url    TEXT,
    audience    TEXT    NOT NULL,
    conditions  TEXT    NOT NULL,
    ttl_seconds BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX workload_trusts_app_id ON workload_trusts (app_id);

-- Token ids (jti) already exchanged, kept until the token they came with expires.
CREATE TABLE workload_jtis (
    issuer     TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX workload_jtis_expires_at ON workload_jtis (expires_at);
