-- Sign-in throttling instead of disabling accounts after failed logins. Failures are counted
-- per user name (whether or not the user exists, so a refusal tells nobody who has an account)
-- and per client address (an IPv6 address by its /64). Past a limit each further failure
-- refuses that name or address for a window that doubles, capped; a success clears the
-- name's count; counts are forgotten after a quiet period. Kept here, not in a process, so
-- every officer-service process and restart sees the same counts.
-- users.failed_logins is no longer written: failures never disable an account (an admin
-- still can, `lanecap users disable`; `lanecap users enable` re-enables and clears the name).
CREATE TABLE login_throttle (
    kind             text NOT NULL CHECK (kind IN ('user', 'address')),
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 64),
    failures         integer NOT NULL CHECK (failures >= 0),
    last_failure_at  timestamptz NOT NULL,
    locked_until     timestamptz,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure_at);
