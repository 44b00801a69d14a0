"""Retention as code: a purged crossing is gone from the database, S3 (every version) and the
key store, so backup copies of its objects are unreadable; holds stop purging; the run is
reported in the audit log with counts and ids only."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from lanecap.config import RetentionConfig
from lanecap.retention import apply_retention, lifecycle_days, policy_of
from lanecap.security.errors import Forbidden
from lanecap.security.trail import AuditTrail
from storage import holds, keystore
from storage.crypto import DecryptionError, WrappedKey
from storage.errors import StorageError

from .conftest import ADMIN, OFFICER, SecureEnv, make_crossing

DAY = 86400.0
POLICY = RetentionConfig(plate_reads_days=30, face_crops_days=10, alerts_days=365, audit_days=365)


def _objects(env: SecureEnv, cid: uuid.UUID) -> dict[str, tuple[str, str]]:
    with env.archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, bucket, key FROM objects WHERE crossing_id = %s", (cid,)
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _versions(env: SecureEnv, bucket: str, key: str) -> list[object]:
    client = env.archive.objects.client
    return [o for o in client.list_objects(bucket, prefix=key, include_version=True)]


def _opens_with_any_stored_key(env: SecureEnv, blob: bytes, slot: str) -> bool:
    ring = env.reader().keys
    with env.archive.pool.connection() as conn:
        rows = conn.execute("SELECT purpose, key_id, wrapped FROM crossing_keys").fetchall()
    for purpose, kid, wrapped in rows:
        key = ring.unwrap(WrappedKey(purpose=purpose, key_id=kid, wrapped=bytes(wrapped)))
        try:
            key.decrypt(blob, slot=slot)
        except DecryptionError:
            continue
        return True
    return False


def test_retention_purges_consistently_and_keeps_what_it_must(secure_env: SecureEnv) -> None:
    env = secure_env
    lane = env.lane("ret-lane")
    now = time.time()
    old = make_crossing(lane, plate="OLD0001", started_at=now - 40 * DAY, seed=51)
    faces_old = make_crossing(lane, plate="FAC0002", started_at=now - 15 * DAY, seed=52)
    hit = make_crossing(lane, plate="HIT0003", started_at=now - 40 * DAY, seed=53)
    held = make_crossing(lane, plate="HLD0004", started_at=now - 40 * DAY, seed=54)
    recent = make_crossing(lane, plate="NEW0005", seed=55)
    for c in (old, faces_old, hit, held, recent):
        assert env.archive.store(c)
    env.ingest()
    with env.archive.pool.connection() as conn:
        conn.execute(
            "INSERT INTO matches (crossing_id, crossing_at, kind, decision)"
            " SELECT id, started_at, 'plate', 'match' FROM crossings WHERE id = %s",
            (hit.id,),
        )
    objs = env.archive.objects
    old_where = _objects(env, old.id)
    # A "backup" of the objects about to be purged, taken straight from S3.
    backup = {
        (cid, kind): objs.get(*bk)
        for cid in (old.id, faces_old.id)
        for kind, bk in _objects(env, cid).items()
    }
    trail = AuditTrail(pool=env.archive.pool)
    placed, locked = holds.place_hold(
        env.archive.pool,
        objs,
        case_number="CASE-2026/17",
        crossing_ids=[held.id],
        reason="court order 17",
        created_by=ADMIN.actor,
    )
    assert placed == 1 and locked == 3  # plate crop, face crop, embedding: S3 legal hold
    held_plate = _objects(env, held.id)["plate_crop"]
    with pytest.raises(StorageError):  # S3 Object Lock refuses even a direct delete
        objs.purge(*held_plate)
    with (
        psycopg.connect(env.endpoints.admin_url) as conn,
        pytest.raises(psycopg.errors.RestrictViolation),
    ):
        conn.execute("DELETE FROM crossings WHERE id = %s", (held.id,))  # trigger refuses too

    with pytest.raises(Forbidden):
        apply_retention(env.archive.pool, objs, trail, POLICY, by=OFFICER)
    dry = apply_retention(env.archive.pool, objs, trail, POLICY, by=ADMIN, dry_run=True)
    assert old.id in dry.report.crossings and len(_objects(env, old.id)) == 3  # nothing changed
    run = apply_retention(
        env.archive.pool, objs, trail, POLICY, by=ADMIN, admin_url=env.endpoints.admin_url
    )
    r = run.report
    assert old.id in r.crossings and faces_old.id in r.faces_of
    assert {hit.id, held.id, recent.id}.isdisjoint(set(r.crossings) | set(r.faces_of))
    assert r.held_skipped == 1 and r.s3_pending == 0

    # Gone from the database and the key store...
    with env.archive.pool.connection() as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM crossings WHERE id = %(c)s)"
            " + (SELECT count(*) FROM plate_reads WHERE crossing_id = %(c)s)"
            " + (SELECT count(*) FROM faces WHERE crossing_id = %(c)s)"
            " + (SELECT count(*) FROM objects WHERE crossing_id = %(c)s)"
            " + (SELECT count(*) FROM crossing_keys WHERE crossing_id = %(c)s)",
            {"c": old.id},
        ).fetchone()
    assert left == (0,)
    assert keystore.get_key(env.archive.pool, faces_old.id, "faces") is None
    assert set(_objects(env, faces_old.id)) == {"plate_crop"}
    # ...and from S3, every version and delete marker; the backup copies no longer open.
    assert all(_versions(env, b, k) == [] for b, k in old_where.values())
    for (cid, kind), blob in backup.items():
        if cid == faces_old.id and kind == "plate_crop":
            continue  # kept: the plate class runs longer than the face class
        assert not _opens_with_any_stored_key(env, blob, f"{cid}/{kind}"), (cid, kind)
    reader = env.reader()
    assert reader.view(OFFICER, faces_old.id).plate_text == "FAC0002"  # plates still readable
    assert reader.view(OFFICER, hit.id).plate_text == "HIT0003"

    # The report is in the audit log: ids and counts, no plate text.
    with env.archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT detail, detail::text FROM audit_events WHERE seq = %s", (run.audit_seq,)
        ).fetchone()
    assert row is not None
    detail, text = row
    assert str(old.id) in detail["crossing_ids"] and detail["held_skipped"] == 1
    assert not any(p in text for p in ("OLD0001", "FAC0002", "HLD0004"))
    # Lifecycle rules as the second line of defence (buckets have Object Lock).
    assert objs.expiry_days("plates") == lifecycle_days(policy_of(POLICY))["plates"]

    # Releasing the hold lets the next run purge it; a changed policy is audited first.
    holds.release_hold(env.archive.pool, objs, case_number="CASE-2026/17", released_by=ADMIN.actor)
    shorter = POLICY.model_copy(update={"plate_reads_days": 20})
    again = apply_retention(env.archive.pool, objs, trail, shorter, by=ADMIN)
    assert held.id in again.report.crossings
    assert _versions(env, *held_plate) == []
    with env.archive.pool.connection() as conn:
        changes = conn.execute(
            "SELECT detail->'before'->>'plate_reads_days', detail->'policy'->>'plate_reads_days'"
            " FROM audit_events WHERE action = 'policy.change'"
        ).fetchall()
    assert changes == [("30", "20")]


def test_purged_objects_leave_no_version_in_s3(secure_env: SecureEnv) -> None:
    env = secure_env
    lane = env.lane("ret-lane-2")
    c = make_crossing(lane, plate="VER0001", started_at=time.time() - 400 * DAY, seed=61)
    env.archive.store(c)
    where = _objects(env, c.id)
    assert all(_versions(env, b, k) for b, k in where.values())
    apply_retention(
        env.archive.pool,
        env.archive.objects,
        AuditTrail(pool=env.archive.pool),
        POLICY,
        by=ADMIN,
        now=datetime.now(UTC),
    )
    assert all(_versions(env, b, k) == [] for b, k in where.values())
