-- Single sign-on: the provider identity (issuer and subject) each member signs in with; one
-- per member, and one member per identity. The email is as the provider last gave it.
CREATE TABLE sso_identities (
    user_id   INTEGER NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    issuer    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    email     TEXT    NOT NULL,
    linked_at INTEGER NOT NULL,
    UNIQUE (issuer, subject)
);
