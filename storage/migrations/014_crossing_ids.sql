-- Crossing ids unique across months in one probe: a registry keyed on the id (was an
-- advisory lock and an id probe into every month partition, measured as the largest cost
-- of storing a crossing on the partitioned schema). Only the schema owner's definer
-- functions touch it.
CREATE TABLE crossing_ids (id uuid PRIMARY KEY);
INSERT INTO crossing_ids (id) SELECT id FROM crossings;
REVOKE ALL ON crossing_ids FROM PUBLIC;

-- A second writer of one id waits for the first's registry insert; when that commits, it is
-- refused as before, as a crossings_pkey unique violation. An id registered but no longer
-- stored (a crossing kept by a month drop, going back into the default partition) passes.
CREATE OR REPLACE FUNCTION lanecap_crossing_unique_id() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO crossing_ids (id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM crossings c WHERE c.id = NEW.id) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "crossings_pkey"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'crossings_pkey',
                  TABLE = 'crossings', DETAIL = format('Key (id)=(%s) already exists.', NEW.id);
    END IF;
    RETURN NEW;
END $$;

-- A crossing deleted row by row leaves the registry with it.
CREATE FUNCTION lanecap_forget_crossing_id() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM crossing_ids WHERE id = OLD.id;
    RETURN OLD;
END $$;
REVOKE ALL ON FUNCTION lanecap_forget_crossing_id() FROM PUBLIC;
CREATE TRIGGER crossings_forget_id AFTER DELETE ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_forget_crossing_id();

-- A month dropped whole (013's function, renamed) takes its crossings' ids with it.
ALTER FUNCTION lanecap_drop_month(timestamptz, timestamptz) RENAME TO lanecap_drop_month_tables;
CREATE FUNCTION lanecap_drop_month(p_month timestamptz, p_alerts timestamptz)
    RETURNS TABLE (dropped uuid[], keys_destroyed bigint, kept bigint)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT d.dropped, d.keys_destroyed, d.kept INTO dropped, keys_destroyed, kept
        FROM lanecap_drop_month_tables(p_month, p_alerts) d;
    DELETE FROM crossing_ids WHERE id = ANY(dropped);
    RETURN NEXT;
END $$;
REVOKE ALL ON FUNCTION lanecap_drop_month(timestamptz, timestamptz),
    lanecap_drop_month_tables(timestamptz, timestamptz) FROM PUBLIC;
