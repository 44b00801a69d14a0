"""Storage round-trips against real PostgreSQL + pgvector and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from storage import crossings as repo
from storage.db import migrate, migrations
from storage.errors import IntegrityError, StoreUnavailable
from storage.objects import ObjectStore, object_key


def _record(archive, lane_id: str = "t-lane", **kw) -> repo.CrossingRecord:  # type: ignore[no-untyped-def]
    archive.register_lane(_lane(lane_id))
    now = datetime.now(UTC)
    base = dict(
        id=uuid.uuid4(),
        lane_id=lane_id,
        started_at=now,
        ended_at=now + timedelta(seconds=2),
        plate_text="ABC123",
        plate_conf=0.9,
        plate_region=None,
        plate_flags=(),
        face_status="captured",
        n_frames=5,
        reads=(
            repo.PlateReadRecord(
                "cam", "front_plate", now, (1.0, 2.0, 3.0, 4.0), 0.8, "ABC123", 0.9, (0.9,) * 6
            ),
        ),
        faces=(
            repo.FaceRecord(
                "drv", now, (1.0, 2.0, 3.0, 4.0), 0.7, np.linspace(-1, 1, 128, dtype=np.float32)
            ),
        ),
    )
    base.update(kw)
    return repo.CrossingRecord(**base)  # type: ignore[arg-type]


def _lane(lane_id: str):  # type: ignore[no-untyped-def]
    from lanecap.config import LaneConfig

    return LaneConfig.model_validate(
        {
            "id": lane_id,
            "cameras": [{"id": f"{lane_id}-c", "role": "front_plate", "source": "x.mp4"}],
        }
    )


def test_migrations_are_numbered_and_idempotent(endpoints, archive) -> None:  # type: ignore[no-untyped-def]
    names = [n for _, n, _ in migrations()]
    assert names[0].startswith("001_")
    assert migrate(endpoints.admin_url) == []  # already applied by the archive fixture
    with psycopg.connect(endpoints.admin_url) as conn:
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {"vector", "pg_trgm"} <= exts


def test_crossing_round_trip_is_idempotent(archive) -> None:  # type: ignore[no-untyped-def]
    rec = _record(archive)
    assert repo.save_crossing(archive.pool, rec) is True
    assert repo.save_crossing(archive.pool, rec) is False  # replay: nothing duplicated
    rows = [r for r in repo.list_crossings(archive.pool, lane_id="t-lane") if r.id == rec.id]
    assert len(rows) == 1
    assert (rows[0].n_reads, rows[0].n_faces, rows[0].plate_text) == (1, 1, "ABC123")
    with archive.pool.connection() as conn:
        emb = conn.execute(
            "SELECT embedding FROM faces WHERE crossing_id = %s", (rec.id,)
        ).fetchone()[0]
    np.testing.assert_allclose(emb.to_numpy(), rec.faces[0].embedding, rtol=1e-6)


def test_failed_transaction_leaves_nothing(archive) -> None:  # type: ignore[no-untyped-def]
    bad_face = repo.FaceRecord(
        "drv", datetime.now(UTC), (0, 0, 1, 1), 0.5, np.zeros(64, np.float32)
    )
    rec = _record(archive, faces=(bad_face,))  # wrong embedding size: the insert fails
    with pytest.raises(psycopg.Error):
        repo.save_crossing(archive.pool, rec)
    assert all(r.id != rec.id for r in repo.list_crossings(archive.pool, limit=1000))


def test_nearest_face_by_pgvector(archive) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    recs = [
        _record(
            archive,
            faces=(
                repo.FaceRecord(
                    "d",
                    datetime.now(UTC),
                    (0, 0, 1, 1),
                    0.9,
                    rng.normal(size=128).astype(np.float32),
                ),
            ),
        )
        for _ in range(5)
    ]
    for r in recs:
        repo.save_crossing(archive.pool, r)
    probe = recs[3].faces[0].embedding + 0.01
    with archive.pool.connection() as conn:
        got = conn.execute(
            "SELECT crossing_id FROM faces ORDER BY embedding <-> %s LIMIT 1", (probe,)
        ).fetchone()[0]
    assert got == recs[3].id


def test_audit_log_is_append_only_for_the_app(endpoints) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(endpoints.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_events (actor, action) VALUES ('test', 'probe')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_events SET actor = 'mallory'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_events")


def test_object_put_is_idempotent_and_refuses_other_content(archive) -> None:  # type: ignore[no-untyped-def]
    key = object_key(
        lane_id="t-lane", crossing_id=str(uuid.uuid4()), at=datetime.now(UTC), name="plate.jpg"
    )
    first = archive.objects.put("plates", key, b"\xff\xd8 crop", content_type="image/jpeg")
    again = archive.objects.put("plates", key, b"\xff\xd8 crop", content_type="image/jpeg")
    assert first == again
    assert archive.objects.get(first.bucket, key) == b"\xff\xd8 crop"
    with pytest.raises(IntegrityError):
        archive.objects.put("plates", key, b"other", content_type="image/jpeg")


@pytest.mark.parametrize("name", ["", "..", "a/b", "."])
def test_object_names_cannot_escape_their_folder(name: str) -> None:
    with pytest.raises(ValueError):
        object_key(lane_id="l", crossing_id="c", at=datetime.now(UTC), name=name)


def test_wrong_s3_secret_is_refused(endpoints, settings) -> None:  # type: ignore[no-untyped-def]
    from storage.errors import StorageError

    store = ObjectStore(
        endpoint=endpoints.s3_endpoint,
        access_key=endpoints.s3_access_key,
        secret_key="wrong",
        secure=False,
        bucket_prefix=settings.object_store.bucket_prefix,
    )
    with pytest.raises(StorageError):
        store.put("plates", "x/y.jpg", b"data", content_type="image/jpeg")


def test_unreachable_s3_is_store_unavailable() -> None:
    store = ObjectStore(
        endpoint="127.0.0.1:9", access_key="a", secret_key="b", secure=False, timeout_s=1
    )
    with pytest.raises(StoreUnavailable, match="S3 unreachable"):
        store.put("plates", "x/y.jpg", b"data", content_type="image/jpeg")
