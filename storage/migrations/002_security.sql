-- Privacy and security core: sealed records, key store, legal holds, users, tokens,
-- hash-chained append-only audit log with signed checkpoints.

-- Crossings: the personal fields live in `sealed` (AES-GCM under the crossing's plates key);
-- `plate_index` is a keyed hash of the plate for exact search. plate_text stays NULL for
-- crossings written by an encrypting archive.
ALTER TABLE crossings ADD COLUMN sealed bytea, ADD COLUMN plate_index bytea;
CREATE INDEX crossings_plate_index ON crossings (plate_index) WHERE plate_index IS NOT NULL;

-- One wrapped data key per crossing and data class. Deleting the row shreds the data.
CREATE TABLE crossing_keys (
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('plates', 'faces')),
    key_id       text NOT NULL,
    wrapped      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz,
    PRIMARY KEY (crossing_id, purpose)
);
CREATE INDEX crossing_keys_key_id ON crossing_keys (key_id);

-- S3 deletions owed by a purge whose database part is committed (retried until done).
CREATE TABLE purge_queue (
    bucket     text NOT NULL,
    key        text NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, key)
);

-- Legal holds: an active hold stops every purge of its crossing, enforced by triggers too.
CREATE TABLE legal_holds (
    id           bigserial PRIMARY KEY,
    case_number  text NOT NULL CHECK (case_number ~ '^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$'),
    crossing_id  uuid NOT NULL,
    reason       text NOT NULL CHECK (length(reason) > 0),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz,
    released_by  text
);
CREATE UNIQUE INDEX legal_holds_active ON legal_holds (case_number, crossing_id)
    WHERE released_at IS NULL;
CREATE INDEX legal_holds_crossing ON legal_holds (crossing_id) WHERE released_at IS NULL;

CREATE FUNCTION lanecap_refuse_held() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM legal_holds h
               WHERE h.crossing_id = OLD.crossing_id AND h.released_at IS NULL) THEN
        RAISE EXCEPTION 'crossing % is under legal hold', OLD.crossing_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE FUNCTION lanecap_refuse_held_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM legal_holds h
               WHERE h.crossing_id = OLD.id AND h.released_at IS NULL) THEN
        RAISE EXCEPTION 'crossing % is under legal hold', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER crossings_hold BEFORE DELETE ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held_crossing();
CREATE TRIGGER crossing_keys_hold BEFORE DELETE ON crossing_keys
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held();
CREATE TRIGGER faces_hold BEFORE DELETE ON faces
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held();

-- People and lane-node tokens.
CREATE TABLE users (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9._-]{1,39}$'),
    role           text NOT NULL
                   CHECK (role IN ('officer', 'supervisor', 'auditor', 'contractor', 'admin')),
    password_hash  text NOT NULL,
    totp_secret    text,
    totp_last_step bigint NOT NULL DEFAULT 0,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    lane_id      text,
    scopes       text[] NOT NULL,
    secret_hash  bytea NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz
);

-- Audit log: hash chain computed by the database on insert, append-only by trigger.
ALTER TABLE audit_events ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
CREATE INDEX audit_events_actor ON audit_events (actor, action, at);

-- The exact text hashed for a row. `lanecap audit verify` renders rows with the same
-- expression inline and recomputes every hash itself.
CREATE FUNCTION audit_row_text(
    seq bigint, at timestamptz, actor text, action text, target text, reason text, detail jsonb
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_array(
        seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        actor, action, target, reason, detail)::text
$$;

CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq  bigint;
    last_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(27453001);
    SELECT e.seq, e.hash INTO last_seq, last_hash
        FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
    NEW.seq := COALESCE(last_seq, 0) + 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := COALESCE(last_hash, decode(repeat('00', 32), 'hex'));
    NEW.hash := sha256(NEW.prev_hash || convert_to(audit_row_text(
        NEW.seq, NEW.at, NEW.actor, NEW.action, NEW.target, NEW.reason, NEW.detail), 'UTF8'));
    RETURN NEW;
END $$;

-- Chain rows written before this migration, in order.
DO $$
DECLARE
    r record;
    prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
    FOR r IN SELECT * FROM audit_events ORDER BY seq LOOP
        UPDATE audit_events SET prev_hash = prev,
            hash = sha256(prev || convert_to(audit_row_text(
                r.seq, r.at, r.actor, r.action, r.target, r.reason, r.detail), 'UTF8'))
            WHERE seq = r.seq
            RETURNING hash INTO prev;
    END LOOP;
END $$;
ALTER TABLE audit_events ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

CREATE FUNCTION lanecap_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION lanecap_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION lanecap_append_only();

-- Signed checkpoints (Ed25519, key held by the audit service) over (seq, hash).
CREATE TABLE audit_checkpoints (
    seq        bigint PRIMARY KEY,
    hash       bytea NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text NOT NULL,
    signature  bytea NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION lanecap_append_only();
