"""Legal holds by case number: a held crossing is never purged.

Three layers: retention skips held crossings; database triggers refuse to delete a held
crossing, its keys or its faces; and where the bucket has S3 Object Lock, each of the
crossing's objects carries an S3 legal hold that refuses deletion by anyone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from storage.errors import StorageError
from storage.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    case_number: str
    crossing_id: uuid.UUID
    created_by: str
    created_at: datetime


def _objects_of(pool: ConnectionPool, crossing_id: uuid.UUID) -> list[tuple[str, str]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT bucket, key FROM objects WHERE crossing_id = %s", (crossing_id,)
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def _s3_hold(objects: ObjectStore | None, pool: ConnectionPool, cid: uuid.UUID, *, on: bool) -> int:
    if objects is None:
        return 0
    n = 0
    for bucket, key in _objects_of(pool, cid):
        if objects.object_lock_enabled(bucket):
            n += objects.set_legal_hold(bucket, key, on=on)
    return n


def place_hold(
    pool: ConnectionPool,
    objects: ObjectStore | None,
    *,
    case_number: str,
    crossing_ids: Sequence[uuid.UUID],
    reason: str,
    created_by: str,
) -> tuple[int, int]:
    """Hold the crossings for the case; (holds placed, S3 object versions locked)."""
    if not reason.strip():
        raise StorageError("a legal hold needs a reason", key=case_number)
    placed = 0
    with pool.connection() as conn, conn.transaction():
        for cid in crossing_ids:
            if conn.execute("SELECT 1 FROM crossings WHERE id = %s", (cid,)).fetchone() is None:
                raise StorageError(f"no crossing {cid}", key=str(cid))
            placed += conn.execute(
                "INSERT INTO legal_holds (case_number, crossing_id, reason, created_by)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (case_number, cid, reason, created_by),
            ).rowcount
    locked = sum(_s3_hold(objects, pool, cid, on=True) for cid in crossing_ids)
    return placed, locked


def release_hold(
    pool: ConnectionPool, objects: ObjectStore | None, *, case_number: str, released_by: str
) -> list[uuid.UUID]:
    """Release the case's holds; S3 holds are cleared where no other case still holds."""
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(
            "UPDATE legal_holds SET released_at = now(), released_by = %s"
            " WHERE case_number = %s AND released_at IS NULL RETURNING crossing_id",
            (released_by, case_number),
        ).fetchall()
        released = [r[0] for r in rows]
        still = {
            r[0]
            for r in conn.execute(
                "SELECT crossing_id FROM legal_holds WHERE released_at IS NULL"
                " AND crossing_id = ANY(%s)",
                (released,),
            ).fetchall()
        }
    for cid in released:
        if cid not in still:
            _s3_hold(objects, pool, cid, on=False)
    return released


def active_holds(pool: ConnectionPool, *, case_number: str | None = None) -> list[Hold]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT case_number, crossing_id, created_by, created_at FROM legal_holds"
            " WHERE released_at IS NULL AND (%s::text IS NULL OR case_number = %s::text)"
            " ORDER BY created_at",
            (case_number, case_number),
        ).fetchall()
    return [Hold(*r) for r in rows]
