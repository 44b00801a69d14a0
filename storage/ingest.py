"""Search indexes the officer service adds to crossings that lane nodes stored without them.

A lane node holds no search key, so it stores the plate sealed and the faces without their
searchable embedding. The officer service opens each new crossing and sets the plate's blind
indexes, each face's key-rotated embedding and `indexed_at`; matching waits for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

from storage.crypto import WrappedKey


@dataclass(frozen=True)
class ToIndex:
    """A stored crossing as the ingest step needs it: sealed record, keys, face objects."""

    id: uuid.UUID
    sealed: bytes | None = field(repr=False)
    keys: dict[str, WrappedKey] = field(repr=False)
    # (face row id, object kind of its sealed embedding, bucket, key)
    faces: tuple[tuple[int, str, str, str], ...] = ()


def unindexed(pool: ConnectionPool, *, limit: int = 100) -> list[ToIndex]:
    """Crossings not indexed yet, oldest first, with what opening them needs."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, sealed FROM crossings WHERE indexed_at IS NULL"
            " ORDER BY created_at LIMIT %s",
            (limit,),
        ).fetchall()
        ids = [r[0] for r in rows]
        keys: dict[uuid.UUID, dict[str, WrappedKey]] = {}
        for cid, purpose, kid, wrapped in conn.execute(
            "SELECT crossing_id, purpose, key_id, wrapped FROM crossing_keys"
            " WHERE crossing_id = ANY(%s)",
            (ids,),
        ):
            keys.setdefault(cid, {})[purpose] = WrappedKey(purpose, kid, bytes(wrapped))
        faces: dict[uuid.UUID, list[tuple[int, str, str, str]]] = {}
        for cid, fid, kind, bucket, key in conn.execute(
            "SELECT f.crossing_id, f.id, o.kind, o.bucket, o.key FROM faces f"
            " JOIN objects o ON o.crossing_id = f.crossing_id AND o.kind = CASE f.seat"
            "   WHEN 'driver' THEN 'face_embedding'"
            "   ELSE 'passenger_embedding_' || f.passenger_no END"
            " WHERE f.crossing_id = ANY(%s) AND f.embedding IS NULL ORDER BY f.id",
            (ids,),
        ):
            faces.setdefault(cid, []).append((fid, kind, bucket, key))
    return [
        ToIndex(
            id=r[0],
            sealed=None if r[1] is None else bytes(r[1]),
            keys=keys.get(r[0], {}),
            faces=tuple(faces.get(r[0], ())),
        )
        for r in rows
    ]


def set_indexes(
    pool: ConnectionPool,
    crossing_id: uuid.UUID,
    *,
    plate_index: bytes | None,
    fold_index: bytes | None,
    embeddings: dict[int, npt.NDArray[np.float32]],
) -> bool:
    """Store a crossing's indexes once; False when another ingest got there first."""
    with pool.connection() as conn, conn.transaction():
        cur = conn.execute(
            "UPDATE crossings SET indexed_at = now(),"
            " plate_index = COALESCE(%s, plate_index),"
            " plate_fold_index = COALESCE(%s, plate_fold_index)"
            " WHERE id = %s AND indexed_at IS NULL",
            (plate_index, fold_index, crossing_id),
        )
        if cur.rowcount == 0:
            return False
        with conn.cursor() as c:
            c.executemany(
                "UPDATE faces SET embedding = %s WHERE id = %s AND embedding IS NULL",
                [(np.asarray(v, dtype=np.float32), fid) for fid, v in embeddings.items()],
            )
    return True
