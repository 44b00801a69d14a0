"""Watch list (faces) and plate hot list for the console, over the matching code's pieces.

Entries are stored by `storage.watchlist` with the same conventions as `lanecap hotlist` and
`lanecap watchlist`: a plate entry carries its keyed index rows (`lanecap.matcher.
plate_index_rows`: exact, look-alike and one-edit hashes), a face entry its searchable
(key-rotated) embedding after `recognition.faces.match.check_enrolment`; CSV files are read
by `recognition.plates.hotlist.import_csv` (good rows load, bad rows are reported by line).
An expiry date is the last day in force (UTC), as in `recognition.plates.hotlist` and the CLI.
Supervisors only (routes check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
from psycopg_pool import ConnectionPool

from lanecap.api.errors import BadRequest, NotFound
from lanecap.matcher import plate_index_rows
from recognition.faces.match import check_enrolment
from recognition.plates.hotlist import HotlistImportError, RejectedRow, import_csv
from recognition.types import FaceEncoder, Image
from storage import watchlist as store
from storage.crypto import SearchKey
from storage.search import normalise

ListKind = Literal["plate", "face"]


@dataclass(frozen=True)
class Entry:
    id: int
    kind: ListKind
    label: str
    plate_text: str | None
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    active: bool


_COLS = (
    "id, kind, label, plate_text, reason, created_by, created_at, expires_at,"
    " (expires_at IS NULL OR expires_at > now())"
)


def entries(
    pool: ConnectionPool, *, kind: ListKind | None = None, active_only: bool = False
) -> list[Entry]:
    """Every entry (expired ones too, for the history), newest first."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLS} FROM watchlist WHERE (%(k)s::text IS NULL OR kind = %(k)s)"
            " AND (NOT %(a)s OR expires_at IS NULL OR expires_at > now()) ORDER BY id DESC",
            {"k": kind, "a": active_only},
        ).fetchall()
    return [Entry(*r) for r in rows]


def entry(pool: ConnectionPool, entry_id: int) -> Entry:
    with pool.connection() as conn:
        r = conn.execute(f"SELECT {_COLS} FROM watchlist WHERE id = %s", (entry_id,)).fetchone()
    if r is None:
        raise NotFound(f"list entry {entry_id}")
    return Entry(*r)


def until(day: date | None) -> datetime | None:
    """The instant an entry stops: the start of the day after its last day in force (UTC)."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def add_plate(
    pool: ConnectionPool,
    search: SearchKey,
    *,
    plate: str,
    label: str,
    reason: str,
    by: str,
    expires_at: datetime | None,
) -> int:
    text = normalise(plate)
    try:
        rows = plate_index_rows(search, text)
    except ValueError as err:
        raise BadRequest(str(err)) from None
    return store.add_plate(
        pool,
        label=label or text,
        plate_text=text,
        reason=reason,
        created_by=by,
        index=rows,
        expires_at=expires_at,
    )


def add_face(
    pool: ConnectionPool,
    search: SearchKey,
    encoder: FaceEncoder,
    *,
    image: Image,
    label: str,
    reason: str,
    by: str,
    expires_at: datetime | None,
) -> int:
    check = check_enrolment(image, encoder=encoder)
    if check.face is None:
        raise BadRequest(
            f"not enrolled: {check.reason} ({check.n_faces} face(s) found)",
            hint="use a sharp, frontal, well-lit photo of exactly one person",
        )
    embedding = search.protect_embedding(np.asarray(check.face.encoding, dtype=np.float32))
    return store.add_face(
        pool, label=label, embedding=embedding, reason=reason, created_by=by, expires_at=expires_at
    )


def expire(pool: ConnectionPool, entry_id: int) -> None:
    if not entry(pool, entry_id).active:
        raise NotFound(f"active list entry {entry_id}")
    store.expire(pool, entry_id, at=datetime.now(UTC))


def import_plates(
    pool: ConnectionPool, search: SearchKey, *, text: str, reason: str, by: str
) -> tuple[list[int], tuple[RejectedRow, ...]]:
    """Load a hot-list CSV (plate[,reason,region,expires,note]); (entry ids, rejected rows)."""
    try:
        report = import_csv(text)
    except HotlistImportError as err:
        raise BadRequest(str(err)) from None
    ids = [
        add_plate(
            pool,
            search,
            plate=e.plate,
            label=e.note or e.plate,
            reason=e.reason or reason,
            by=by,
            expires_at=until(e.expires),
        )
        for e in report.accepted
    ]
    return ids, report.rejected
