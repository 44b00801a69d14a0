-- Officer API and console: live crossing notifications, plate reviews, keyed plate prefixes
-- for prefix search of sealed plates, lane health and blurred calibration previews.

-- New crossings are announced on channel lanecap_crossings (delivered at commit) so the
-- booth view shows them without polling. The payload carries ids only, never plate text.
CREATE FUNCTION lanecap_notify_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lanecap_crossings',
                      json_build_object('id', NEW.id, 'lane', NEW.lane_id)::text);
    RETURN NEW;
END $$;
CREATE TRIGGER crossings_notify AFTER INSERT ON crossings
    FOR EACH ROW EXECUTE FUNCTION lanecap_notify_crossing();

-- A watch-list match (recorded after the crossing) announces the crossing again, so the booth
-- view raises the alert on a vehicle it already shows.
CREATE FUNCTION lanecap_notify_match() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lanecap_crossings', json_build_object(
        'id', NEW.crossing_id,
        'lane', (SELECT c.lane_id FROM crossings c WHERE c.id = NEW.crossing_id),
        'update', true)::text);
    RETURN NEW;
END $$;
CREATE TRIGGER matches_notify AFTER INSERT ON matches
    FOR EACH ROW EXECUTE FUNCTION lanecap_notify_match();

-- An officer confirms or corrects the voted plate. A correction of a sealed crossing is
-- sealed under the crossing's plates key (slot "<id>/review/<n>") with its blind index.
CREATE TABLE plate_reviews (
    id           bigserial PRIMARY KEY,
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    action       text NOT NULL CHECK (action IN ('confirm', 'correct')),
    plate_text   text,
    sealed       bytea,
    plate_index  bytea,
    actor        text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plate_reviews_crossing ON plate_reviews (crossing_id);

-- Keyed hashes (int4) of each prefix of a sealed plate, written by the officer service's
-- indexer, for prefix search without the text in the database. (Fuzzy search of sealed
-- plates needs nothing stored: it probes plate_index with the near variants of the query.)
CREATE TABLE plate_prefixes (
    crossing_id  uuid PRIMARY KEY REFERENCES crossings (id) ON DELETE CASCADE,
    prefixes     integer[] NOT NULL
);
CREATE INDEX plate_prefixes_gin ON plate_prefixes USING gin (prefixes);

-- Alerts by time, and who viewed a crossing (audit targets "crossing:<uuid>").
CREATE INDEX crossings_alert_time ON crossings (started_at DESC, id DESC) WHERE alert;
CREATE INDEX crossings_time_id ON crossings (started_at DESC, id DESC);
CREATE INDEX audit_events_target ON audit_events (target, seq) WHERE target LIKE 'crossing:%';

-- Camera health as lane nodes report it; what contractors see. No traveller data here.
CREATE TABLE lane_health (
    lane_id         text NOT NULL,
    camera_id       text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL CHECK (status IN ('ok', 'degraded', 'down', 'unknown')),
    fps             real,
    dropped_frames  bigint NOT NULL DEFAULT 0 CHECK (dropped_frames >= 0),
    detection_rate  real CHECK (detection_rate IS NULL OR detection_rate BETWEEN 0 AND 1),
    last_error      text NOT NULL DEFAULT '',
    PRIMARY KEY (lane_id, camera_id)
);

-- One calibration frame per camera, stored only after faces and plates were blurred.
CREATE TABLE calibration_previews (
    lane_id     text NOT NULL,
    camera_id   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    jpeg        bytea NOT NULL,
    width       integer NOT NULL,
    height      integer NOT NULL,
    blurred     integer NOT NULL,
    PRIMARY KEY (lane_id, camera_id)
);
