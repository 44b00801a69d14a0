-- Live previews carry the driver's face once the driver camera has one: the crop inside the
-- sealed payload, the searchable (key-rotated) embedding here for the watch-list check.
ALTER TABLE live_previews ADD COLUMN face_embedding vector(128), ADD COLUMN face_quality real;
