"""Finding 4: the audit log's unsigned tail could be cut. Deleting every entry after the last
checkpoint left `audit verify` OK. Now checkpoints are signed by time too and each is copied
to a write-once (COMPLIANCE) S3 anchor that the database owner cannot rewrite; `verify`
given the anchors finds the cut and always says how many entries are still unsigned."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from minio.error import S3Error

from lanecap.api import anchoring
from lanecap.keys import load_audit_signing_key, load_audit_verify_key
from lanecap.security.trail import AuditTrail
from storage import anchors, audit
from storage.objects import ObjectStore

from .conftest import OFFICER, SecureEnv


@pytest.fixture
def store(secure_env: SecureEnv) -> ObjectStore:
    """Anchors are write-once: each test gets its own anchor bucket."""
    ep = secure_env.endpoints
    return ObjectStore(
        endpoint=ep.s3_endpoint,
        access_key=ep.s3_access_key,
        secret_key=ep.s3_secret_key,
        secure=ep.s3_secure,
        region=ep.s3_region,
        bucket_prefix="a" + secrets.token_hex(4),
    )


def _trail(env: SecureEnv) -> AuditTrail:
    return AuditTrail(
        pool=env.archive.pool,
        signing_key=load_audit_signing_key(env.keys_dir),
        checkpoint_every=100,
    )


def _verify(env: SecureEnv, store: ObjectStore | None) -> audit.VerifyReport:
    found = anchors.newest(store) if store is not None else []
    with psycopg.connect(env.endpoints.database_url) as conn:
        return audit.verify(conn, verify_key=load_audit_verify_key(env.keys_dir), anchors=found)


def _cut_after(env: SecureEnv, seq: int) -> None:
    """What a database owner can do: drop the triggers' guard and cut entries and checkpoints."""
    with psycopg.connect(env.endpoints.admin_url) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        conn.execute("DELETE FROM audit_events WHERE seq > %s", (seq,))
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > %s", (seq,))
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")


def _anchored(store: ObjectStore) -> list[int]:
    return [a.seq for a in anchors.newest(store)]


def _last_seq(env: SecureEnv) -> int:
    with psycopg.connect(env.endpoints.database_url) as conn:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_events").fetchone()
    assert row is not None
    return int(row[0])


def test_a_cut_tail_is_found_through_the_anchor(secure_env: SecureEnv, store: ObjectStore) -> None:
    env = secure_env
    trail = _trail(env)
    key = load_audit_signing_key(env.keys_dir)
    for i in range(130):  # one count checkpoint at 100 on the way
        trail.record(OFFICER, "image.view", target=f"crossing:{i}", reason="case T-1")
    last_count_cp = max(s for s in range(1, _last_seq(env) + 1) if s % 100 == 0)
    # the officer service's minute clock signs and anchors the newest entry
    cp = anchors.checkpoint_and_anchor(env.archive.pool, store, key, days=1)
    assert cp is not None and cp.seq == _last_seq(env)
    assert _verify(env, store).ok and _verify(env, store).unsigned_tail == 0
    _cut_after(env, last_count_cp)
    # the database alone no longer tells (the attack that worked before) ...
    blind = _verify(env, None)
    assert blind.ok and blind.unsigned_tail == 0
    # ... the anchor does
    r = _verify(env, store)
    assert not r.ok and r.first_bad_seq == last_count_cp + 1
    assert f"{last_count_cp + 1}..{cp.seq} are missing" in r.problem


def test_the_anchor_cannot_be_deleted_or_overwritten(
    secure_env: SecureEnv, store: ObjectStore
) -> None:
    env = secure_env
    trail = _trail(env)
    trail.record(OFFICER, "image.view", target="crossing:x", reason="case T-2")
    key = load_audit_signing_key(env.keys_dir)
    cp = anchors.checkpoint_and_anchor(env.archive.pool, store, key, days=1)
    assert cp is not None
    name, obj = anchors.bucket(store), f"{anchors.PREFIX}{cp.seq:020d}.json"
    versions = [
        v.version_id
        for v in store.client.list_objects(name, prefix=obj, include_version=True)
        if v.version_id
    ]
    assert versions
    for vid in versions:  # with the officer service's own, all-powerful S3 identity
        with pytest.raises(S3Error) as err:
            store.client.remove_object(name, obj, version_id=vid)
        assert err.value.code == "AccessDenied"
    assert anchors.newest(store)[-1].seq == cp.seq
    # a second anchor of the same seq is not written over the first
    assert anchors.put(store, cp, days=1) is False


def test_verify_counts_unsigned_entries(secure_env: SecureEnv, store: ObjectStore) -> None:
    env = secure_env
    trail = _trail(env)
    key = load_audit_signing_key(env.keys_dir)
    before = _verify(env, store)
    assert before.ok, before.problem
    anchors.checkpoint_and_anchor(env.archive.pool, store, key, days=1)
    for i in range(5):
        trail.record(OFFICER, "search.plate", target="crossings", reason=f"case U-{i}")
    r = _verify(env, store)
    assert r.ok and r.unsigned_tail == 5


def test_the_service_clock_checkpoints_by_time_and_at_shutdown(
    secure_env: SecureEnv, store: ObjectStore
) -> None:
    env = secure_env
    trail = _trail(env)
    settings = env.settings.model_copy(
        update={
            "security": env.settings.security.model_copy(
                update={"checkpoint_seconds": 1, "audit_anchor_days": 1}
            )
        }
    )
    svc: Any = SimpleNamespace(trail=trail, pool=env.archive.pool, objects=store)

    trail.record(OFFICER, "search.plate", target="crossings", reason="case C-1")
    seq = _last_seq(env)

    async def scenario() -> None:
        task = asyncio.create_task(anchoring.checkpoint_forever(svc, settings))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and max(_anchored(store), default=0) < seq:
            await asyncio.sleep(0.2)
        assert max(_anchored(store), default=0) == seq  # signed and anchored by the clock
        # an entry just before shutdown is signed and anchored by the shutdown
        trail.record(OFFICER, "search.plate", target="crossings", reason="case C-2")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert anchors.newest(store)[-1].seq == _last_seq(env) == seq + 1
    r = _verify(env, store)
    assert r.ok and r.unsigned_tail == 0 and r.anchored_seq == seq + 1
