"""The key store: one wrapped data key per (crossing, data class) in table crossing_keys.

Destroying a row is crypto-shredding: every copy of the ciphertexts it protected (S3
versions, backups of the bucket) is unreadable from then on. Rotation re-seals the rows
to a new agency key in place; the objects in S3 are not touched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

import psycopg
from psycopg_pool import ConnectionPool

from storage.crypto import KeyProvider, KeyPurpose, Sealer, WrappedKey, rewrap

log = logging.getLogger(__name__)


def insert_keys(
    conn: psycopg.Connection[tuple[object, ...]],
    crossing_id: uuid.UUID,
    keys: Iterable[WrappedKey],
    *,
    crossing_at: datetime,
) -> None:
    """Add a crossing's wrapped keys inside the caller's transaction (`crossing_at`: the
    crossing's started_at, the partition key)."""
    with conn.cursor() as c:
        c.executemany(
            "INSERT INTO crossing_keys (crossing_id, crossing_at, purpose, key_id, wrapped)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(crossing_id, crossing_at, k.purpose, k.key_id, k.wrapped) for k in keys],
        )


def get_key(pool: ConnectionPool, crossing_id: uuid.UUID, purpose: KeyPurpose) -> WrappedKey | None:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT key_id, wrapped FROM crossing_keys WHERE crossing_id = %s AND purpose = %s",
            (crossing_id, purpose),
        ).fetchone()
    if row is None:
        return None
    return WrappedKey(purpose=purpose, key_id=str(row[0]), wrapped=bytes(row[1]))


def destroy_keys(
    conn: psycopg.Connection[tuple[object, ...]],
    crossing_id: uuid.UUID,
    purpose: KeyPurpose | None = None,
) -> int:
    """Delete a crossing's keys (one purpose or all) in the caller's transaction; rows deleted."""
    cur = conn.execute(
        "DELETE FROM crossing_keys WHERE crossing_id = %s"
        " AND (%s::text IS NULL OR purpose = %s::text)",
        (crossing_id, purpose, purpose),
    )
    return cur.rowcount


def key_counts(pool: ConnectionPool) -> dict[str, int]:
    """Number of wrapped keys per agency key id."""
    with pool.connection() as conn:
        rows = conn.execute("SELECT key_id, count(*) FROM crossing_keys GROUP BY key_id").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def rewrap_all(pool: ConnectionPool, provider: KeyProvider, to: Sealer, *, batch: int = 500) -> int:
    """Re-seal every key that `provider` can open and that is not yet sealed to `to`;
    returns how many were re-wrapped."""
    done = 0
    while True:
        with pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT crossing_id, purpose, key_id, wrapped FROM crossing_keys"
                " WHERE key_id <> %s AND key_id = ANY(%s) LIMIT %s FOR UPDATE SKIP LOCKED",
                (to.key_id, list(provider.key_ids()), batch),
            ).fetchall()
            if not rows:
                break
            with conn.cursor() as c:
                c.executemany(
                    "UPDATE crossing_keys SET key_id = %s, wrapped = %s, rewrapped_at = now()"
                    " WHERE crossing_id = %s AND purpose = %s",
                    [
                        (
                            to.key_id,
                            rewrap(
                                provider,
                                WrappedKey(purpose=r[1], key_id=r[2], wrapped=bytes(r[3])),
                                to,
                            ).wrapped,
                            r[0],
                            r[1],
                        )
                        for r in rows
                    ],
                )
        done += len(rows)
        log.info("re-wrapped %d data keys so far", done)
    return done
