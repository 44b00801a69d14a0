-- Watch-list matching without plate text in the crossing rows.
-- plate_fold_index: keyed hash of the confusable-folded plate (O->0, I->1, B->8, ...), written by
-- the lane node beside plate_index. hotlist_index holds, per hot-list entry, the keyed hashes of
-- its exact text, its folded text, and every one-edit variant of the folded text, so a crossing
-- matches exactly, confusably or within one edit by index lookups alone.
ALTER TABLE crossings ADD COLUMN plate_fold_index bytea, ADD COLUMN matched_at timestamptz;
CREATE INDEX crossings_unmatched ON crossings (created_at) WHERE matched_at IS NULL;

CREATE TABLE hotlist_index (
    watch_id  bigint NOT NULL REFERENCES watchlist (id) ON DELETE CASCADE,
    idx       bytea NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('exact', 'confusable', 'fuzzy')),
    PRIMARY KEY (idx, kind, watch_id)
);
CREATE INDEX hotlist_index_watch ON hotlist_index (watch_id);
