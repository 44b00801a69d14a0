"""Watch list (faces) and plate hot list for the console, over the matching code's pieces.

Entries are stored by `storage.watchlist` with the same conventions as `lanecap hotlist` and
`lanecap watchlist`: a plate entry carries its keyed index rows (`lanecap.matcher.
plate_index_rows`: exact, look-alike and one-edit hashes), a face entry its searchable
(key-rotated) embedding after `recognition.faces.match.check_enrolment`; CSV files are read
by `recognition.plates.hotlist.import_csv` (good rows load, bad rows are reported by line).
An expiry date is the last day in force (UTC), as in `recognition.plates.hotlist` and the CLI.
Supervisors only (routes check).

Entries are sealed (`storage.watchlist`): plate text, label and reason are opened here with
the officer service's search key; without it an entry shows only its reference. Reasons are
checked by `lanecap.security.reasons` before anything is stored (a CSV row whose reason holds
a plate is rejected with its line). `seal_clear_entries` converts entries stored in clear
before migration 011.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
from psycopg_pool import ConnectionPool

from lanecap.api.errors import BadRequest, NotFound
from lanecap.matcher import plate_index_rows
from lanecap.security.reasons import MESSAGE, check_reason, plate_like
from recognition.faces.match import check_enrolment
from recognition.plates.hotlist import (
    HotlistImportError,
    RejectedRow,
    import_csv,
    normalise_plate,
)
from recognition.types import FaceEncoder, Image
from storage import watchlist as store
from storage.crypto import SearchKey
from storage.search import normalise

log = logging.getLogger(__name__)

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
    "id, kind, sealed, label, plate_text, reason, created_by, created_at, expires_at,"
    " (expires_at IS NULL OR expires_at > now())"
)


def _entry(search: SearchKey | None, r: tuple[Any, ...]) -> Entry:
    entry_id = int(r[0])
    sealed = None if r[2] is None else bytes(r[2])
    c = store.contents_of(search, entry_id, sealed, (r[3], r[4], r[5]))
    return Entry(
        id=entry_id,
        kind=r[1],
        label=c.label,
        plate_text=c.plate_text,
        reason=c.reason,
        created_by=r[6],
        created_at=r[7],
        expires_at=r[8],
        active=bool(r[9]),
    )


def entries(
    pool: ConnectionPool,
    *,
    kind: ListKind | None = None,
    active_only: bool = False,
    search: SearchKey | None = None,
) -> list[Entry]:
    """Every entry (expired ones too, for the history), newest first, opened with `search`."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLS} FROM watchlist WHERE (%(k)s::text IS NULL OR kind = %(k)s)"
            " AND (NOT %(a)s OR expires_at IS NULL OR expires_at > now()) ORDER BY id DESC",
            {"k": kind, "a": active_only},
        ).fetchall()
    return [_entry(search, r) for r in rows]


def entry(pool: ConnectionPool, entry_id: int, *, search: SearchKey | None = None) -> Entry:
    with pool.connection() as conn:
        r = conn.execute(f"SELECT {_COLS} FROM watchlist WHERE id = %s", (entry_id,)).fetchone()
    if r is None:
        raise NotFound(f"list entry {entry_id}")
    return _entry(search, r)


def seal_clear_entries(pool: ConnectionPool, search: SearchKey, *, admin_url: str | None) -> int:
    """Seal the entries stored in clear before migration 011 (none after the first run);
    returns how many. With the schema owner's URL, the table is then rewritten so the cleared
    values leave its files (`storage.watchlist.compact`), once."""
    n = store.seal_clear_entries(pool, search)
    if n:
        log.info("sealed %d watch-list entries stored in clear", n)
    if admin_url is not None and (n or not store.all_sealed_validated(pool)):
        store.compact(admin_url)
    return n


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
    """List a plate (sealed, indexed); PlateInReason when the reason holds a plate."""
    check_reason(reason, action="hotlist.add")
    text = normalise(plate)
    try:
        rows = plate_index_rows(search, text)
    except ValueError as err:
        raise BadRequest(str(err)) from None
    return store.add_plate(
        pool,
        search=search,
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
    """Enrol a face (sealed label and reason); PlateInReason when the reason holds a plate."""
    check_reason(reason, action="watchlist.enrol")
    check = check_enrolment(image, encoder=encoder)
    if check.face is None:
        raise BadRequest(
            f"not enrolled: {check.reason} ({check.n_faces} face(s) found)",
            hint="use a sharp, frontal, well-lit photo of exactly one person",
        )
    embedding = search.protect_embedding(np.asarray(check.face.encoding, dtype=np.float32))
    return store.add_face(
        pool,
        search=search,
        label=label,
        embedding=embedding,
        reason=reason,
        created_by=by,
        expires_at=expires_at,
    )


def expire(pool: ConnectionPool, entry_id: int) -> None:
    if not entry(pool, entry_id).active:
        raise NotFound(f"active list entry {entry_id}")
    store.expire(pool, entry_id, at=datetime.now(UTC))


def _lines(text: str) -> dict[str, int]:
    """The line of each plate's first row in a CSV that `import_csv` accepted."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader)]
    at = header.index("plate")
    out: dict[str, int] = {}
    for values in reader:
        if len(values) == len(header):
            out.setdefault(normalise_plate(values[at]), reader.line_num)
    return out


def import_plates(
    pool: ConnectionPool, search: SearchKey, *, text: str, reason: str, by: str
) -> tuple[list[int], tuple[RejectedRow, ...]]:
    """Load a hot-list CSV (plate[,reason,region,expires,note]); (entry ids, rejected rows).

    A row whose own reason holds a plate-like token is rejected (with its line)."""
    check_reason(reason, action="hotlist.import")
    try:
        report = import_csv(text)
    except HotlistImportError as err:
        raise BadRequest(str(err)) from None
    refused = {e.plate for e in report.accepted if plate_like(e.reason)}
    lines = _lines(text) if refused else {}
    rejected = report.rejected + tuple(
        RejectedRow(lines.get(p, 0), f"reason: {MESSAGE}") for p in refused
    )
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
        if e.plate not in refused
    ]
    return ids, tuple(sorted(rejected, key=lambda r: r.line))
