-- Member names are unique by their key (case-folded confusable skeleton, computed by hush):
-- "OLIVIA" and "olivia", or a Cyrillic look-alike, cannot both exist. Rows from before this
-- migration get their key when the store opens.
ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (name_key);

-- One row a readiness probe rewrites (with 64 KiB of padding it then drops), to learn
-- whether writes of a real size reach the disk again.
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    pad BLOB
);

-- The sweeper's look-ups.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX instances_reported_at ON instances (reported_at);
