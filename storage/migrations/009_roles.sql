-- Least privilege in the database. Four kinds of login:
--   the schema owner (runs migrations; owns every table, so row-level security does not apply),
--   the officer service (lanecap_app or whatever `db migrate --app-role` names; grants in db.py),
--   lane nodes: one login per lane, members of lanecap_lane, which may only INSERT a lane's
--     crossings, reads, faces, object references, wrapped keys and previews, report its health,
--     and ask whether one of its own crossings is stored. No SELECT on traveller, user, session
--     or audit tables: a lane node's password reads nothing back.
--   auditors: lanecap_auditor may read the audit log and its checkpoints, nothing else.
-- Roles are cluster-wide, so they are created only when missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lanecap_lane') THEN
        CREATE ROLE lanecap_lane NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lanecap_auditor') THEN
        CREATE ROLE lanecap_auditor NOLOGIN;
    END IF;
END $$;

-- Which lane each lane login writes for (filled by `lanecap lanes provision`).
CREATE TABLE lane_logins (
    role_name  text PRIMARY KEY,
    lane_id    text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The lane of the current login, or NULL for every other login.
CREATE FUNCTION lanecap_my_lane() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT lane_id FROM lane_logins WHERE role_name = session_user
$$;

-- True when the crossing belongs to the caller's lane (a lane node sees nothing else).
CREATE FUNCTION lanecap_lane_owns(crossing uuid) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM crossings c
                   WHERE c.id = crossing AND c.lane_id = lanecap_my_lane())
$$;

-- Whether a crossing is stored: any lane's for the officer service, only its own for a lane.
CREATE FUNCTION lanecap_crossing_stored(crossing uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM crossings c WHERE c.id = crossing
                   AND (lanecap_my_lane() IS NULL OR c.lane_id = lanecap_my_lane()))
$$;

-- Register or update a lane's settings; a lane login may only touch its own lane.
CREATE FUNCTION lanecap_register_lane(lane text, site_name text, side text, settings jsonb)
    RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    IF lanecap_my_lane() IS NOT NULL AND lanecap_my_lane() <> lane THEN
        RAISE EXCEPTION 'this login writes for lane %, not %', lanecap_my_lane(), lane
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO lanes (id, site, driving_side, config) VALUES (lane, site_name, side, settings)
        ON CONFLICT (id) DO UPDATE SET site = EXCLUDED.site,
            driving_side = EXCLUDED.driving_side, config = EXCLUDED.config, updated_at = now();
END $$;

REVOKE ALL ON FUNCTION lanecap_my_lane() FROM PUBLIC;
REVOKE ALL ON FUNCTION lanecap_lane_owns(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION lanecap_crossing_stored(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION lanecap_register_lane(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lanecap_my_lane(), lanecap_lane_owns(uuid),
    lanecap_crossing_stored(uuid), lanecap_register_lane(text, text, text, jsonb)
    TO lanecap_lane;

-- What a lane node may write. Nothing here grants SELECT on traveller data.
GRANT USAGE ON SCHEMA public TO lanecap_lane, lanecap_auditor;
GRANT INSERT ON crossings, crossing_keys, plate_reads, faces, objects, live_previews
    TO lanecap_lane;
GRANT SELECT, INSERT, UPDATE ON lane_health TO lanecap_lane;
GRANT USAGE ON SEQUENCE plate_reads_id_seq, faces_id_seq TO lanecap_lane;
GRANT SELECT ON audit_events, audit_checkpoints TO lanecap_auditor;

-- Row-level security: everyone but lane logins as before (the permissive policy); a lane
-- login's rows must be its own lane's (the restrictive policies).
ALTER TABLE crossings ENABLE ROW LEVEL SECURITY;
ALTER TABLE live_previews ENABLE ROW LEVEL SECURITY;
ALTER TABLE lane_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE crossing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE plate_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE faces ENABLE ROW LEVEL SECURITY;
ALTER TABLE objects ENABLE ROW LEVEL SECURITY;

CREATE POLICY everyone ON crossings USING (true) WITH CHECK (true);
CREATE POLICY everyone ON live_previews USING (true) WITH CHECK (true);
CREATE POLICY everyone ON lane_health USING (true) WITH CHECK (true);
CREATE POLICY everyone ON crossing_keys USING (true) WITH CHECK (true);
CREATE POLICY everyone ON plate_reads USING (true) WITH CHECK (true);
CREATE POLICY everyone ON faces USING (true) WITH CHECK (true);
CREATE POLICY everyone ON objects USING (true) WITH CHECK (true);

CREATE POLICY own_lane ON crossings AS RESTRICTIVE TO lanecap_lane
    USING (lane_id = lanecap_my_lane()) WITH CHECK (lane_id = lanecap_my_lane());
CREATE POLICY own_lane ON live_previews AS RESTRICTIVE TO lanecap_lane
    USING (lane_id = lanecap_my_lane()) WITH CHECK (lane_id = lanecap_my_lane());
CREATE POLICY own_lane ON lane_health AS RESTRICTIVE TO lanecap_lane
    USING (lane_id = lanecap_my_lane()) WITH CHECK (lane_id = lanecap_my_lane());
CREATE POLICY own_lane ON crossing_keys AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON plate_reads AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON faces AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON objects AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));

-- Search indexes are computed by the officer service when it ingests a crossing (lane nodes
-- hold no search key). indexed_at says it has; crossings stored before this carry their
-- lane-computed indexes and count as indexed. Faces get their searchable embedding then too.
ALTER TABLE crossings ADD COLUMN indexed_at timestamptz;
UPDATE crossings SET indexed_at = created_at;
CREATE INDEX crossings_unindexed ON crossings (created_at) WHERE indexed_at IS NULL;
ALTER TABLE faces ALTER COLUMN embedding DROP NOT NULL;
