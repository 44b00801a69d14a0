"""The spool's file format keeps every field a lane node writes, faces included."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lanecap.archive import SealedCrossing, SealedObject
from lanecap.spool import Spool, decode, encode
from storage import crossings as repo
from storage.crypto import WrappedKey
from storage.objects import StoredObject

T = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _sealed(i: int = 0) -> SealedCrossing:
    cid = uuid.uuid5(uuid.NAMESPACE_URL, f"spool-{i}")
    faces = (
        repo.FaceRecord("drv", T, (1.0, 2.0, 3.0, 4.0), 0.8, None),  # as a lane node writes it
        repo.FaceRecord("drv", T, (5.0, 6.0, 7.0, 8.0), 0.5, None, "passenger", 1),
        repo.FaceRecord("drv", T, (1.0, 1.0, 2.0, 2.0), 0.4, np.arange(128, dtype=np.float32)),
    )
    record = repo.CrossingRecord(
        id=cid,
        lane_id="l",
        started_at=T,
        ended_at=T,
        plate_text=None,
        plate_conf=0.9,
        plate_region="us",
        plate_flags=("check_plate",),
        face_status="captured",
        n_frames=4,
        faces=faces,
        reads=(repo.PlateReadRecord("c", "front_plate", T, (1.0, 2.0, 3.0, 4.0), 0.7, None, 0.9),),
        objects=(("plate_crop", StoredObject("b", f"{cid}/plate_crop", "0" * 64, 3)),),
        sealed=b"sealed",
        plate_index=b"idx",
        keys=(WrappedKey("plates", "k1", b"w"),),
    )
    return SealedCrossing((SealedObject("plates", f"{cid}/plate_crop", b"abc"),), record)


def test_faces_round_trip_with_seat_and_no_embedding() -> None:
    before = _sealed()
    after = decode(encode(before))
    assert after.objects == before.objects
    for a, b in zip(after.record.faces, before.record.faces, strict=True):
        assert (a.seat, a.passenger_no, a.box, a.quality) == (
            b.seat,
            b.passenger_no,
            b.box,
            b.quality,
        )
        if b.embedding is None:
            assert a.embedding is None  # not an array of NaN, which PostgreSQL refuses
        else:
            assert a.embedding is not None and np.array_equal(a.embedding, b.embedding)
    assert after.record.reads == before.record.reads
    assert (after.record.id, after.record.keys) == (before.record.id, before.record.keys)


def test_puts_and_a_drain_in_two_threads_keep_order_and_lose_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    got: list[uuid.UUID] = []
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set() or len(spool):
            spool.drain(lambda s: got.append(s.record.id) is None)

    t = threading.Thread(target=drain)
    t.start()
    want = [_sealed(i) for i in range(60)]
    for s in want:
        spool.put(s)
    stop.set()
    t.join(timeout=30)
    assert got == [s.record.id for s in want]
