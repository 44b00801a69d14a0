-- Crossing ids unique across months in one probe: a registry keyed on the id, kept by the
-- id trigger (was an advisory lock and an id probe into every month partition, measured as
-- the largest cost of storing a crossing on the partitioned schema), the cascade and the
-- month drop. Only the schema owner's definer functions touch it.
CREATE TABLE crossing_ids (id uuid PRIMARY KEY);
INSERT INTO crossing_ids (id) SELECT id FROM crossings;
REVOKE ALL ON crossing_ids FROM PUBLIC;

-- A second writer of one id waits for the first's insert here; when that commits, it is
-- refused as before, as a crossings_pkey unique violation.
CREATE OR REPLACE FUNCTION lanecap_crossing_unique_id() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO crossing_ids (id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "crossings_pkey"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'crossings_pkey',
                  TABLE = 'crossings', DETAIL = format('Key (id)=(%s) already exists.', NEW.id);
    END IF;
    RETURN NEW;
END $$;

-- ON DELETE CASCADE, each child in its crossing's month.
CREATE OR REPLACE FUNCTION lanecap_crossing_cascade() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM plate_reads WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM faces WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM objects WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM crossing_keys WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM matches WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM plate_reviews WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM plate_prefixes WHERE crossing_id = OLD.id AND crossing_at = OLD.started_at;
    DELETE FROM crossing_ids WHERE id = OLD.id;
    RETURN OLD;
END $$;

-- Drop the month starting at p_month of every partitioned table, keeping the crossings that
-- must outlive it: held ones, and hits (an alert or a watch-list match) started at or after
-- p_alerts. Those are re-inserted with all their rows and land in the default partitions
-- (their month no longer has one), where row-level retention purges them in their time.
-- Before the drop: the S3 keys of the dropped crossings' objects go into purge_queue. Dropping the
-- crossing_keys month destroys the dropped crossings' wrapped keys (crypto-shredding).
-- Returns the dropped crossing ids, the number of wrapped keys destroyed and of crossings kept.
CREATE OR REPLACE FUNCTION lanecap_drop_month(p_month timestamptz, p_alerts timestamptz)
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
    -- The month's ids leave the id registry; the kept crossings' come back as they go back.
    DELETE FROM crossing_ids WHERE id = ANY(dropped) OR id IN (SELECT k.id FROM lanecap_kept k);
    -- The kept crossings go back, into the default partitions; not announced as new.
    ALTER TABLE crossings DISABLE TRIGGER crossings_notify;
    INSERT INTO crossings SELECT * FROM lanecap_kept;
    ALTER TABLE crossings ENABLE TRIGGER crossings_notify;
    ALTER TABLE matches DISABLE TRIGGER matches_notify;  -- old matches, not new alerts
    FOR t IN SELECT * FROM lanecap_partitioned_tables() WHERE tbl <> 'crossings' LOOP
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.tbl, 'lanecap_kept_' || t.tbl);
    END LOOP;
    ALTER TABLE matches ENABLE TRIGGER matches_notify;
    SELECT count(*) INTO kept FROM lanecap_kept;
    RETURN NEXT;
END $$;
