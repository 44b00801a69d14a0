-- Live previews: a vehicle's plate read while it is still in the lane, so the booth shows it
-- within a second instead of after the vehicle has left. Sealed like a crossing (a fresh data key
-- wrapped to the agency public key, kept in the row); short-lived: purged after the retention
-- setting `preview_minutes`, the stored crossing is the record.
CREATE TABLE live_previews (
    id               uuid PRIMARY KEY,
    lane_id          text NOT NULL,
    camera_id        text NOT NULL,
    first_seen       timestamptz NOT NULL,
    seen_at          timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    key_id           text NOT NULL,
    wrapped_key      bytea NOT NULL,
    sealed           bytea NOT NULL,
    plate_index      bytea,
    plate_fold_index bytea
);
CREATE INDEX live_previews_created ON live_previews (created_at);

CREATE FUNCTION lanecap_notify_preview() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lanecap_crossings',
        json_build_object('id', NEW.id, 'lane', NEW.lane_id, 'kind', 'preview')::text);
    RETURN NEW;
END $$;
CREATE TRIGGER live_previews_notify AFTER INSERT ON live_previews
    FOR EACH ROW EXECUTE FUNCTION lanecap_notify_preview();
