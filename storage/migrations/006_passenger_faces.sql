-- Passengers' faces, stored only where a site's policy keeps them (security.keep_passenger_faces).
-- `seat` says whose face a row is; passenger n's crop and encoding are the objects
-- passenger_crop_<n> and passenger_embedding_<n>, sealed under the crossing's faces key.
ALTER TABLE faces
    ADD COLUMN seat text NOT NULL DEFAULT 'driver' CHECK (seat IN ('driver', 'passenger')),
    ADD COLUMN passenger_no smallint CHECK (passenger_no BETWEEN 1 AND 99),
    ADD CONSTRAINT faces_passenger_no CHECK ((seat = 'passenger') = (passenger_no IS NOT NULL));
CREATE UNIQUE INDEX faces_passenger ON faces (crossing_id, passenger_no) WHERE seat = 'passenger';
