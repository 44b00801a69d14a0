"""Live previews of vehicles still in a lane (table live_previews): sealed, short-lived.

The lane node writes one when a plate track's vote settles or changes; the insert trigger
notifies the officer service, which opens it for the booth. Nothing here is in clear: the
payload is sealed under a data key wrapped to the agency public key, like a crossing's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg_pool import ConnectionPool

from storage.crypto import WrappedKey


@dataclass(frozen=True)
class PreviewRecord:
    id: uuid.UUID
    lane_id: str
    camera_id: str
    first_seen: datetime
    seen_at: datetime
    key: WrappedKey = field(repr=False)
    sealed: bytes = field(repr=False)
    plate_index: bytes | None = field(default=None, repr=False)
    plate_fold_index: bytes | None = field(default=None, repr=False)
    face_embedding: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    face_quality: float | None = None


def preview_slot(preview_id: uuid.UUID) -> str:
    """The encryption slot (associated data) of a preview's sealed payload."""
    return f"{preview_id}/preview"


def save_preview(pool: ConnectionPool, rec: PreviewRecord, *, timeout_s: float = 1.0) -> bool:
    """Insert a preview; False when it was there already (a replay). A plain INSERT: lane
    logins may not SELECT, which ON CONFLICT needs."""
    with pool.connection(timeout=timeout_s) as conn:
        try:
            conn.execute(
                "INSERT INTO live_previews (id, lane_id, camera_id, first_seen, seen_at, key_id,"
                " wrapped_key, sealed, plate_index, plate_fold_index, face_embedding, face_quality)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    rec.id,
                    rec.lane_id,
                    rec.camera_id,
                    rec.first_seen,
                    rec.seen_at,
                    rec.key.key_id,
                    rec.key.wrapped,
                    rec.sealed,
                    rec.plate_index,
                    rec.plate_fold_index,
                    rec.face_embedding,
                    rec.face_quality,
                ),
            )
        except psycopg.errors.UniqueViolation:
            conn.rollback()
            return False
        return True


def get_preview(pool: ConnectionPool, preview_id: uuid.UUID) -> PreviewRecord | None:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT id, lane_id, camera_id, first_seen, seen_at, key_id, wrapped_key, sealed,"
            " plate_index, plate_fold_index, face_embedding, face_quality"
            " FROM live_previews WHERE id = %s",
            (preview_id,),
        ).fetchone()
    if row is None:
        return None
    return PreviewRecord(
        id=row[0],
        lane_id=row[1],
        camera_id=row[2],
        first_seen=row[3],
        seen_at=row[4],
        key=WrappedKey(purpose="plates", key_id=row[5], wrapped=bytes(row[6])),
        sealed=bytes(row[7]),
        plate_index=None if row[8] is None else bytes(row[8]),
        plate_fold_index=None if row[9] is None else bytes(row[9]),
        face_embedding=None
        if row[10] is None
        else np.asarray(row[10].to_numpy(), dtype=np.float32),
        face_quality=None if row[11] is None else float(row[11]),
    )


def purge_previews(conn: psycopg.Connection[Any], *, older_than: datetime) -> int:
    """Delete previews written before `older_than`; returns how many."""
    cur = conn.execute("DELETE FROM live_previews WHERE created_at < %s", (older_than,))
    return cur.rowcount
