-- Officer sessions, server side: a signed cookie names a session id; the row says whether it is
-- still in force. Logout and disabling revoke it at once; sessions outlive a service restart.
-- Only a keyed hash of the session id is stored.
CREATE TABLE sessions (
    sid_hash    bytea PRIMARY KEY,
    user_name   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user ON sessions (user_name);
CREATE INDEX sessions_expires ON sessions (expires_at);
