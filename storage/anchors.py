"""External anchors for the audit log: each signed checkpoint copied to a write-once object.

Bucket `{prefix}-audit-anchors` is created with S3 Object Lock; each anchor object
`checkpoints/{seq:020d}.json` is put with a COMPLIANCE retention, which nobody (the
service's own S3 credentials included) can shorten, overwrite or delete before it ends.
A database owner who cuts the audit log's tail and its checkpoints cannot cut the anchor,
so `verify` finds the cut. Keys are zero-padded, so the newest anchor sorts last.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import urllib3
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention
from psycopg_pool import ConnectionPool

from storage import audit
from storage.errors import StorageError, StoreUnavailable
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

PREFIX = "checkpoints/"


Anchor = audit.Checkpoint


def bucket(store: ObjectStore) -> str:
    return f"{store.prefix}-audit-anchors"


def _key(seq: int) -> str:
    return f"{PREFIX}{seq:020d}.json"


def ensure_bucket(store: ObjectStore) -> str:
    """Create the anchor bucket with Object Lock; refuses a server that will not lock."""
    name = bucket(store)
    try:
        if not store.client.bucket_exists(name):
            store.client.make_bucket(name, object_lock=True)
    except S3Error as err:
        if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise StorageError(
                f"cannot create anchor bucket {name}: {err.code}", key=name
            ) from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise StoreUnavailable(f"S3 unreachable: {err}", key=name) from None
    if not store.object_lock_enabled(name):
        raise StorageError(f"anchor bucket {name} has no Object Lock", key=name)
    return name


def put(store: ObjectStore, anchor: Anchor, *, days: int) -> bool:
    """Write one anchor under COMPLIANCE retention; False when that seq is anchored already."""
    name = bucket(store)
    key = _key(anchor.seq)
    try:
        store.client.stat_object(name, key)
        return False
    except S3Error as err:
        if err.code not in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            raise StorageError(f"cannot read anchor {key}: {err.code}", key=key) from None
    body = json.dumps(
        {
            "seq": anchor.seq,
            "hash": anchor.hash.hex(),
            "signed_at": anchor.signed_at.astimezone(UTC).isoformat(),
            "key_id": anchor.key_id,
            "signature": anchor.signature.hex(),
        },
        sort_keys=True,
    ).encode("ascii")
    until = datetime.now(UTC) + timedelta(days=days)
    try:
        store.client.put_object(
            name,
            key,
            io.BytesIO(body),
            len(body),
            content_type="application/json",
            retention=Retention(COMPLIANCE, until),
        )
    except S3Error as err:
        raise StorageError(f"cannot write anchor {key}: {err.code}", key=key) from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise StoreUnavailable(f"S3 unreachable: {err}", key=key) from None
    log.info("audit checkpoint %d anchored until %s", anchor.seq, until.date())
    return True


def _parse(data: bytes) -> Anchor:
    d = json.loads(data)
    return Anchor(
        seq=int(d["seq"]),
        hash=bytes.fromhex(d["hash"]),
        signed_at=datetime.fromisoformat(d["signed_at"]),
        key_id=str(d["key_id"]),
        signature=bytes.fromhex(d["signature"]),
    )


def newest(store: ObjectStore, *, count: int = 3) -> list[Anchor]:
    """The newest `count` anchors, oldest first; [] when there is no anchor bucket."""
    name = bucket(store)
    try:
        if not store.client.bucket_exists(name):
            return []
        keys = sorted(
            o.object_name
            for o in store.client.list_objects(name, prefix=PREFIX)
            if o.object_name is not None
        )
    except S3Error as err:
        raise StorageError(f"cannot list anchors: {err.code}", key=name) from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise StoreUnavailable(f"S3 unreachable: {err}", key=name) from None
    return [_parse(store.get(name, k)) for k in keys[-count:]]


def checkpoint_and_anchor(
    pool: ConnectionPool, store: ObjectStore, signing_key: bytes, *, days: int
) -> audit.Checkpoint | None:
    """Sign a checkpoint when there are entries after the newest one, then anchor the newest
    checkpoint if it is not anchored yet. Returns the newest checkpoint (None: empty log)."""
    audit.checkpoint_if_new(pool, signing_key)
    with pool.connection() as conn:
        cp = audit.latest_checkpoint(conn)
    if cp is None:
        return None
    ensure_bucket(store)
    put(store, cp, days=days)
    return cp
