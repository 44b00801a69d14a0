"""Crossings and what belongs to them, written in one transaction, idempotent by crossing id.

Every part carries its crossing's started_at (`crossing_at`): the tables are partitioned by
month on it (migration 012), so a crossing and its parts always share a partition."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from storage.crypto import WrappedKey
from storage.keystore import insert_keys
from storage.objects import StoredObject


@dataclass(frozen=True)
class PlateReadRecord:
    """One plate sighting; box is (x1, y1, x2, y2) pixels in the camera's frame."""

    camera_id: str
    role: str
    seen_at: datetime
    box: tuple[float, float, float, float]
    det_score: float
    text: str | None
    confidence: float | None
    char_conf: tuple[float, ...] = ()


@dataclass(frozen=True)
class FaceRecord:
    """One stored face: the driver's, or passenger `passenger_no` (1, 2, ...) where a site's
    policy keeps passengers' faces."""

    camera_id: str
    seen_at: datetime
    box: tuple[float, float, float, float]
    quality: float
    # None from a lane node: the officer service sets the searchable form at ingest.
    embedding: npt.NDArray[np.float32] | None = field(repr=False)
    seat: Literal["driver", "passenger"] = "driver"
    passenger_no: int | None = None


@dataclass(frozen=True)
class CrossingRecord:
    """A crossing to store. An encrypting writer leaves plate_text and read texts None and puts
    them in `sealed` (AES-GCM under the plates key), with `plate_index` for exact search and the
    wrapped data keys in `keys`."""

    id: uuid.UUID
    lane_id: str
    started_at: datetime
    ended_at: datetime
    plate_text: str | None
    plate_conf: float | None
    plate_region: str | None
    plate_flags: tuple[str, ...]
    face_status: str
    n_frames: int
    alert: bool = False
    reads: tuple[PlateReadRecord, ...] = ()
    faces: tuple[FaceRecord, ...] = ()
    objects: tuple[tuple[str, StoredObject], ...] = ()
    sealed: bytes | None = field(default=None, repr=False)
    plate_index: bytes | None = field(default=None, repr=False)
    plate_fold_index: bytes | None = field(default=None, repr=False)
    keys: tuple[WrappedKey, ...] = ()


@dataclass(frozen=True)
class CrossingSummary:
    id: uuid.UUID
    lane_id: str
    started_at: datetime
    ended_at: datetime
    plate_text: str | None
    plate_conf: float | None
    plate_flags: tuple[str, ...]
    face_status: str
    n_frames: int
    alert: bool
    n_reads: int
    n_faces: int
    n_objects: int


def upsert_lane(
    pool: ConnectionPool, *, lane_id: str, site: str, driving_side: str, config: dict[str, object]
) -> None:
    """Register a lane (a lane login may register only its own lane)."""
    with pool.connection() as conn:
        conn.execute(
            "SELECT lanecap_register_lane(%s, %s, %s, %s)",
            (lane_id, site, driving_side, Jsonb(config)),
        )


def save_crossing(pool: ConnectionPool, rec: CrossingRecord) -> bool:
    """Store the crossing and its parts atomically; False when it was already stored.
    (A plain INSERT, not ON CONFLICT, which would need SELECT that lane logins lack.)"""
    try:
        _insert_crossing(pool, rec)
    except psycopg.errors.UniqueViolation as err:
        if not _CROSSING_KEY.match(err.diag.constraint_name or ""):
            raise
        return False
    return True


# A stored id is refused as crossings_pkey by trigger crossings_unique_id (migration 012); two
# concurrent writers of one id and time meet at a partition's own key instead.
_CROSSING_KEY = re.compile(r"^crossings(_p\d{6}|_default)?_pkey$")


def _insert_crossing(pool: ConnectionPool, rec: CrossingRecord) -> None:
    with pool.connection() as conn, conn.transaction():
        conn.execute(
            "INSERT INTO crossings (id, lane_id, started_at, ended_at, plate_text, plate_conf,"
            " plate_region, plate_flags, face_status, n_frames, alert, sealed, plate_index,"
            " plate_fold_index)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                rec.id,
                rec.lane_id,
                rec.started_at,
                rec.ended_at,
                rec.plate_text,
                rec.plate_conf,
                rec.plate_region,
                list(rec.plate_flags),
                rec.face_status,
                rec.n_frames,
                rec.alert,
                rec.sealed,
                rec.plate_index,
                rec.plate_fold_index,
            ),
        )
        insert_keys(conn, rec.id, rec.keys, crossing_at=rec.started_at)
        with conn.cursor() as c:
            c.executemany(
                "INSERT INTO plate_reads (crossing_id, crossing_at, camera_id, role, seen_at, box,"
                " det_score, text, confidence, char_conf)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        rec.id,
                        rec.started_at,
                        r.camera_id,
                        r.role,
                        r.seen_at,
                        list(r.box),
                        r.det_score,
                        r.text,
                        r.confidence,
                        list(r.char_conf),
                    )
                    for r in rec.reads
                ],
            )
            c.executemany(
                "INSERT INTO faces (crossing_id, crossing_at, camera_id, seen_at, box, quality,"
                " embedding, seat, passenger_no) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        rec.id,
                        rec.started_at,
                        f.camera_id,
                        f.seen_at,
                        list(f.box),
                        f.quality,
                        None if f.embedding is None else np.asarray(f.embedding, dtype=np.float32),
                        f.seat,
                        f.passenger_no,
                    )
                    for f in rec.faces
                ],
            )
            c.executemany(
                "INSERT INTO objects (crossing_id, crossing_at, kind, bucket, key, sha256, size)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (rec.id, rec.started_at, kind, o.bucket, o.key, o.sha256, o.size)
                    for kind, o in rec.objects
                ],
            )


def list_crossings(
    pool: ConnectionPool, *, lane_id: str | None = None, limit: int = 50
) -> Sequence[CrossingSummary]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, c.lane_id, c.started_at, c.ended_at, c.plate_text, c.plate_conf,"
            " c.plate_flags, c.face_status, c.n_frames, c.alert,"
            " (SELECT count(*) FROM plate_reads r WHERE r.crossing_id = c.id),"
            " (SELECT count(*) FROM faces f WHERE f.crossing_id = c.id),"
            " (SELECT count(*) FROM objects o WHERE o.crossing_id = c.id)"
            " FROM crossings c WHERE (%(lane)s::text IS NULL OR c.lane_id = %(lane)s)"
            " ORDER BY c.started_at DESC LIMIT %(limit)s",
            {"lane": lane_id, "limit": limit},
        ).fetchall()
    return [
        CrossingSummary(
            id=r[0],
            lane_id=r[1],
            started_at=r[2],
            ended_at=r[3],
            plate_text=r[4],
            plate_conf=r[5],
            plate_flags=tuple(r[6]),
            face_status=r[7],
            n_frames=r[8],
            alert=r[9],
            n_reads=r[10],
            n_faces=r[11],
            n_objects=r[12],
        )
        for r in rows
    ]


def object_keys(pool: ConnectionPool, crossing_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """(kind, bucket, key) of each object stored for a crossing."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, bucket, key FROM objects WHERE crossing_id = %s ORDER BY kind",
            (crossing_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def crossing_exists(pool: ConnectionPool, crossing_id: uuid.UUID) -> bool:
    """Whether the crossing is stored; a lane login learns this only of its own lane's."""
    with pool.connection() as conn:
        row = conn.execute("SELECT lanecap_crossing_stored(%s)", (crossing_id,)).fetchone()
    return bool(row and row[0])
