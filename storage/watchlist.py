"""Watch-list entries (faces and plates) and the matches raised against crossings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

Kind = Literal["plate", "face"]
Decision = Literal["match", "no_match", "unknown"]


@dataclass(frozen=True)
class WatchEntry:
    id: int
    kind: Kind
    label: str
    plate_text: str | None
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    embedding: npt.NDArray[np.float32] | None = field(default=None, repr=False)


def add_face(
    pool: ConnectionPool,
    *,
    label: str,
    embedding: npt.NDArray[np.float32],
    reason: str,
    created_by: str,
    expires_at: datetime | None = None,
) -> int:
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vec.shape != (128,):
        raise ValueError(f"a face encoding has 128 values, got {vec.shape[0]}")
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO watchlist (kind, label, embedding, reason, created_by, expires_at)"
            " VALUES ('face', %s, %s, %s, %s, %s) RETURNING id",
            (label, vec, reason, created_by, expires_at),
        ).fetchone()
    assert row is not None
    return int(row[0])


def add_plate(
    pool: ConnectionPool,
    *,
    label: str,
    plate_text: str,
    reason: str,
    created_by: str,
    expires_at: datetime | None = None,
) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO watchlist (kind, label, plate_text, reason, created_by, expires_at)"
            " VALUES ('plate', %s, %s, %s, %s, %s) RETURNING id",
            (label, plate_text, reason, created_by, expires_at),
        ).fetchone()
    assert row is not None
    return int(row[0])


def expire(pool: ConnectionPool, entry_id: int, *, at: datetime) -> bool:
    with pool.connection() as conn:
        cur = conn.execute("UPDATE watchlist SET expires_at = %s WHERE id = %s", (at, entry_id))
    return cur.rowcount == 1


def active(pool: ConnectionPool, *, kind: Kind, at: datetime) -> list[WatchEntry]:
    """Entries of a kind in force at `at` (not expired)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, kind, label, plate_text, reason, created_by, created_at, expires_at, embedding"
            " FROM watchlist WHERE kind = %s AND (expires_at IS NULL OR expires_at > %s) ORDER BY id",
            (kind, at),
        ).fetchall()
    return [
        WatchEntry(
            id=r[0],
            kind=r[1],
            label=r[2],
            plate_text=r[3],
            reason=r[4],
            created_by=r[5],
            created_at=r[6],
            expires_at=r[7],
            embedding=None if r[8] is None else np.asarray(r[8].to_numpy(), dtype=np.float32),
        )
        for r in rows
    ]


def nearest_faces(
    pool: ConnectionPool, embedding: npt.NDArray[np.float32], *, at: datetime, k: int = 3
) -> list[tuple[int, str, float]]:
    """(entry id, label, euclidean distance) of the k nearest active face entries."""
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, label, embedding <-> %s AS d FROM watchlist"
            " WHERE kind = 'face' AND (expires_at IS NULL OR expires_at > %s)"
            " ORDER BY d LIMIT %s",
            (vec, at, k),
        ).fetchall()
    return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]


def record_match(
    pool: ConnectionPool,
    *,
    crossing_id: uuid.UUID,
    watch_id: int | None,
    kind: str,
    decision: Decision,
    detail: str = "",
    score: float | None = None,
) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO matches (crossing_id, watch_id, kind, decision, detail, score)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (crossing_id, watch_id, kind, decision, detail, score),
        )
        if decision == "match":
            conn.execute("UPDATE crossings SET alert = true WHERE id = %s", (crossing_id,))
