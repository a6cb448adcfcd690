-- Sign-in state every server shares (before this, each process kept its own in memory).
-- Both tables are transient: old rows are swept, and backups leave them out.

-- Sign-in throttling: tries per account, device or address. The key is an HMAC under a key
-- derived from the master key, so the table does not say who tried, or from where.
CREATE TABLE sign_in_throttle (
    key_hash BYTEA  NOT NULL PRIMARY KEY,
    -- Tries taken since the count started over (each is taken before its password is checked).
    tries    BIGINT NOT NULL,
    last_try BIGINT NOT NULL
);
CREATE INDEX sign_in_throttle_last_try ON sign_in_throttle (last_try);

-- Single sign-ons under way: keyed by a hash of their state; the PKCE verifier, nonce and the
-- rest sealed with a key derived from the master key.
CREATE TABLE sso_pending (
    state_hash BYTEA  NOT NULL PRIMARY KEY,
    sealed     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_pending_created_at ON sso_pending (created_at);
CREATE INDEX sso_pending_expires_at ON sso_pending (expires_at);

-- One-time codes that hand `hush login --sso` its sign-in (a minute, single use): keyed by the
-- code's hash, so the CLI's exchange may reach any server.
CREATE TABLE sso_cli_codes (
    code_hash  BYTEA  NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_cli_codes_expires_at ON sso_cli_codes (expires_at);
