"""Crossing search: plate (exact, prefix, fuzzy), time range, lane, alert; faces 1:N; keyset pages.

Two plate stores, picked by the caller (`PlateStore`):

    clear   crossings.plate_text: exact (btree), prefix (text_pattern_ops), fuzzy (pg_trgm %)
    blind   sealed plates, no text in the database: exact by crossings.plate_index (the
            security core's keyed hash); fuzzy by the same index over every plate one edit
            away (substitution, insertion, deletion, transposition) and two OCR-confusable
            substitutions away (0/O, 1/I, 8/B, ...: `plate_variants`), scored 1 - edits/length;
            prefix by plate_prefixes, keyed hashes of each prefix (`BlindPrefixes`)

Pages are ordered by (started_at DESC, id DESC); a `Cursor` is the last row of the previous
page, so every page costs the same however deep it is. Fuzzy results carry their similarity.
Nothing here logs plate text.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg_pool import ConnectionPool

from storage import watchlist
from storage.crypto import SearchKey

PlateMode = Literal["exact", "prefix", "fuzzy"]
PlateStore = Literal["clear", "blind"]
MAX_PAGE = 200
DEFAULT_SIMILARITY = 0.4


def normalise(text: str) -> str:
    """Upper-case A-Z0-9 only (the plate reader's alphabet)."""
    return "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())


class BlindIndexer(Protocol):
    """What blind search needs from the search key (storage.crypto.SearchKey has both)."""

    @property
    def secret(self) -> bytes: ...

    def plate_index(self, text: str) -> bytes: ...


@dataclass(frozen=True)
class BlindPrefixes:
    """Keyed 32-bit hashes of a plate's prefixes (HMAC under a key derived from the search
    key), for prefix search of sealed plates."""

    key: bytes = field(repr=False)

    @classmethod
    def from_search_key(cls, search_key: BlindIndexer) -> BlindPrefixes:
        return cls(
            hmac.new(search_key.secret, b"lanecap plate prefixes v1", hashlib.sha256).digest()
        )

    def prefix(self, text: str) -> int:
        d = hmac.new(self.key, normalise(text).encode("ascii"), hashlib.sha256).digest()
        return int.from_bytes(d[:4], "big", signed=True)

    def prefixes(self, text: str) -> list[int]:
        t = normalise(text)
        return sorted({self.prefix(t[:n]) for n in range(1, len(t) + 1)})


ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CONFUSABLE: dict[str, str] = {
    "0": "ODQ", "O": "0DQ", "D": "0O", "Q": "0O", "1": "IL7", "I": "1L", "L": "1I", "7": "1T",
    "T": "7", "2": "Z", "Z": "2", "5": "S", "S": "5", "8": "B", "B": "8", "6": "G", "G": "6",
    "4": "A", "A": "4", "U": "V", "V": "U", "M": "N", "N": "M", "E": "F", "F": "E",
}  # fmt: skip


def plate_variants(text: str) -> dict[str, float]:
    """Plates within one edit of `text`, or two OCR-confusable substitutions, each with its
    score 1 - edits / length (the text itself scores 1)."""
    t = normalise(text)
    n = max(len(t), 1)
    out: dict[str, float] = {t: 1.0}

    def add(v: str, edits: int) -> None:
        if v and v not in out:
            out[v] = 1.0 - edits / max(n, len(v))

    for i in range(len(t) + 1):
        for ch in ALPHABET:
            add(t[:i] + ch + t[i:], 1)  # insertion
    for i in range(len(t)):
        add(t[:i] + t[i + 1 :], 1)  # deletion
        for ch in ALPHABET:
            add(t[:i] + ch + t[i + 1 :], 1)  # substitution
        if i + 1 < len(t):
            add(t[:i] + t[i + 1] + t[i] + t[i + 2 :], 1)  # transposition
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            for a in CONFUSABLE.get(t[i], ""):
                for b in CONFUSABLE.get(t[j], ""):
                    add(t[:i] + a + t[i + 1 : j] + b + t[j + 1 :], 2)
    return out


@dataclass(frozen=True)
class PlateQuery:
    text: str
    mode: PlateMode = "exact"
    similarity: float = DEFAULT_SIMILARITY

    def __post_init__(self) -> None:
        if not normalise(self.text):
            raise ValueError("a plate query needs at least one letter or digit")
        if not 0.05 <= self.similarity <= 1.0:
            raise ValueError("similarity must be in [0.05, 1]")


@dataclass(frozen=True)
class Cursor:
    """The last row of the previous page."""

    started_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Filters:
    lane_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    alert: bool | None = None


@dataclass(frozen=True)
class Hit:
    """One crossing found. `plate_text` is None for sealed crossings (open them to read it)."""

    id: uuid.UUID
    lane_id: str
    started_at: datetime
    plate_text: str | None
    plate_conf: float | None
    plate_flags: tuple[str, ...]
    face_status: str
    alert: bool
    sealed: bool
    score: float | None = None
    ended_at: datetime | None = None  # filled by `hit` only


@dataclass(frozen=True)
class Page:
    hits: tuple[Hit, ...]
    next: Cursor | None


_COLS = (
    "c.id, c.lane_id, c.started_at, c.plate_text, c.plate_conf, c.plate_flags, c.face_status,"
    " c.alert, c.sealed IS NOT NULL"
)


def _hit(r: Sequence[Any], score: float | None = None) -> Hit:
    return Hit(
        id=r[0],
        lane_id=r[1],
        started_at=r[2],
        plate_text=r[3],
        plate_conf=r[4],
        plate_flags=tuple(r[5] or ()),
        face_status=r[6],
        alert=bool(r[7]),
        sealed=bool(r[8]),
        score=score,
    )


def _filters(f: Filters, cursor: Cursor | None, where: list[str], args: dict[str, Any]) -> None:
    if f.lane_id is not None:
        where.append("c.lane_id = %(lane)s")
        args["lane"] = f.lane_id
    if f.since is not None:
        where.append("c.started_at >= %(since)s")
        args["since"] = f.since
    if f.until is not None:
        where.append("c.started_at < %(until)s")
        args["until"] = f.until
    if f.alert is not None:
        where.append("c.alert = %(alert)s")
        args["alert"] = f.alert
    if cursor is not None:
        where.append("(c.started_at, c.id) < (%(c_at)s, %(c_id)s)")
        args["c_at"], args["c_id"] = cursor.started_at, cursor.id


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_crossings(
    pool: ConnectionPool,
    *,
    plate: PlateQuery | None = None,
    filters: Filters = Filters(),
    cursor: Cursor | None = None,
    limit: int = 50,
    store: PlateStore = "clear",
    indexer: BlindIndexer | None = None,
) -> Page:
    """One page of crossings, newest first. `store="blind"` needs the search key (`indexer`)."""
    limit = max(1, min(limit, MAX_PAGE))
    where: list[str] = []
    args: dict[str, Any] = {"limit": limit + 1}
    score_sql = "NULL::real"
    join = ""
    if plate is not None:
        text = normalise(plate.text)
        if store == "clear":
            if plate.mode == "exact":
                where.append("c.plate_text = %(plate)s")
            elif plate.mode == "prefix":
                where.append("c.plate_text LIKE %(plate)s")
                text = _like_escape(text) + "%"
            else:
                where.append("c.plate_text %% %(plate)s")
                score_sql = "similarity(c.plate_text, %(plate)s)"
            args["plate"] = text
        else:
            if indexer is None:
                raise ValueError("blind plate search needs the search key")
            if plate.mode == "exact":
                where.append("c.plate_index = %(pidx)s")
                args["pidx"] = indexer.plate_index(text)
            elif plate.mode == "prefix":
                join = " JOIN plate_prefixes g ON g.crossing_id = c.id"
                where.append("g.prefixes @> ARRAY[%(ptok)s]::integer[]")
                args["ptok"] = BlindPrefixes.from_search_key(indexer).prefix(text)
            else:
                near = {v: sc for v, sc in plate_variants(text).items() if sc >= plate.similarity}
                args["idx"] = [indexer.plate_index(v) for v in near]
                args["scores"] = list(near.values())
                where.append("c.plate_index = ANY(%(idx)s::bytea[])")
                score_sql = "(%(scores)s::real[])[array_position(%(idx)s::bytea[], c.plate_index)]"
    _filters(filters, cursor, where, args)
    sql = (
        f"SELECT {_COLS}, {score_sql} FROM crossings c{join}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY c.started_at DESC, c.id DESC LIMIT %(limit)s"
    )
    with pool.connection() as conn, conn.transaction():
        if plate is not None and plate.mode == "fuzzy" and store == "clear":
            conn.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
                (str(plate.similarity),),
            )
        rows = conn.execute(sql, args).fetchall()
    hits = tuple(_hit(r, None if r[9] is None else float(r[9])) for r in rows[:limit])
    nxt = Cursor(hits[-1].started_at, hits[-1].id) if len(rows) > limit else None
    return Page(hits=hits, next=nxt)


def index_prefixes(
    pool: ConnectionPool, *, crossing_id: uuid.UUID, text: str, prefixes: BlindPrefixes
) -> None:
    """Store a sealed crossing's keyed prefixes (idempotent; a correction replaces them)."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO plate_prefixes (crossing_id, crossing_at, prefixes) VALUES"
            " (%(id)s, (SELECT c.started_at FROM crossings c WHERE c.id = %(id)s), %(p)s)"
            " ON CONFLICT (crossing_id, crossing_at) DO UPDATE SET prefixes = EXCLUDED.prefixes",
            {"id": crossing_id, "p": prefixes.prefixes(text)},
        )


def with_prefixes(pool: ConnectionPool, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these crossings have keyed prefixes already."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT crossing_id FROM plate_prefixes WHERE crossing_id = ANY(%s)", (list(ids),)
        ).fetchall()
    return {r[0] for r in rows}


def unindexed_sealed(pool: ConnectionPool, *, limit: int = 500) -> list[uuid.UUID]:
    """Sealed crossings with a plate index but no keyed prefixes yet (newest first)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id FROM crossings c WHERE c.plate_index IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM plate_prefixes g WHERE g.crossing_id = c.id)"
            " ORDER BY c.started_at DESC LIMIT %s",
            (limit,),
        ).fetchall()
    return [r[0] for r in rows]


# Faces ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceHit:
    crossing: Hit
    distance: float
    quality: float


def search_faces(
    pool: ConnectionPool,
    *,
    embedding: npt.NDArray[np.float32],
    filters: Filters = Filters(),
    limit: int = 20,
    ef_search: int = 100,
) -> list[FaceHit]:
    """The nearest stored faces (L2 on the searchable embedding), HNSW; filters apply after."""
    limit = max(1, min(limit, MAX_PAGE))
    where: list[str] = []
    args: dict[str, Any] = {"q": np.asarray(embedding, dtype=np.float32), "limit": limit}
    _filters(filters, None, where, args)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    sql = (
        f"SELECT {_COLS}, n.d, n.quality FROM (SELECT f.crossing_id, f.quality,"
        " f.embedding <-> %(q)s AS d FROM faces f WHERE f.embedding IS NOT NULL"
        " ORDER BY f.embedding <-> %(q)s"
        " LIMIT %(k)s) n JOIN crossings c ON c.id = n.crossing_id"
        f"{cond} ORDER BY n.d LIMIT %(limit)s"
    )
    args["k"] = max(limit * 4, ef_search)
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(ef_search, 40)),))
        rows = conn.execute(sql, args).fetchall()
    return [FaceHit(crossing=_hit(r), distance=float(r[9]), quality=float(r[10])) for r in rows]


# One crossing --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRow:
    """One frame's plate read; text None when sealed (the sealed record has it by position)."""

    camera_id: str
    role: str
    seen_at: datetime
    box: tuple[float, ...]
    det_score: float
    text: str | None
    confidence: float | None


@dataclass(frozen=True)
class FaceRow:
    """A stored face; passenger_no (1, 2, ...) only for a passenger's (seat "passenger")."""

    camera_id: str
    seen_at: datetime
    box: tuple[float, ...]
    quality: float
    seat: str = "driver"
    passenger_no: int | None = None


@dataclass(frozen=True)
class MatchRow:
    kind: str
    decision: str
    detail: str
    score: float | None
    watch_label: str | None
    created_at: datetime


@dataclass(frozen=True)
class ReviewRow:
    id: int
    action: str
    plate_text: str | None
    sealed: bytes | None = field(repr=False)
    actor: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class ViewRow:
    actor: str
    action: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Detail:
    crossing: Hit
    ended_at: datetime
    n_frames: int
    sealed: bytes | None = field(repr=False)
    reads: tuple[ReadRow, ...]
    faces: tuple[FaceRow, ...]
    matches: tuple[MatchRow, ...]
    reviews: tuple[ReviewRow, ...]
    objects: tuple[str, ...]


def _match_rows(
    pool: ConnectionPool, rows: Sequence[tuple[Any, ...]], search: SearchKey | None
) -> list[MatchRow]:
    """(kind, decision, detail, score, watch id, created_at) rows, labels opened with search."""
    labels = watchlist.labels(pool, [r[4] for r in rows if r[4] is not None], search=search)
    return [
        MatchRow(r[0], r[1], r[2], r[3], None if r[4] is None else labels.get(r[4]), r[5])
        for r in rows
    ]


def crossing_detail(
    pool: ConnectionPool, crossing_id: uuid.UUID, *, search: SearchKey | None = None
) -> Detail | None:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLS}, c.ended_at, c.n_frames, c.sealed FROM crossings c WHERE c.id = %s",
            (crossing_id,),
        ).fetchone()
        if row is None:
            return None
        reads = conn.execute(
            "SELECT camera_id, role, seen_at, box, det_score, text, confidence FROM plate_reads"
            " WHERE crossing_id = %s ORDER BY id",
            (crossing_id,),
        ).fetchall()
        faces = conn.execute(
            "SELECT camera_id, seen_at, box, quality, seat, passenger_no FROM faces"
            " WHERE crossing_id = %s ORDER BY passenger_no NULLS FIRST, id",
            (crossing_id,),
        ).fetchall()
        matches = conn.execute(
            "SELECT kind, decision, detail, score, watch_id, created_at FROM matches"
            " WHERE crossing_id = %s ORDER BY id",
            (crossing_id,),
        ).fetchall()
        reviews = conn.execute(
            "SELECT id, action, plate_text, sealed, actor, reason, created_at FROM plate_reviews"
            " WHERE crossing_id = %s ORDER BY id",
            (crossing_id,),
        ).fetchall()
        objects = conn.execute(
            "SELECT kind FROM objects WHERE crossing_id = %s ORDER BY kind", (crossing_id,)
        ).fetchall()
    return Detail(
        crossing=_hit(row),
        ended_at=row[9],
        n_frames=int(row[10]),
        sealed=None if row[11] is None else bytes(row[11]),
        reads=tuple(ReadRow(r[0], r[1], r[2], tuple(r[3]), float(r[4]), r[5], r[6]) for r in reads),
        faces=tuple(FaceRow(r[0], r[1], tuple(r[2]), float(r[3]), r[4], r[5]) for r in faces),
        matches=tuple(_match_rows(pool, matches, search)),
        reviews=tuple(
            ReviewRow(r[0], r[1], r[2], None if r[3] is None else bytes(r[3]), r[4], r[5], r[6])
            for r in reviews
        ),
        objects=tuple(o[0] for o in objects),
    )


VIEW_SUFFIXES = ("", "/plate_crop", "/face_crop")  # audit targets of a crossing and its crops


def viewers(pool: ConnectionPool, crossing_id: uuid.UUID, *, limit: int = 200) -> list[ViewRow]:
    """Who opened this crossing, from the audit log (newest first)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT actor, action, reason, at FROM audit_events WHERE target = ANY(%s)"
            " AND target LIKE 'crossing:%%' ORDER BY seq DESC LIMIT %s",
            ([f"crossing:{crossing_id}{s}" for s in VIEW_SUFFIXES], limit),
        ).fetchall()
    return [ViewRow(*r) for r in rows]


def add_review(
    conn: psycopg.Connection[Any],
    *,
    crossing_id: uuid.UUID,
    action: Literal["confirm", "correct"],
    actor: str,
    reason: str,
    plate_text: str | None = None,
    sealed: bytes | None = None,
    plate_index: bytes | None = None,
) -> int:
    """Record a confirmation or correction in the caller's transaction; a correction becomes the
    crossing's searchable plate (text or blind index) and adds the flag `corrected`."""
    row = conn.execute(
        "INSERT INTO plate_reviews (crossing_id, crossing_at, action, plate_text, sealed,"
        " plate_index, actor, reason) VALUES"
        " (%s, (SELECT c.started_at FROM crossings c WHERE c.id = %s), %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (crossing_id, crossing_id, action, plate_text, sealed, plate_index, actor, reason),
    ).fetchone()
    assert row is not None
    flag = "confirmed" if action == "confirm" else "corrected"
    conn.execute(
        "UPDATE crossings SET plate_flags = array_append(array_remove(plate_flags, %(f)s), %(f)s),"
        " plate_text = CASE WHEN %(a)s = 'correct' AND sealed IS NULL THEN %(t)s"
        " ELSE plate_text END,"
        " plate_index = CASE WHEN %(a)s = 'correct' AND %(i)s::bytea IS NOT NULL THEN %(i)s"
        " ELSE plate_index END WHERE id = %(id)s",
        {"f": flag, "a": action, "t": plate_text, "i": plate_index, "id": crossing_id},
    )
    return int(row[0])


def next_review_number(conn: psycopg.Connection[Any], crossing_id: uuid.UUID) -> int:
    row = conn.execute(
        "SELECT count(*) FROM plate_reviews WHERE crossing_id = %s", (crossing_id,)
    ).fetchone()
    return int(row[0]) + 1 if row else 1


def hit(pool: ConnectionPool, crossing_id: uuid.UUID) -> Hit | None:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLS}, c.ended_at FROM crossings c WHERE c.id = %s", (crossing_id,)
        )
        r = row.fetchone()
    return None if r is None else replace(_hit(r), ended_at=r[9])


def latest_corrections(
    pool: ConnectionPool, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str | None, bytes | None]]:
    """For each crossing with a correction: (review number, clear text, sealed text) of the
    newest. Review numbers count a crossing's reviews from 1 (sealed slots use them)."""
    if not ids:
        return {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (crossing_id) crossing_id, n, plate_text, sealed FROM"
            " (SELECT crossing_id, id, action, plate_text, sealed,"
            " row_number() OVER (PARTITION BY crossing_id ORDER BY id) AS n"
            " FROM plate_reviews WHERE crossing_id = ANY(%s)) r"
            " WHERE action = 'correct' ORDER BY crossing_id, id DESC",
            (list(ids),),
        ).fetchall()
    return {r[0]: (int(r[1]), r[2], None if r[3] is None else bytes(r[3])) for r in rows}


def matches_for(
    pool: ConnectionPool, ids: Sequence[uuid.UUID], *, search: SearchKey | None = None
) -> dict[uuid.UUID, list[MatchRow]]:
    if not ids:
        return {}
    out: dict[uuid.UUID, list[MatchRow]] = {}
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT crossing_id, kind, decision, detail, score, watch_id, created_at"
            " FROM matches WHERE crossing_id = ANY(%s) ORDER BY id",
            (list(ids),),
        ).fetchall()
    labelled = _match_rows(pool, [r[1:] for r in rows], search)
    for cid, m in zip((r[0] for r in rows), labelled, strict=True):
        out.setdefault(cid, []).append(m)
    return out
