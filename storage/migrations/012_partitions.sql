-- Monthly range partitions on the crossing time (issue 16). Partitioned: crossings (by
-- started_at) and the tables written with it in one transaction by storage.crossings, which carry
-- the crossing's started_at as `crossing_at` so that a crossing and its parts always share a
-- month: plate_reads, faces, objects, crossing_keys. Partitions are named <table>_pYYYYMM (UTC
-- months) with a <table>_default beside them; lanecap_ensure_partitions (called by `serve` and
-- `retention run`) creates months ahead, lanecap_drop_month (called by retention) drops an
-- expired month whole.
--
-- Keys: PostgreSQL wants the partition key in every unique key, so crossings' key is
-- (id, started_at) and the children's keys include crossing_at. A crossing id stays unique
-- across partitions: trigger crossings_unique_id refuses a second row with a stored id (any
-- time) as a unique_violation of crossings_pkey, which is what storage.crossings.save_crossing
-- treats as a replay; lane logins keep their plain INSERT.
--
-- Foreign keys to crossings are gone (a foreign key to a partitioned table makes every DETACH
-- scan each referencing table whole, under an exclusive lock). In their place: trigger
-- *_crossing_ref refuses a child row whose crossing (and, where it has one, crossing_at) is not
-- stored, SQLSTATE 23503 as before; trigger crossings_cascade deletes a crossing's rows in
-- every child table when the crossing row is deleted (ON DELETE CASCADE as before); dropping a
-- month drops the partitioned children's month with it and deletes the unpartitioned
-- children's rows (matches, plate_reviews, plate_prefixes) of the crossings it drops.
--
-- Rows keep their values; migrating a populated database copies every row (partitions are
-- made for every month that holds data first), then rebuilds indexes, triggers, row-level
-- security and grants exactly as 001-011 left them.

-- Which tables are partitioned, and on which column.
CREATE FUNCTION lanecap_partitioned_tables() RETURNS TABLE (tbl text, col text)
    LANGUAGE sql IMMUTABLE AS $$
    VALUES ('crossings', 'started_at'), ('plate_reads', 'crossing_at'), ('faces', 'crossing_at'),
           ('objects', 'crossing_at'), ('crossing_keys', 'crossing_at')
$$;

-- Month partitions of every partitioned table from p_from's month up to p_until's month
-- (UTC), where missing; the number created. A month whose rows already sit in the default
-- partition is left there (warning), so rows are never moved by this function.
CREATE FUNCTION lanecap_ensure_partitions(p_from timestamptz, p_until timestamptz)
    RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    t record;
    m timestamptz;
    part text;
    made integer := 0;
BEGIN
    IF p_until < p_from OR p_until > p_from + interval '10 years' THEN
        RAISE EXCEPTION 'partition range % .. % refused', p_from, p_until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(27453002);
    FOR t IN SELECT * FROM lanecap_partitioned_tables() LOOP
        IF to_regclass(t.tbl || '_default') IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t.tbl || '_default', t.tbl);
        END IF;
        m := date_trunc('month', p_from);
        WHILE m <= p_until LOOP
            part := t.tbl || '_p' || to_char(m, 'YYYYMM');
            IF to_regclass(part) IS NULL THEN
                BEGIN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                                   part, t.tbl, m, m + interval '1 month');
                    made := made + 1;
                EXCEPTION WHEN check_violation THEN
                    RAISE WARNING 'partition % not created: %_default holds rows of that month',
                        part, t.tbl;
                END;
            END IF;
            m := m + interval '1 month';
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

-- Month partitions: (table, partition, lower bound, upper bound), defaults excluded.
CREATE FUNCTION lanecap_month_partitions()
    RETURNS TABLE (tbl text, part text, lower_bound timestamptz, upper_bound timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp SET TimeZone = 'UTC' SET DateStyle = 'ISO' AS $$
    SELECT p.relname::text, c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN (SELECT t.tbl FROM lanecap_partitioned_tables() t)
      AND p.relnamespace = 'public'::regnamespace
      AND NOT pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
    ORDER BY 1, 3
$$;

-- Convert the five tables. Old tables are renamed, new partitioned ones made like them, rows
-- copied, old tables dropped (with the foreign keys that pointed at them), then keys, indexes,
-- triggers, row-level security and grants are made on the new parents.
ALTER SEQUENCE plate_reads_id_seq OWNED BY NONE;
ALTER SEQUENCE faces_id_seq OWNED BY NONE;
ALTER TABLE crossings RENAME TO crossings_unpartitioned;
ALTER TABLE plate_reads RENAME TO plate_reads_unpartitioned;
ALTER TABLE faces RENAME TO faces_unpartitioned;
ALTER TABLE objects RENAME TO objects_unpartitioned;
ALTER TABLE crossing_keys RENAME TO crossing_keys_unpartitioned;

CREATE TABLE crossings (LIKE crossings_unpartitioned INCLUDING ALL EXCLUDING INDEXES)
    PARTITION BY RANGE (started_at);
CREATE TABLE plate_reads (LIKE plate_reads_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
CREATE TABLE faces (LIKE faces_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
CREATE TABLE objects (LIKE objects_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
CREATE TABLE crossing_keys (LIKE crossing_keys_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
ALTER SEQUENCE plate_reads_id_seq OWNED BY plate_reads.id;
ALTER SEQUENCE faces_id_seq OWNED BY faces.id;

SELECT lanecap_ensure_partitions(
    least(now(), (SELECT min(started_at) FROM crossings_unpartitioned)),
    now() + interval '3 months');

INSERT INTO crossings SELECT * FROM crossings_unpartitioned;
INSERT INTO plate_reads SELECT r.*, c.started_at FROM plate_reads_unpartitioned r
    JOIN crossings_unpartitioned c ON c.id = r.crossing_id;
INSERT INTO faces SELECT f.*, c.started_at FROM faces_unpartitioned f
    JOIN crossings_unpartitioned c ON c.id = f.crossing_id;
INSERT INTO objects SELECT o.*, c.started_at FROM objects_unpartitioned o
    JOIN crossings_unpartitioned c ON c.id = o.crossing_id;
INSERT INTO crossing_keys SELECT k.*, c.started_at FROM crossing_keys_unpartitioned k
    JOIN crossings_unpartitioned c ON c.id = k.crossing_id;

DROP TABLE plate_reads_unpartitioned, faces_unpartitioned, objects_unpartitioned,
    crossing_keys_unpartitioned;
DROP TABLE crossings_unpartitioned CASCADE;  -- and the foreign keys of matches, plate_reviews,
                                             -- plate_prefixes that referenced it

ALTER TABLE crossings ADD CONSTRAINT crossings_pkey PRIMARY KEY (id, started_at),
    ADD CONSTRAINT crossings_lane_id_fkey FOREIGN KEY (lane_id) REFERENCES lanes (id);
CREATE INDEX crossings_lane_time ON crossings (lane_id, started_at DESC);
CREATE INDEX crossings_time ON crossings (started_at DESC);
CREATE INDEX crossings_plate_trgm ON crossings USING gin (plate_text gin_trgm_ops);
CREATE INDEX crossings_plate_prefix ON crossings (plate_text text_pattern_ops);
CREATE INDEX crossings_plate_index ON crossings (plate_index) WHERE plate_index IS NOT NULL;
CREATE INDEX crossings_alert_time ON crossings (started_at DESC, id DESC) WHERE alert;
CREATE INDEX crossings_time_id ON crossings (started_at DESC, id DESC);
CREATE INDEX crossings_unmatched ON crossings (created_at) WHERE matched_at IS NULL;
CREATE INDEX crossings_unindexed ON crossings (created_at) WHERE indexed_at IS NULL;

ALTER TABLE plate_reads ADD CONSTRAINT plate_reads_pkey PRIMARY KEY (id, crossing_at);
CREATE INDEX plate_reads_crossing ON plate_reads (crossing_id);

ALTER TABLE faces ADD CONSTRAINT faces_pkey PRIMARY KEY (id, crossing_at);
CREATE INDEX faces_crossing ON faces (crossing_id);
CREATE INDEX faces_embedding ON faces USING hnsw (embedding vector_l2_ops)
    WITH (m = 16, ef_construction = 64);
CREATE UNIQUE INDEX faces_passenger ON faces (crossing_id, crossing_at, passenger_no)
    WHERE seat = 'passenger';

ALTER TABLE objects ADD CONSTRAINT objects_pkey PRIMARY KEY (crossing_id, kind, crossing_at);

ALTER TABLE crossing_keys
    ADD CONSTRAINT crossing_keys_pkey PRIMARY KEY (crossing_id, purpose, crossing_at);
CREATE INDEX crossing_keys_key_id ON crossing_keys (key_id);

-- A crossing id is stored once, whatever its time. Serialised per id by an advisory lock so
-- two concurrent writers of one id cannot both pass.
CREATE FUNCTION lanecap_crossing_unique_id() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(27453003, hashtext(NEW.id::text));
    IF EXISTS (SELECT 1 FROM crossings c WHERE c.id = NEW.id) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "crossings_pkey"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'crossings_pkey',
                  TABLE = 'crossings', DETAIL = format('Key (id)=(%s) already exists.', NEW.id);
    END IF;
    RETURN NEW;
END $$;

-- The foreign key's insert side: the row's crossing is stored (at the row's crossing_at, for
-- the partitioned children), locked against deletion until the row's transaction ends.
CREATE FUNCTION lanecap_crossing_missing(tbl text, crossing uuid) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
            tbl, tbl || '_crossing_id_fkey'
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = tbl || '_crossing_id_fkey',
              TABLE = tbl,
              DETAIL = format('Key (crossing_id)=(%s) is not present in table "crossings".',
                              crossing);
END $$;

CREATE FUNCTION lanecap_crossing_ref_timed() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM crossings c
        WHERE c.id = NEW.crossing_id AND c.started_at = NEW.crossing_at FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM lanecap_crossing_missing(TG_TABLE_NAME, NEW.crossing_id);
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION lanecap_crossing_ref() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM crossings c WHERE c.id = NEW.crossing_id FOR KEY SHARE;
    IF NOT FOUND THEN
        PERFORM lanecap_crossing_missing(TG_TABLE_NAME, NEW.crossing_id);
    END IF;
    RETURN NEW;
END $$;

-- The foreign keys' delete side: ON DELETE CASCADE.
CREATE FUNCTION lanecap_crossing_cascade() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM plate_reads WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM faces WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM objects WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM crossing_keys WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM matches WHERE crossing_id = OLD.id;
    DELETE FROM plate_reviews WHERE crossing_id = OLD.id;
    DELETE FROM plate_prefixes WHERE crossing_id = OLD.id;
    RETURN OLD;
END $$;
REVOKE ALL ON FUNCTION lanecap_crossing_unique_id(), lanecap_crossing_ref(),
    lanecap_crossing_ref_timed(), lanecap_crossing_cascade(), lanecap_crossing_missing(text, uuid)
    FROM PUBLIC;

CREATE TRIGGER crossings_unique_id BEFORE INSERT ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_unique_id();
CREATE TRIGGER crossings_hold BEFORE DELETE ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held_crossing();
CREATE TRIGGER crossings_cascade AFTER DELETE ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_cascade();
CREATE TRIGGER crossings_notify AFTER INSERT ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_notify_crossing();
CREATE TRIGGER crossing_keys_hold BEFORE DELETE ON crossing_keys
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held();
CREATE TRIGGER faces_hold BEFORE DELETE ON faces
    FOR EACH ROW EXECUTE FUNCTION lanecap_refuse_held();
CREATE TRIGGER plate_reads_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON plate_reads FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER faces_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON faces FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER objects_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON objects FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER crossing_keys_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON crossing_keys FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER matches_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id
    ON matches FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref();
CREATE TRIGGER plate_reviews_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id
    ON plate_reviews FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref();
CREATE TRIGGER plate_prefixes_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id
    ON plate_prefixes FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref();

-- Row-level security and lane grants as 009 made them (partitions are reached through their
-- parents only: no login but the owner has a privilege on a partition itself).
ALTER TABLE crossings ENABLE ROW LEVEL SECURITY;
ALTER TABLE crossing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE plate_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE faces ENABLE ROW LEVEL SECURITY;
ALTER TABLE objects ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON crossings USING (true) WITH CHECK (true);
CREATE POLICY everyone ON crossing_keys USING (true) WITH CHECK (true);
CREATE POLICY everyone ON plate_reads USING (true) WITH CHECK (true);
CREATE POLICY everyone ON faces USING (true) WITH CHECK (true);
CREATE POLICY everyone ON objects USING (true) WITH CHECK (true);
CREATE POLICY own_lane ON crossings AS RESTRICTIVE TO lanecap_lane
    USING (lane_id = lanecap_my_lane()) WITH CHECK (lane_id = lanecap_my_lane());
CREATE POLICY own_lane ON crossing_keys AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON plate_reads AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON faces AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
CREATE POLICY own_lane ON objects AS RESTRICTIVE TO lanecap_lane
    USING (false) WITH CHECK (lanecap_lane_owns(crossing_id));
GRANT INSERT ON crossings, crossing_keys, plate_reads, faces, objects TO lanecap_lane;

-- Drop the month starting at p_month of every partitioned table, keeping the crossings that
-- must outlive it: held ones, and hits (an alert or a watch-list match) started at or after
-- p_alerts. Those are re-inserted with all their rows and land in the default partitions
-- (their month no longer has one), where row-level retention purges them in their time.
-- Before the drop: the S3 keys of the dropped crossings' objects go into purge_queue and
-- their rows in matches, plate_reviews and plate_prefixes are deleted. Dropping the
-- crossing_keys month destroys the dropped crossings' wrapped keys (crypto-shredding).
-- Returns the dropped crossing ids, the number of wrapped keys destroyed and of crossings kept.
CREATE FUNCTION lanecap_drop_month(p_month timestamptz, p_alerts timestamptz)
    RETURNS TABLE (dropped uuid[], keys_destroyed bigint, kept bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    suffix text := '_p' || to_char(p_month, 'YYYYMM');
    hi timestamptz := p_month + interval '1 month';
    t record;
BEGIN
    IF p_month <> date_trunc('month', p_month) THEN
        RAISE EXCEPTION 'not the start of a month: %', p_month
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('crossings' || suffix) IS NULL THEN
        RAISE EXCEPTION 'no partition crossings%', suffix USING ERRCODE = 'undefined_table';
    END IF;
    PERFORM pg_advisory_xact_lock(27453002);
    -- No hold or match may appear, and no row of the month be written, while it is decided.
    LOCK TABLE legal_holds, matches IN SHARE MODE;
    -- (A child month that was never made, its default partition holding rows of that month,
    -- is skipped: those rows stay where they are, the dropped crossings' ones deleted below.)
    FOR t IN SELECT * FROM lanecap_partitioned_tables() LOOP
        IF to_regclass(t.tbl || suffix) IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %I IN SHARE MODE', t.tbl || suffix);
        END IF;
    END LOOP;
    EXECUTE format(
        'CREATE TEMP TABLE lanecap_kept ON COMMIT DROP AS SELECT c.* FROM %I c'
        ' WHERE EXISTS (SELECT 1 FROM legal_holds h'
        '               WHERE h.crossing_id = c.id AND h.released_at IS NULL)'
        '    OR (c.started_at >= $1 AND (c.alert OR EXISTS (SELECT 1 FROM matches m'
        '        WHERE m.crossing_id = c.id AND m.decision = ''match'')))',
        'crossings' || suffix) USING p_alerts;
    EXECUTE format('SELECT array(SELECT c.id FROM %I c'
                   ' WHERE c.id NOT IN (SELECT k.id FROM lanecap_kept k) ORDER BY c.started_at)',
                   'crossings' || suffix) INTO dropped;
    FOR t IN SELECT * FROM lanecap_partitioned_tables() WHERE tbl <> 'crossings' LOOP
        EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT x.* FROM %I x'
                       ' WHERE x.crossing_id IN (SELECT k.id FROM lanecap_kept k) AND %L',
                       'lanecap_kept_' || t.tbl, coalesce(to_regclass(t.tbl || suffix)::text,
                       t.tbl), to_regclass(t.tbl || suffix) IS NOT NULL);
    END LOOP;
    -- Counted and queued through the parents (the month and the default partition).
    INSERT INTO purge_queue (bucket, key) SELECT o.bucket, o.key FROM objects o
        WHERE o.crossing_at >= p_month AND o.crossing_at < hi AND o.crossing_id = ANY(dropped)
        ON CONFLICT DO NOTHING;
    SELECT count(*) INTO keys_destroyed FROM crossing_keys k
        WHERE k.crossing_at >= p_month AND k.crossing_at < hi AND k.crossing_id = ANY(dropped);
    DELETE FROM matches m WHERE m.crossing_id = ANY(dropped);
    DELETE FROM plate_reviews r WHERE r.crossing_id = ANY(dropped);
    DELETE FROM plate_prefixes p WHERE p.crossing_id = ANY(dropped);
    FOR t IN SELECT * FROM lanecap_partitioned_tables() LOOP
        IF to_regclass(t.tbl || suffix) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t.tbl, t.tbl || suffix);
            EXECUTE format('DROP TABLE %I', t.tbl || suffix);
        END IF;
    END LOOP;
    -- Rows of the dropped crossings that sat in a default partition (a part written after its
    -- month was dropped once before) go too.
    FOR t IN SELECT * FROM lanecap_partitioned_tables() WHERE tbl <> 'crossings' LOOP
        EXECUTE format('DELETE FROM %I x WHERE x.crossing_at >= $1 AND x.crossing_at < $2'
                       ' AND x.crossing_id = ANY($3)', t.tbl) USING p_month, hi, dropped;
    END LOOP;
    -- The kept crossings go back, into the default partitions; not announced as new.
    ALTER TABLE crossings DISABLE TRIGGER crossings_notify;
    INSERT INTO crossings SELECT * FROM lanecap_kept;
    ALTER TABLE crossings ENABLE TRIGGER crossings_notify;
    FOR t IN SELECT * FROM lanecap_partitioned_tables() WHERE tbl <> 'crossings' LOOP
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.tbl, 'lanecap_kept_' || t.tbl);
    END LOOP;
    SELECT count(*) INTO kept FROM lanecap_kept;
    RETURN NEXT;
END $$;

REVOKE ALL ON FUNCTION lanecap_ensure_partitions(timestamptz, timestamptz),
    lanecap_month_partitions(), lanecap_drop_month(timestamptz, timestamptz) FROM PUBLIC;
