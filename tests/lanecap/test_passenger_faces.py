"""The passenger policy end to end on real PostgreSQL and S3: a rendered two-face windshield
scene through the pipeline, the archive, the watch-list matcher and the officer's view.

Off (the default): passengers are blurred, never encoded or stored. On: their crops and
encodings are sealed like the driver's, marked as passengers, matched and shown.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.evidence import evidence_reader
from lanecap.keys import keys_dir, load_search_key
from lanecap.matcher import Matcher
from lanecap.pipeline import Crossing, LanePipeline
from lanecap.security.roles import Principal
from recognition.faces.driver import blur_faces
from recognition.types import Box, FaceObservation, Image
from storage import watchlist
from storage.crossings import object_keys
from storage.crypto import embedding_bytes
from storage.errors import StorageError
from tests.conftest import ingest_all

SUPERVISOR = Principal(name="passenger-test", role="supervisor")
# Windshield camera, left-hand drive: the driver is on the image's right. The driver's crop
# (padded by 0.2) takes in the passenger's nearest 14 pixel columns.
DRIVER_BOX = Box(340, 120, 460, 240)
PASSENGER_BOX = Box(200, 130, 330, 250)


class SceneFaces:
    """A FaceEncoder that reports the two faces painted into the scene."""

    def __init__(self, driver: FaceObservation, passenger: FaceObservation) -> None:
        self.found = [driver, passenger]

    def faces(self, image: Image) -> list[FaceObservation]:
        return list(self.found)


def _scene(rng: np.random.Generator) -> Image:
    """A grey frame with two faces of coarse random texture (JPEG keeps it, blurring does not)."""
    img = np.full((360, 640, 3), 90, np.uint8)
    for b in (DRIVER_BOX, PASSENGER_BOX):
        w, h = int(b.width), int(b.height)
        blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        img[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)] = cv2.resize(
            blocks, (w, h), interpolation=cv2.INTER_NEAREST
        )
    return img


def _encoding(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=128).astype(np.float32)
    return v * np.float32(0.6 / np.linalg.norm(v))


def _drive(
    archive: Any, *, keep: bool, t0: float = 100.0
) -> tuple[Crossing, Image, np.ndarray, np.ndarray]:
    """One vehicle with a driver and a passenger, stored; (crossing, frame, driver, passenger)."""
    rng = np.random.default_rng(secrets.randbits(32))
    lane = LaneConfig.model_validate(
        {
            "id": f"pax-{secrets.token_hex(4)}",
            "driving_side": "right",
            "vehicle_gap_s": 0.5,
            "cameras": [
                {"id": "pax-drv", "role": "driver", "source": "x.mp4", "face_view": "front"}
            ],
        }
    )
    archive.register_lane(lane)
    driver, passenger = _encoding(rng), _encoding(rng)
    faces = SceneFaces(
        FaceObservation(DRIVER_BOX, driver, 0.9, None),
        FaceObservation(PASSENGER_BOX, passenger, 0.8, None),
    )
    pipe = LanePipeline(lane, detector=None, reader=None, faces=faces, keep_passengers=keep)
    frame = _scene(rng)
    for i in range(4):
        pipe.process(Frame("pax-drv", i, t0 + 0.2 * i, frame))
    (crossing,) = pipe.finish()
    assert archive.store(crossing)
    assert ingest_all(archive) >= 1
    return crossing, frame, driver, passenger


def _faces(archive: Any, cid: uuid.UUID) -> list[tuple[str, int | None]]:
    with archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT seat, passenger_no FROM faces WHERE crossing_id = %s ORDER BY id", (cid,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _near(archive: Any, vec: np.ndarray) -> int:
    """Stored faces (any crossing) within 1e-3 of this encoding's searchable form."""
    probe = load_search_key(keys_dir(archive.settings)).protect_embedding(vec)
    with archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM faces WHERE embedding <-> %s < 1e-3", (probe,)
        ).fetchone()
    return int(row[0])


def _enrol(archive: Any, vec: np.ndarray) -> None:
    watchlist.add_face(
        archive.pool,
        search=load_search_key(keys_dir(archive.settings)),
        label="wanted passenger",
        embedding=load_search_key(keys_dir(archive.settings)).protect_embedding(vec),
        reason="case P-1",
        created_by="test",
    )


def _matches(archive: Any, cid: uuid.UUID) -> tuple[list[tuple[str, str, str]], bool]:
    with archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, decision, detail FROM matches WHERE crossing_id = %s ORDER BY id",
            (cid,),
        ).fetchall()
        alert = conn.execute("SELECT alert FROM crossings WHERE id = %s", (cid,)).fetchone()
    return [(r[0], r[1], r[2]) for r in rows], bool(alert and alert[0])


def _mad(a: Image, b: Image) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def _jpeg(data: bytes) -> Image:
    return np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), np.uint8)


def _passenger_in_driver_crop(crop: Image, frame: Image) -> float:
    """MAD between the passenger's pixels seen in the driver's crop and the frame's."""
    h, w = frame.shape[:2]
    px, py = DRIVER_BOX.width * 0.2, DRIVER_BOX.height * 0.2
    c = Box(DRIVER_BOX.x1 - px, DRIVER_BOX.y1 - py, DRIVER_BOX.x2 + px, DRIVER_BOX.y2 + py).clip(
        w, h
    )
    x0, y0 = int(c.x1), int(c.y1)
    p = PASSENGER_BOX
    x1, x2, y1, y2 = int(max(p.x1, c.x1)), int(min(p.x2, c.x2)), int(p.y1), int(p.y2)
    assert x2 - x1 >= 10, "the scene must put part of the passenger in the driver's crop"
    seen = crop[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]
    return _mad(seen, frame[y1:y2, x1:x2])


def test_passengers_are_blurred_and_never_stored_by_default(settings, archive) -> None:  # type: ignore[no-untyped-def]
    crossing, frame, driver, passenger = _drive(archive, keep=False)
    assert crossing.face_status == "captured" and crossing.passengers == ()
    assert [k for k, _, _ in object_keys(archive.pool, crossing.id)] == [
        "face_crop",
        "face_embedding",
    ]
    assert _faces(archive, crossing.id) == [("driver", None)]
    assert _near(archive, driver) == 1 and _near(archive, passenger) == 0
    reader = evidence_reader(settings, archive.pool, archive.objects)
    export = reader.export(SUPERVISOR, crossing.id, reason="policy test")
    assert set(export.images) == {"face_crop"} and export.passengers == {}
    assert export.embedding is not None and np.allclose(export.embedding, driver)
    for blob in export.images.values():
        assert embedding_bytes(passenger) not in blob
    # What the driver's crop shows of the passenger is blurred.
    assert _passenger_in_driver_crop(_jpeg(export.images["face_crop"]), frame) > 30
    # A passenger on the watch list raises nothing: their face was never kept.
    _enrol(archive, passenger)
    Matcher(archive.pool).run_once(limit=1000)
    rows, alert = _matches(archive, crossing.id)
    assert [r[:2] for r in rows] == [("face", "no_match")] and not alert


def test_policy_keeps_passengers_sealed_marked_matched_and_shown(
    settings, endpoints, archive
) -> None:  # type: ignore[no-untyped-def]
    crossing, frame, driver, passenger = _drive(archive, keep=True)
    assert [p.face.box for p in crossing.passengers] == [PASSENGER_BOX]
    kinds = [k for k, _, _ in object_keys(archive.pool, crossing.id)]
    assert kinds == ["face_crop", "face_embedding", "passenger_crop_1", "passenger_embedding_1"]
    assert _faces(archive, crossing.id) == [("driver", None), ("passenger", 1)]
    assert _near(archive, passenger) == 1
    with archive.pool.connection() as conn:
        stored = conn.execute(
            "SELECT bucket, key FROM objects WHERE crossing_id = %s", (crossing.id,)
        ).fetchall()
    for bucket, key in stored:
        assert archive.objects.get(bucket, key)[:4] == b"LCE1"  # sealed like the driver's

    reader = evidence_reader(settings, archive.pool, archive.objects)
    export = reader.export(SUPERVISOR, crossing.id, reason="policy test")
    assert np.allclose(export.passengers["passenger_embedding_1"], passenger)
    assert export.embedding is not None and np.allclose(export.embedding, driver)
    crop = _jpeg(export.images["passenger_crop_1"])
    assert _passenger_in_driver_crop(_jpeg(export.images["face_crop"]), frame) < 12
    original = PASSENGER_BOX.crop(frame, pad=0.2)
    blurred = PASSENGER_BOX.crop(blur_faces(frame, [PASSENGER_BOX]), pad=0.2)
    assert crop.shape == original.shape
    assert _mad(crop, original) < 10, "the passenger's crop is the frame's pixels"
    assert _mad(crop, blurred) > 20, "not the blurred face"

    # The watch list matches passengers too; a passenger's match is an alert.
    _enrol(archive, passenger)
    Matcher(archive.pool).run_once(limit=1000)
    rows, alert = _matches(archive, crossing.id)
    assert ("face", "match") in [r[:2] for r in rows] and alert
    assert [r[2].split(":")[0] for r in rows if r[1] == "match"] == ["passenger 1"]

    # The officer's view lists the passenger's face, with its crop, beside the driver's.
    from lanecap.api.services import build_services
    from lanecap.api.views import open_crossing

    svc = build_services(settings, endpoints)
    try:
        officer = Principal(name="pax-officer", role="officer")
        d = open_crossing(svc, officer, crossing.id, reason="policy test")
        assert [(f.seat, f.crop is not None) for f in d.faces] == [
            ("driver", True),
            ("passenger", True),
        ]
        assert d.faces[1].crop is not None and "/crops/passenger_crop_1?" in d.faces[1].crop
        jpeg = svc.opener.image(officer, crossing.id, "passenger_crop_1", reason="policy test")
        assert jpeg[:2] == b"\xff\xd8"
    finally:
        svc.close()


def test_face_retention_purges_passengers_with_the_driver(archive) -> None:  # type: ignore[no-untyped-def]
    from storage.retention import RetentionPolicy, run_retention

    # Seen one second after the epoch: no other test's crossing is that old.
    crossing, _frame, _driver, passenger = _drive(archive, keep=True, t0=1.0)
    with archive.pool.connection() as conn:
        stored = conn.execute(
            "SELECT bucket, key FROM objects WHERE crossing_id = %s AND kind LIKE 'passenger%%'",
            (crossing.id,),
        ).fetchall()
    assert len(stored) == 2
    policy = RetentionPolicy(
        plate_reads_days=3650, face_crops_days=1, alerts_days=3650, audit_days=3650
    )
    now = datetime.fromtimestamp(2.5, tz=UTC) + timedelta(days=1)
    report = run_retention(archive.pool, archive.objects, policy, now=now)
    assert report.faces_of == (crossing.id,) and report.crossings == ()
    assert _faces(archive, crossing.id) == [] and _near(archive, passenger) == 0
    assert object_keys(archive.pool, crossing.id) == []
    for bucket, key in stored:
        with pytest.raises(StorageError):
            archive.objects.get(bucket, key)


@pytest.mark.parametrize("kind", ["face_embedding", "passenger_embedding_1", "record", "x"])
def test_only_crops_open_as_images(settings, archive, kind: str) -> None:  # type: ignore[no-untyped-def]
    from lanecap.security.errors import SecurityError

    reader = evidence_reader(settings, archive.pool, archive.objects)
    with pytest.raises(SecurityError, match="not an image"):
        reader.image(SUPERVISOR, uuid.uuid4(), kind, reason="policy test")
