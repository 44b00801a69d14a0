"""Retention: purge what is past its time, consistently in the database, S3 and the key store.

Data classes (a "hit" is a crossing with an alert or a watchlist match):

    plate reads without a hit   whole crossing after plate_reads_days
    face crops without a match  face crop, embedding and faces key after face_crops_days
                                (passengers' too, where a site keeps them)
    alerts (hits)               whole crossing after alerts_days
    audit                       entries after audit_days (schema owner only: storage.audit)

First, on the partitioned schema (migration 012), every month of crossings that ends before
the plates cutoff is dropped whole with its reads, faces, objects and keys
(storage.partitions.drop_month): its held crossings and unexpired hits are kept (moved, with
all their rows, to the default partitions), the S3 keys of the others go into purge_queue and
their wrapped keys go with the dropped crossing_keys month (crypto-shredding), in one
transaction. Then the rows still past their time, batch by batch.

Order per batch, in one transaction: the objects' S3 keys go into purge_queue, the wrapped
data keys are destroyed (crypto-shredding: from this commit on, every copy of those
objects is unreadable), then the rows. After the commit the queued S3 objects (every
version) are deleted; what fails stays queued and is retried by the next run. Held
crossings are skipped here and refused by triggers. Batches go in (started_at, id) order,
each after the last; a row locked by another transaction is left to the next run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from storage.errors import StorageError
from storage.objects import ObjectStore
from storage.partitions import drop_expired_months

log = logging.getLogger(__name__)

FACE_KINDS = ("face_crop", "face_embedding")
_FACE_OBJECT = "(o.kind = ANY(%(face_kinds)s) OR o.kind LIKE 'passenger%%')"  # + passenger_*_<n>


@dataclass(frozen=True)
class RetentionPolicy:
    plate_reads_days: int
    face_crops_days: int
    alerts_days: int
    audit_days: int

    def as_dict(self) -> dict[str, int]:
        return {
            "plate_reads_days": self.plate_reads_days,
            "face_crops_days": self.face_crops_days,
            "alerts_days": self.alerts_days,
            "audit_days": self.audit_days,
        }


@dataclass(frozen=True)
class PurgeReport:
    """Counts and ids only: never plate text, images or embeddings."""

    crossings: tuple[uuid.UUID, ...]
    faces_of: tuple[uuid.UUID, ...]
    keys_destroyed: int
    objects_deleted: int
    s3_pending: int
    held_skipped: int
    dry_run: bool
    months_dropped: tuple[str, ...] = ()  # "YYYY-MM" of each month partition dropped whole

    def as_detail(self) -> dict[str, Any]:
        return {
            "crossings_purged": len(self.crossings),
            "crossing_ids": [str(c) for c in self.crossings],
            "faces_purged": len(self.faces_of),
            "face_crossing_ids": [str(c) for c in self.faces_of],
            "keys_destroyed": self.keys_destroyed,
            "objects_deleted": self.objects_deleted,
            "s3_pending": self.s3_pending,
            "held_skipped": self.held_skipped,
            "dry_run": self.dry_run,
            "months_dropped": list(self.months_dropped),
        }


_HIT = (
    "(c.alert OR EXISTS (SELECT 1 FROM matches m"
    " WHERE m.crossing_id = c.id AND m.decision = 'match'))"
)
_HELD = "EXISTS (SELECT 1 FROM legal_holds h WHERE h.crossing_id = c.id AND h.released_at IS NULL)"
_EXPIRED = f"((NOT {_HIT} AND c.started_at < %(plates)s) OR ({_HIT} AND c.started_at < %(alerts)s))"
_FACES_EXPIRED = (
    f"(NOT {_HIT} AND c.started_at < %(faces)s AND (EXISTS (SELECT 1 FROM faces f"
    " WHERE f.crossing_id = c.id) OR EXISTS (SELECT 1 FROM crossing_keys k"
    " WHERE k.crossing_id = c.id AND k.purpose = 'faces') OR EXISTS (SELECT 1 FROM objects o"
    f" WHERE o.crossing_id = c.id AND {_FACE_OBJECT})))"
)


def _cutoffs(policy: RetentionPolicy, now: datetime) -> dict[str, Any]:
    return {
        "plates": now - timedelta(days=policy.plate_reads_days),
        "faces": now - timedelta(days=policy.face_crops_days),
        "alerts": now - timedelta(days=policy.alerts_days),
        "face_kinds": list(FACE_KINDS),
    }


def _purge_crossings(conn: psycopg.Connection[Any], ids: list[uuid.UUID]) -> int:
    conn.execute(
        "INSERT INTO purge_queue (bucket, key) SELECT bucket, key FROM objects"
        " WHERE crossing_id = ANY(%s) ON CONFLICT DO NOTHING",
        (ids,),
    )
    keys = conn.execute("DELETE FROM crossing_keys WHERE crossing_id = ANY(%s)", (ids,)).rowcount
    conn.execute("DELETE FROM crossings WHERE id = ANY(%s)", (ids,))
    return keys


def _purge_faces(conn: psycopg.Connection[Any], ids: list[uuid.UUID]) -> int:
    conn.execute(
        "INSERT INTO purge_queue (bucket, key) SELECT bucket, key FROM objects o"
        f" WHERE crossing_id = ANY(%(ids)s) AND {_FACE_OBJECT} ON CONFLICT DO NOTHING",
        {"ids": ids, "face_kinds": list(FACE_KINDS)},
    )
    keys = conn.execute(
        "DELETE FROM crossing_keys WHERE crossing_id = ANY(%s) AND purpose = 'faces'", (ids,)
    ).rowcount
    conn.execute("DELETE FROM faces WHERE crossing_id = ANY(%s)", (ids,))
    conn.execute(
        f"DELETE FROM objects o WHERE crossing_id = ANY(%(ids)s) AND {_FACE_OBJECT}",
        {"ids": ids, "face_kinds": list(FACE_KINDS)},
    )
    return keys


def drain_purge_queue(
    pool: ConnectionPool, objects: ObjectStore, *, batch: int = 500
) -> tuple[int, int]:
    """Delete queued S3 objects (all versions); (deleted, still pending)."""
    deleted = 0
    failed: set[tuple[str, str]] = set()
    while True:
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT bucket, key FROM purge_queue ORDER BY queued_at LIMIT %s",
                (batch + len(failed),),
            ).fetchall()
        todo = [(str(b), str(k)) for b, k in rows if (b, k) not in failed]
        if not todo:
            break
        for bucket, key in todo:
            try:
                objects.purge(bucket, key)
            except StorageError as err:
                log.warning("S3 delete failed, stays queued: %s", err)
                failed.add((bucket, key))
                continue
            with pool.connection() as conn:
                conn.execute(
                    "DELETE FROM purge_queue WHERE bucket = %s AND key = %s", (bucket, key)
                )
            deleted += 1
    return deleted, len(failed)


def run_retention(
    pool: ConnectionPool,
    objects: ObjectStore,
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool = False,
    batch: int = 500,
) -> PurgeReport:
    """Purge everything past its retention (see module doc); the report has ids and counts."""
    params = _cutoffs(policy, now)
    purged: list[uuid.UUID] = []
    faces_of: list[uuid.UUID] = []
    with pool.connection() as conn:
        held = conn.execute(
            f"SELECT count(*) FROM crossings c WHERE {_HELD} AND ({_EXPIRED} OR {_FACES_EXPIRED})",
            params,
        ).fetchone()
    held_skipped = int(held[0]) if held else 0
    months = (
        []
        if dry_run
        else drop_expired_months(
            pool, plates_cutoff=params["plates"], alerts_cutoff=params["alerts"]
        )
    )
    dropped = [cid for m in months for cid in m.crossings]
    keys = sum(m.keys_destroyed for m in months)
    for select, bound, purge, out in (
        (_EXPIRED, max(params["plates"], params["alerts"]), _purge_crossings, purged),
        (_FACES_EXPIRED, params["faces"], _purge_faces, faces_of),
    ):
        # keyset order: each batch starts after the last one, so a run costs the same per row
        # however much it purges (a list of done ids sent back each batch grew quadratically)
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            since = "" if after is None else " AND (c.started_at, c.id) > (%(at)s, %(id)s)"
            with pool.connection() as conn, conn.transaction():
                rows = conn.execute(
                    f"SELECT c.id, c.started_at FROM crossings c WHERE {select} AND NOT {_HELD}"
                    f" AND c.started_at < %(bound)s{since}"
                    " ORDER BY c.started_at, c.id LIMIT %(batch)s FOR UPDATE OF c SKIP LOCKED",
                    {
                        **params,
                        "bound": bound,
                        "batch": batch,
                        "at": after[0] if after else None,
                        "id": after[1] if after else None,
                    },
                ).fetchall()
                ids = [r[0] for r in rows]
                if not ids:
                    break
                if not dry_run:
                    keys += purge(conn, ids)
            after = (rows[-1][1], rows[-1][0])
            out.extend(ids)
    if dry_run:  # nothing was deleted, so the faces pass saw the expired crossings again
        gone = set(purged)
        faces_of = [c for c in faces_of if c not in gone]
    deleted, pending = (0, 0) if dry_run else drain_purge_queue(pool, objects)
    report = PurgeReport(
        crossings=(*dropped, *purged),
        faces_of=tuple(faces_of),
        keys_destroyed=keys,
        objects_deleted=deleted,
        s3_pending=pending,
        held_skipped=held_skipped,
        dry_run=dry_run,
        months_dropped=tuple(m.month.strftime("%Y-%m") for m in months),
    )
    log.info(
        "retention: %d crossings purged (%d months dropped), %d faces purged,"
        " %d keys destroyed, %d held skipped",
        len(report.crossings),
        len(months),
        len(faces_of),
        keys,
        held_skipped,
    )
    return report
