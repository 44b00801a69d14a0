-- Monthly partitions for the rows written after a crossing (issue 16): matches (the
-- matcher), plate_reviews (officers) and plate_prefixes (the indexer of sealed plates) carry
-- their crossing's started_at as crossing_at and are range-partitioned by month like the
-- tables of 012, so retention drops their month with the crossing's instead of deleting their
-- rows crossing by crossing. Writers take crossing_at from the crossing row
-- (storage.watchlist.finish_matching, storage.search.record_review and index_prefixes).
--
-- Months are made for every month crossings has (and default partitions), so a table's months
-- are always the crossing months; rows are copied with their values; keys gain crossing_at
-- (PostgreSQL wants the partition key in every unique key), the foreign keys to crossings stay
-- triggers (012) and now check the month too; the watch-list foreign key, indexes, the match
-- notification and grants are made again as 001-011 left them.

SET LOCAL TimeZone = 'UTC';

ALTER SEQUENCE matches_id_seq OWNED BY NONE;
ALTER SEQUENCE plate_reviews_id_seq OWNED BY NONE;
ALTER TABLE matches RENAME TO matches_unpartitioned;
ALTER TABLE plate_reviews RENAME TO plate_reviews_unpartitioned;
ALTER TABLE plate_prefixes RENAME TO plate_prefixes_unpartitioned;
ALTER TABLE matches_unpartitioned RENAME CONSTRAINT matches_watch_id_fkey TO matches_watch_id_old;

CREATE TABLE matches (LIKE matches_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
CREATE TABLE plate_reviews (LIKE plate_reviews_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
CREATE TABLE plate_prefixes (LIKE plate_prefixes_unpartitioned INCLUDING ALL EXCLUDING INDEXES,
    crossing_at timestamptz NOT NULL) PARTITION BY RANGE (crossing_at);
ALTER SEQUENCE matches_id_seq OWNED BY matches.id;
ALTER SEQUENCE plate_reviews_id_seq OWNED BY plate_reviews.id;

CREATE OR REPLACE FUNCTION lanecap_partitioned_tables() RETURNS TABLE (tbl text, col text)
    LANGUAGE sql IMMUTABLE AS $$
    VALUES ('crossings', 'started_at'), ('plate_reads', 'crossing_at'), ('faces', 'crossing_at'),
           ('objects', 'crossing_at'), ('crossing_keys', 'crossing_at'),
           ('matches', 'crossing_at'), ('plate_reviews', 'crossing_at'),
           ('plate_prefixes', 'crossing_at')
$$;

-- As in 012, except that a month whose crossings cannot have it (crossings_default holds rows
-- of that month) is made for no table, so every table always has the crossing months.
CREATE OR REPLACE FUNCTION lanecap_ensure_partitions(p_from timestamptz, p_until timestamptz)
    RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = public, pg_temp SET TimeZone = 'UTC' AS $$
DECLARE
    t record;
    m timestamptz;
    part text;
    made integer := 0;
    refused boolean;
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
    END LOOP;
    m := date_trunc('month', p_from);
    WHILE m <= p_until LOOP
        refused := false;
        FOR t IN SELECT * FROM lanecap_partitioned_tables() ORDER BY tbl <> 'crossings' LOOP
            EXIT WHEN refused;
            part := t.tbl || '_p' || to_char(m, 'YYYYMM');
            IF to_regclass(part) IS NULL THEN
                BEGIN
                    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                                   part, t.tbl, m, m + interval '1 month');
                    made := made + 1;
                EXCEPTION WHEN check_violation THEN
                    RAISE WARNING 'partition % not created: %_default holds rows of that month',
                        part, t.tbl;
                    refused := t.tbl = 'crossings';
                END;
            END IF;
        END LOOP;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END $$;

DO $$
DECLARE
    p record;
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['matches', 'plate_reviews', 'plate_prefixes'] LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t || '_default', t);
        FOR p IN SELECT * FROM lanecap_month_partitions() WHERE tbl = 'crossings' LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           t || '_p' || to_char(p.lower_bound, 'YYYYMM'), t,
                           p.lower_bound, p.upper_bound);
        END LOOP;
    END LOOP;
END $$;

INSERT INTO matches SELECT m.*, c.started_at FROM matches_unpartitioned m
    JOIN crossings c ON c.id = m.crossing_id;
INSERT INTO plate_reviews SELECT r.*, c.started_at FROM plate_reviews_unpartitioned r
    JOIN crossings c ON c.id = r.crossing_id;
INSERT INTO plate_prefixes SELECT g.*, c.started_at FROM plate_prefixes_unpartitioned g
    JOIN crossings c ON c.id = g.crossing_id;
DROP TABLE matches_unpartitioned, plate_reviews_unpartitioned, plate_prefixes_unpartitioned;
DROP FUNCTION lanecap_crossing_ref();  -- every reference trigger now checks the month too

ALTER TABLE matches ADD CONSTRAINT matches_pkey PRIMARY KEY (id, crossing_at),
    ADD CONSTRAINT matches_watch_id_fkey FOREIGN KEY (watch_id) REFERENCES watchlist (id)
        ON DELETE SET NULL;
CREATE INDEX matches_crossing ON matches (crossing_id);
ALTER TABLE plate_reviews ADD CONSTRAINT plate_reviews_pkey PRIMARY KEY (id, crossing_at);
CREATE INDEX plate_reviews_crossing ON plate_reviews (crossing_id);
ALTER TABLE plate_prefixes
    ADD CONSTRAINT plate_prefixes_pkey PRIMARY KEY (crossing_id, crossing_at);
CREATE INDEX plate_prefixes_gin ON plate_prefixes USING gin (prefixes);

CREATE TRIGGER matches_notify AFTER INSERT ON matches
    FOR EACH ROW EXECUTE FUNCTION lanecap_notify_match();
CREATE TRIGGER matches_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON matches FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER plate_reviews_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON plate_reviews FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();
CREATE TRIGGER plate_prefixes_crossing_ref BEFORE INSERT OR UPDATE OF crossing_id, crossing_at
    ON plate_prefixes FOR EACH ROW EXECUTE FUNCTION lanecap_crossing_ref_timed();

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

