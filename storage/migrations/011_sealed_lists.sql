-- No plaintext at rest (security finding 7): hot-list and watch-list entries sealed, calibration
-- previews sealed. SQL cannot encrypt, so this migration makes room and forbids new clear rows;
-- the officer service seals the rows already there (storage.watchlist.seal_clear_entries: run by
-- every /api/lists route and every `lanecap hotlist|watchlist` command before it acts, and by
-- `lanecap hotlist seal`), then rewrites the table as the schema owner (storage.watchlist.compact:
-- VALIDATE CONSTRAINT watchlist_sealed, VACUUM FULL) so the cleared values leave its files.
-- WAL segments and backups written before keep their copies until they are recycled or expire.

-- Watch list: plate text, label and reason go into `sealed` (AES-256-GCM under a key derived
-- from the officer service's search key, slot "watchlist/<id>"). Plates are matched by their
-- keyed hashes in hotlist_index (004), which stay as they are.
ALTER TABLE watchlist ADD COLUMN sealed bytea;
ALTER TABLE watchlist ALTER COLUMN label DROP NOT NULL;
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'watchlist'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%plate_text%'
    LOOP
        EXECUTE format('ALTER TABLE watchlist DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
-- The btree on plate_text held every listed plate in clear; its file goes with it.
DROP INDEX IF EXISTS watchlist_plate;
-- New and updated rows must be sealed; rows from before are validated once sealed (compact).
ALTER TABLE watchlist ADD CONSTRAINT watchlist_sealed CHECK (
    sealed IS NOT NULL AND label IS NULL AND plate_text IS NULL AND reason = ''
) NOT VALID;

-- Calibration previews: the blurred JPEG sealed (key derived from the search key, slot
-- "calibration/<lane>/<camera>"). The officer service blurs, seals and stores the frame a lane
-- node uploads (PUT /api/health/.../preview) and opens it for contractors; lane logins have no
-- privilege on this table (009) and lane tokens no health.read, so a node reads none back.
-- Previews are transient (each upload replaces its camera's): the clear ones are discarded,
-- with TRUNCATE (a new, empty file) rather than DELETE (dead rows left in the old one).
TRUNCATE calibration_previews;
ALTER TABLE calibration_previews DROP COLUMN jpeg;
ALTER TABLE calibration_previews ADD COLUMN sealed bytea NOT NULL;
