"""Watch-list entries (faces and plates) and the matches raised against crossings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

Decision = Literal["match", "no_match", "unknown"]
MatchKind = Literal["exact", "confusable", "fuzzy"]


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
    index: Sequence[tuple[bytes, MatchKind]],
    expires_at: datetime | None = None,
) -> int:
    """Add a plate entry with its keyed index rows (exact, confusable and one-edit variants)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "INSERT INTO watchlist (kind, label, plate_text, reason, created_by, expires_at)"
            " VALUES ('plate', %s, %s, %s, %s, %s) RETURNING id",
            (label, plate_text, reason, created_by, expires_at),
        ).fetchone()
        assert row is not None
        entry_id = int(row[0])
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hotlist_index (watch_id, idx, kind) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [(entry_id, idx, kind) for idx, kind in index],
            )
    return entry_id


def expire(pool: ConnectionPool, entry_id: int, *, at: datetime) -> bool:
    with pool.connection() as conn:
        cur = conn.execute("UPDATE watchlist SET expires_at = %s WHERE id = %s", (at, entry_id))
    return cur.rowcount == 1


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


@dataclass(frozen=True)
class Pending:
    """A stored crossing not yet matched: its keyed plate hashes and its driver's face
    (searchable form); `passengers` as (passenger no, quality, face) where a site keeps them."""

    id: uuid.UUID
    plate_index: bytes | None = field(repr=False)
    plate_fold_index: bytes | None = field(repr=False)
    face_quality: float | None
    face: npt.NDArray[np.float32] | None = field(repr=False)
    passengers: tuple[tuple[int, float, npt.NDArray[np.float32]], ...] = field(
        default=(), repr=False
    )


def pending(pool: ConnectionPool, *, limit: int = 100) -> list[Pending]:
    """Crossings not matched yet, oldest first."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, c.plate_index, c.plate_fold_index, f.quality, f.embedding"
            " FROM crossings c LEFT JOIN LATERAL ("
            "   SELECT quality, embedding FROM faces WHERE crossing_id = c.id AND seat = 'driver'"
            "   ORDER BY quality DESC LIMIT 1) f ON true"
            " WHERE c.matched_at IS NULL ORDER BY c.created_at LIMIT %s",
            (limit,),
        ).fetchall()
        riders: dict[uuid.UUID, list[tuple[int, float, npt.NDArray[np.float32]]]] = {}
        for cid, no, quality, emb in conn.execute(
            "SELECT crossing_id, passenger_no, quality, embedding FROM faces"
            " WHERE seat = 'passenger' AND crossing_id = ANY(%s) ORDER BY passenger_no",
            ([r[0] for r in rows],),
        ).fetchall():
            vec = np.asarray(emb.to_numpy(), dtype=np.float32)
            riders.setdefault(cid, []).append((int(no), float(quality), vec))
    return [
        Pending(
            id=r[0],
            plate_index=None if r[1] is None else bytes(r[1]),
            plate_fold_index=None if r[2] is None else bytes(r[2]),
            face_quality=r[3],
            face=None if r[4] is None else np.asarray(r[4].to_numpy(), dtype=np.float32),
            passengers=tuple(riders.get(r[0], ())),
        )
        for r in rows
    ]


def plate_hits(
    pool: ConnectionPool, *, plate_index: bytes | None, fold_index: bytes | None, at: datetime
) -> list[tuple[int, MatchKind]]:
    """(entry id, best kind) of active plate entries that the keyed hashes hit."""
    if plate_index is None and fold_index is None:
        return []
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT h.watch_id, min(CASE h.kind WHEN 'exact' THEN 0 WHEN 'confusable' THEN 1"
            " ELSE 2 END) FROM hotlist_index h JOIN watchlist w ON w.id = h.watch_id"
            " WHERE (w.expires_at IS NULL OR w.expires_at > %s)"
            " AND ((h.kind = 'exact' AND h.idx = %s) OR (h.kind <> 'exact' AND h.idx = %s))"
            " GROUP BY h.watch_id ORDER BY 2, 1",
            (at, plate_index, fold_index),
        ).fetchall()
    kinds: tuple[MatchKind, ...] = ("exact", "confusable", "fuzzy")
    return [(int(r[0]), kinds[int(r[1])]) for r in rows]


def labels(pool: ConnectionPool, ids: Sequence[int]) -> dict[int, str]:
    """The labels of watch-list entries by id."""
    if not ids:
        return {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, label FROM watchlist WHERE id = ANY(%s)", (list(ids),)
        ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


@dataclass(frozen=True)
class MatchRow:
    watch_id: int | None
    kind: Literal["plate", "face"]
    decision: Decision
    detail: str = ""
    score: float | None = None


def finish_matching(pool: ConnectionPool, crossing_id: uuid.UUID, rows: Sequence[MatchRow]) -> None:
    """Record a crossing's match results, raise its alert on any match, mark it matched: one transaction."""
    with pool.connection() as conn, conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO matches (crossing_id, watch_id, kind, decision, detail, score)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [(crossing_id, r.watch_id, r.kind, r.decision, r.detail, r.score) for r in rows],
            )
        alert = any(r.decision == "match" for r in rows)
        conn.execute(
            "UPDATE crossings SET matched_at = now(), alert = alert OR %s WHERE id = %s",
            (alert, crossing_id),
        )
