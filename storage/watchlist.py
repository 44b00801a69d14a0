"""Watch-list entries (faces and plates) and the matches raised against crossings.

An entry's plate text, label and reason are sealed (AES-256-GCM under the officer service's
`officer_key(search, "watchlist")`, slot `watchlist/<id>`): the row keeps only its kind,
expiry, author and, for faces, the searchable (key-rotated) embedding. Plates are matched by
their keyed hashes in `hotlist_index`, never by text. Entries stored in clear before
migration 011 are sealed by `seal_clear_entries` (run by the officer service and the list
commands); `compact` then rewrites the table so the cleared values leave its files.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg_pool import ConnectionPool

from storage.crypto import DecryptionError, SearchKey, officer_key

log = logging.getLogger(__name__)

UNOPENED = "{} (sealed under another search key: check keys/search.key)"
Decision = Literal["match", "no_match", "unknown"]
MatchKind = Literal["exact", "confusable", "fuzzy"]


@dataclass(frozen=True)
class Contents:
    """What an entry seals: who or what is listed, the plate (plate entries), and why."""

    label: str = field(repr=False)
    plate_text: str | None = field(repr=False)
    reason: str = field(repr=False)


def _slot(entry_id: int) -> str:
    return f"watchlist/{entry_id}"


def seal(search: SearchKey, entry_id: int, contents: Contents) -> bytes:
    data = {
        "v": 1,
        "label": contents.label,
        "plate": contents.plate_text,
        "reason": contents.reason,
    }
    return officer_key(search, "watchlist").encrypt(
        json.dumps(data, separators=(",", ":")).encode("utf-8"), slot=_slot(entry_id)
    )


def open_sealed(search: SearchKey, entry_id: int, sealed: bytes) -> Contents:
    """The entry's contents; DecryptionError when the blob is not this entry's."""
    data = json.loads(officer_key(search, "watchlist").decrypt(sealed, slot=_slot(entry_id)))
    return Contents(label=str(data["label"]), plate_text=data["plate"], reason=str(data["reason"]))


def reference(entry_id: int) -> str:
    """How an entry is named where it is not opened (audit targets say `watchlist:<id>`)."""
    return f"list entry {entry_id}"


def contents_of(
    search: SearchKey | None,
    entry_id: int,
    sealed: bytes | None,
    clear: tuple[str | None, str | None, str],
) -> Contents:
    """An entry as stored: opened when sealed and a key is given; an entry still in clear
    (before `seal_clear_entries`) as it is; otherwise only its reference. An entry sealed
    under another search key (a restored backup, a key mix-up) is listed by reference,
    marked as unopened, instead of failing the whole list."""
    if sealed is not None:
        if search is None:
            return Contents(label=reference(entry_id), plate_text=None, reason="")
        try:
            return open_sealed(search, entry_id, sealed)
        except DecryptionError:
            log.warning(
                "%s does not open with this search key: listed unopened", reference(entry_id)
            )
            return Contents(label=UNOPENED.format(reference(entry_id)), plate_text=None, reason="")
    label, plate_text, reason = clear
    return Contents(label=label or reference(entry_id), plate_text=plate_text, reason=reason)


def _insert(
    conn: psycopg.Connection[Any],
    search: SearchKey,
    *,
    kind: Literal["plate", "face"],
    contents: Contents,
    embedding: npt.NDArray[np.float32] | None,
    created_by: str,
    expires_at: datetime | None,
) -> int:
    row = conn.execute("SELECT nextval(pg_get_serial_sequence('watchlist', 'id'))").fetchone()
    assert row is not None
    entry_id = int(row[0])
    conn.execute(
        "INSERT INTO watchlist (id, kind, sealed, embedding, reason, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, '', %s, %s)",
        (entry_id, kind, seal(search, entry_id, contents), embedding, created_by, expires_at),
    )
    return entry_id


def add_face(
    pool: ConnectionPool,
    *,
    search: SearchKey,
    label: str,
    embedding: npt.NDArray[np.float32],
    reason: str,
    created_by: str,
    expires_at: datetime | None = None,
) -> int:
    """Add a face entry: `embedding` in its searchable form, label and reason sealed."""
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vec.shape != (128,):
        raise ValueError(f"a face encoding has 128 values, got {vec.shape[0]}")
    with pool.connection() as conn, conn.transaction():
        return _insert(
            conn,
            search,
            kind="face",
            contents=Contents(label=label, plate_text=None, reason=reason),
            embedding=vec,
            created_by=created_by,
            expires_at=expires_at,
        )


def add_plate(
    pool: ConnectionPool,
    *,
    search: SearchKey,
    label: str,
    plate_text: str,
    reason: str,
    created_by: str,
    index: Sequence[tuple[bytes, MatchKind]],
    expires_at: datetime | None = None,
) -> int:
    """Add a plate entry, sealed, with its keyed index rows (exact, confusable and one-edit
    variants)."""
    with pool.connection() as conn, conn.transaction():
        entry_id = _insert(
            conn,
            search,
            kind="plate",
            contents=Contents(label=label, plate_text=plate_text, reason=reason),
            embedding=None,
            created_by=created_by,
            expires_at=expires_at,
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hotlist_index (watch_id, idx, kind) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                [(entry_id, idx, kind) for idx, kind in index],
            )
    return entry_id


def seal_clear_entries(pool: ConnectionPool, search: SearchKey, *, batch: int = 200) -> int:
    """Seal every entry stored in clear (before migration 011) and clear its columns; returns
    how many. Idempotent; concurrent runs share the work (SKIP LOCKED)."""
    done = 0
    while True:
        with pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT id, label, plate_text, reason FROM watchlist WHERE sealed IS NULL"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (batch,),
            ).fetchall()
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE watchlist SET sealed = %s, label = NULL, plate_text = NULL,"
                    " reason = '' WHERE id = %s",
                    [
                        (
                            seal(
                                search,
                                int(r[0]),
                                Contents(label=r[1] or "", plate_text=r[2], reason=r[3] or ""),
                            ),
                            int(r[0]),
                        )
                        for r in rows
                    ],
                )
        if not rows:
            return done
        done += len(rows)


def clear_entries(pool: ConnectionPool) -> int:
    """How many entries are still stored in clear."""
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM watchlist WHERE sealed IS NULL").fetchone()
    assert row is not None
    return int(row[0])


def all_sealed_validated(pool: ConnectionPool) -> bool:
    """Whether PostgreSQL has checked every row against `watchlist_sealed` (after `compact`)."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT convalidated FROM pg_constraint"
            " WHERE conrelid = 'watchlist'::regclass AND conname = 'watchlist_sealed'"
        ).fetchone()
    return row is None or bool(row[0])


def compact(admin_url: str) -> bool:
    """As the schema owner: rewrite the watch list (VACUUM FULL) so values cleared by
    `seal_clear_entries` leave the table's files, then validate that every row is sealed.
    False (and a warning) when the login does not own the table. Copies in WAL segments and
    backups written before remain until those are recycled."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute("ALTER TABLE watchlist VALIDATE CONSTRAINT watchlist_sealed")
        except psycopg.errors.InsufficientPrivilege:
            log.warning("watchlist not compacted: run `lanecap hotlist seal` as the schema owner")
            return False
        conn.execute("VACUUM FULL watchlist")
    return True


def expire(pool: ConnectionPool, entry_id: int, *, at: datetime) -> bool:
    with pool.connection() as conn:
        cur = conn.execute("UPDATE watchlist SET expires_at = %s WHERE id = %s", (at, entry_id))
    return cur.rowcount == 1


def nearest_faces(
    pool: ConnectionPool, embedding: npt.NDArray[np.float32], *, at: datetime, k: int = 3
) -> list[tuple[int, str, float]]:
    """(entry id, reference, euclidean distance) of the k nearest active face entries (the
    label is sealed: `labels` opens it)."""
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, coalesce(label, 'list entry ' || id), embedding <-> %s AS d FROM watchlist"
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
            "   AND embedding IS NOT NULL"
            "   ORDER BY quality DESC LIMIT 1) f ON true"
            " WHERE c.matched_at IS NULL AND c.indexed_at IS NOT NULL ORDER BY c.created_at LIMIT %s",
            (limit,),
        ).fetchall()
        riders: dict[uuid.UUID, list[tuple[int, float, npt.NDArray[np.float32]]]] = {}
        for cid, no, quality, emb in conn.execute(
            "SELECT crossing_id, passenger_no, quality, embedding FROM faces"
            " WHERE seat = 'passenger' AND embedding IS NOT NULL AND crossing_id = ANY(%s)"
            " ORDER BY passenger_no",
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


def labels(
    pool: ConnectionPool, ids: Sequence[int], *, search: SearchKey | None = None
) -> dict[int, str]:
    """The labels of watch-list entries by id, opened with the officer service's search key;
    without it, the entries' references (`list entry <id>`)."""
    if not ids:
        return {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, sealed, label, plate_text, reason FROM watchlist WHERE id = ANY(%s)",
            (list(ids),),
        ).fetchall()
    return {
        int(r[0]): contents_of(
            search, int(r[0]), None if r[1] is None else bytes(r[1]), (r[2], r[3], r[4])
        ).label
        for r in rows
    }


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
                "INSERT INTO matches (crossing_id, crossing_at, watch_id, kind, decision, detail,"
                " score) VALUES (%s, (SELECT c.started_at FROM crossings c WHERE c.id = %s),"
                " %s, %s, %s, %s, %s)",
                [
                    (crossing_id, crossing_id, r.watch_id, r.kind, r.decision, r.detail, r.score)
                    for r in rows
                ],
            )
        alert = any(r.decision == "match" for r in rows)
        conn.execute(
            "UPDATE crossings SET matched_at = now(), alert = alert OR %s WHERE id = %s",
            (alert, crossing_id),
        )
