-- Core schema: lanes, crossings, plate reads, faces, lists, matches, audit events.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE lanes (
    id           text PRIMARY KEY,
    site         text NOT NULL,
    driving_side text NOT NULL CHECK (driving_side IN ('left', 'right')),
    config       jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crossings (
    id             uuid PRIMARY KEY,
    lane_id        text NOT NULL REFERENCES lanes (id),
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    plate_text     text,
    plate_conf     real,
    plate_region   text,
    plate_flags    text[] NOT NULL DEFAULT '{}',
    face_status    text NOT NULL,
    n_frames       integer NOT NULL,
    alert          boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at >= started_at)
);
CREATE INDEX crossings_lane_time ON crossings (lane_id, started_at DESC);
CREATE INDEX crossings_time ON crossings (started_at DESC);
CREATE INDEX crossings_plate_trgm ON crossings USING gin (plate_text gin_trgm_ops);
CREATE INDEX crossings_plate_prefix ON crossings (plate_text text_pattern_ops);

CREATE TABLE plate_reads (
    id           bigserial PRIMARY KEY,
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    camera_id    text NOT NULL,
    role         text NOT NULL,
    seen_at      timestamptz NOT NULL,
    box          real[] NOT NULL,
    det_score    real NOT NULL,
    text         text,
    confidence   real,
    char_conf    real[]
);
CREATE INDEX plate_reads_crossing ON plate_reads (crossing_id);

CREATE TABLE objects (
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    bucket       text NOT NULL,
    key          text NOT NULL,
    sha256       text NOT NULL,
    size         integer NOT NULL,
    PRIMARY KEY (crossing_id, kind)
);

CREATE TABLE faces (
    id           bigserial PRIMARY KEY,
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    camera_id    text NOT NULL,
    seen_at      timestamptz NOT NULL,
    box          real[] NOT NULL,
    quality      real NOT NULL,
    embedding    vector(128) NOT NULL
);
CREATE INDEX faces_crossing ON faces (crossing_id);
CREATE INDEX faces_embedding ON faces USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64);

CREATE TABLE watchlist (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('plate', 'face')),
    label        text NOT NULL,
    plate_text   text,
    embedding    vector(128),
    reason       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    CHECK ((kind = 'plate') = (plate_text IS NOT NULL)),
    CHECK ((kind = 'face') = (embedding IS NOT NULL))
);
CREATE INDEX watchlist_plate ON watchlist (plate_text) WHERE kind = 'plate';

CREATE TABLE matches (
    id           bigserial PRIMARY KEY,
    crossing_id  uuid NOT NULL REFERENCES crossings (id) ON DELETE CASCADE,
    watch_id     bigint REFERENCES watchlist (id) ON DELETE SET NULL,
    kind         text NOT NULL,
    decision     text NOT NULL CHECK (decision IN ('match', 'no_match', 'unknown')),
    detail       text NOT NULL DEFAULT '',
    score        real,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX matches_crossing ON matches (crossing_id);

CREATE TABLE audit_events (
    seq          bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    target       text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    detail       jsonb NOT NULL DEFAULT '{}'
);
