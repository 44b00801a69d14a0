"""Monthly partitions of the crossing tables (migrations 012, 013): made ahead, dropped when
expired.

crossings is range-partitioned by month on started_at; plate_reads, faces, objects,
crossing_keys (written with the crossing) and matches, plate_reviews, plate_prefixes (written
after it) on crossing_at (their crossing's started_at), so a crossing and all its parts
share one month. Partitions are <table>_pYYYYMM (UTC months) beside <table>_default, which
takes rows of a month without a partition (late writes to a dropped month, crossings kept
through a drop, clocks far ahead).

The DDL runs in database functions owned by the schema owner (SECURITY DEFINER), so the
officer service's login can call them and lane logins cannot:

    lanecap_ensure_partitions(from, until)   months from..until where missing (`serve` and
                                             `retention run`, MONTHS_AHEAD months ahead)
    lanecap_drop_month(month, alerts_cutoff) one month of every partitioned table, keeping
                                             held crossings and unexpired hits (moved to the
                                             default partitions with all their rows)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3
PARTITIONED = (
    "crossings",
    "plate_reads",
    "faces",
    "objects",
    "crossing_keys",
    "matches",
    "plate_reviews",
    "plate_prefixes",
)


@dataclass(frozen=True)
class MonthPartition:
    """One month of a partitioned table: rows with lower <= time < upper (UTC)."""

    table: str
    name: str
    lower: datetime
    upper: datetime


@dataclass(frozen=True)
class DroppedMonth:
    """A month dropped whole: the crossing ids it took, the wrapped keys it destroyed, and how
    many crossings were kept (held or unexpired hits, now in the default partitions)."""

    month: datetime
    crossings: tuple[uuid.UUID, ...]
    keys_destroyed: int
    kept: int


def month_start(t: datetime) -> datetime:
    """The first instant (UTC) of t's month."""
    u = t.astimezone(UTC)
    return datetime(u.year, u.month, 1, tzinfo=UTC)


def is_partitioned(conn: psycopg.Connection[Any]) -> bool:
    """Whether this database has the partitioned schema (migration 012 applied)."""
    row = conn.execute(
        "SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass('public.crossings')"
    ).fetchone()
    return bool(row and row[0])


def ensure_partitions(
    pool: ConnectionPool, *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> int:
    """Create the month partitions from now's month to `months_ahead` months on, where
    missing; returns how many tables were created. Safe to call from many processes."""
    if not 0 <= months_ahead <= 24:
        raise ValueError(f"months_ahead must be 0..24, not {months_ahead}")
    start = month_start(now or datetime.now(UTC))
    until = start + timedelta(days=31 * months_ahead)
    with pool.connection() as conn:
        if not is_partitioned(conn):
            return 0
        row = conn.execute("SELECT lanecap_ensure_partitions(%s, %s)", (start, until)).fetchone()
    made = int(row[0]) if row else 0
    if made:
        log.info("partitions: %d month tables created up to %s", made, until.strftime("%Y-%m"))
    return made


def month_partitions(
    conn: psycopg.Connection[Any], *, table: str = "crossings"
) -> list[MonthPartition]:
    """The month partitions of one partitioned table, oldest first (defaults excluded)."""
    if table not in PARTITIONED:
        raise ValueError(f"not a partitioned table: {table}")
    rows = conn.execute(
        "SELECT tbl, part, lower_bound, upper_bound FROM lanecap_month_partitions()"
        " WHERE tbl = %s ORDER BY lower_bound",
        (table,),
    ).fetchall()
    return [MonthPartition(table=r[0], name=r[1], lower=r[2], upper=r[3]) for r in rows]


def expired_months(
    conn: psycopg.Connection[Any], *, plates_cutoff: datetime
) -> list[MonthPartition]:
    """Months of crossings that end at or before the plates cutoff: every crossing in them that
    is neither held nor a hit is past its retention."""
    if not is_partitioned(conn):
        return []
    return [p for p in month_partitions(conn) if p.upper <= plates_cutoff]


def drop_month(pool: ConnectionPool, month: datetime, *, alerts_cutoff: datetime) -> DroppedMonth:
    """Drop one month of every partitioned table in one transaction (see module doc)."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "SELECT dropped, keys_destroyed, kept FROM lanecap_drop_month(%s, %s)",
            (month, alerts_cutoff),
        ).fetchone()
    assert row is not None  # the function returns exactly one row
    dropped = DroppedMonth(
        month=month, crossings=tuple(row[0] or ()), keys_destroyed=int(row[1]), kept=int(row[2])
    )
    log.info(
        "partitions: month %s dropped (%d crossings, %d kept)",
        month.strftime("%Y-%m"),
        len(dropped.crossings),
        dropped.kept,
    )
    return dropped


def drop_expired_months(
    pool: ConnectionPool, *, plates_cutoff: datetime, alerts_cutoff: datetime
) -> list[DroppedMonth]:
    """Drop every month whose crossings are all past the plates cutoff, oldest first."""
    with pool.connection() as conn:
        months = expired_months(conn, plates_cutoff=plates_cutoff)
    return [drop_month(pool, m.lower, alerts_cutoff=alerts_cutoff) for m in months]
