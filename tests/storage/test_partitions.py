"""Monthly partitions (migration 012) on real PostgreSQL: made ahead, ids unique across months,
foreign-key behaviour kept by triggers, whole months dropped by retention with held crossings
and unexpired hits kept, lane logins still insert-only, and a populated database migrated from
the unpartitioned schema with every row kept and the same schema as a fresh one."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from storage import crossings as repo
from storage import holds, partitions
from storage.crypto import WrappedKey
from storage.db import migrate, open_pool
from storage.objects import StoredObject
from storage.retention import RetentionPolicy, run_retention
from storage.roles import provision_lane_login

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy(plate_reads_days=30, face_crops_days=10, alerts_days=365, audit_days=365)
CHILDREN = ("plate_reads", "faces", "objects", "crossing_keys")
LATER = ("matches", "plate_reviews", "plate_prefixes")


@dataclass
class Db:
    name: str
    admin_url: str
    app_url: str
    pool: ConnectionPool


def _scratch(endpoints, prefix: str) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    name = prefix + secrets.token_hex(4)
    owner = str(conninfo_to_dict(endpoints.admin_url)["user"])
    with psycopg.connect(
        make_conninfo(endpoints.admin_url, dbname="postgres"), autocommit=True
    ) as c:
        c.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    return (
        name,
        make_conninfo(endpoints.admin_url, dbname=name),
        make_conninfo(endpoints.database_url, dbname=name),
    )


@pytest.fixture(scope="module")
def db(endpoints) -> Iterator[Db]:  # type: ignore[no-untyped-def]
    name, admin_url, app_url = _scratch(endpoints, "part_")
    migrate(admin_url)
    pool = open_pool(app_url)
    with pool.connection() as conn:
        for lane in ("p-lane", "p-other"):
            conn.execute("SELECT lanecap_register_lane(%s, 'site', 'right', '{}'::jsonb)", (lane,))
        # months back to the oldest crossing these tests store (a migrated database has them)
        conn.execute("SELECT lanecap_ensure_partitions(%s, %s)", (NOW - timedelta(days=800), NOW))
    yield Db(name=name, admin_url=admin_url, app_url=app_url, pool=pool)
    pool.close()


class RecordingStore:
    """The part of storage.objects.ObjectStore that retention drains the purge queue with."""

    def __init__(self) -> None:
        self.purged: set[tuple[str, str]] = set()

    def purge(self, bucket: str, key: str) -> int:
        self.purged.add((bucket, key))
        return 1


def _record(lane: str, started_at: datetime, *, alert: bool = False) -> repo.CrossingRecord:
    cid = uuid.uuid4()
    return repo.CrossingRecord(
        id=cid,
        lane_id=lane,
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=2),
        plate_text=None,
        plate_conf=0.9,
        plate_region=None,
        plate_flags=(),
        face_status="captured",
        n_frames=5,
        alert=alert,
        reads=(
            repo.PlateReadRecord(
                "cam", "front_plate", started_at, (1.0, 2.0, 3.0, 4.0), 0.8, None, 0.9
            ),
        ),
        faces=(
            repo.FaceRecord(
                "drv",
                started_at,
                (1.0, 2.0, 3.0, 4.0),
                0.7,
                np.linspace(-1, 1, 128, dtype=np.float32),
            ),
        ),
        objects=(
            ("plate_crop", StoredObject("b-plates", f"{cid}/plate_crop", "0" * 64, 10)),
            ("face_crop", StoredObject("b-faces", f"{cid}/face_crop", "1" * 64, 10)),
        ),
        sealed=b"sealed",
        keys=(
            WrappedKey(purpose="plates", key_id="k1", wrapped=b"w1"),
            WrappedKey(purpose="faces", key_id="k1", wrapped=b"w2"),
        ),
    )


def _counts(conn: psycopg.Connection[tuple[object, ...]], cid: uuid.UUID) -> dict[str, int]:
    out = {}
    for table in ("crossings", *CHILDREN, *LATER):
        col = "id" if table == "crossings" else "crossing_id"
        q = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(col)
        )
        row = conn.execute(q, (cid,)).fetchone()
        out[table] = int(row[0]) if row else -1
    return out


def test_a_fresh_database_has_month_partitions_ahead_with_their_indexes(db: Db) -> None:
    with psycopg.connect(db.admin_url) as conn:
        assert partitions.is_partitioned(conn)
        months = {p.lower for p in partitions.month_partitions(conn)}
        this = partitions.month_start(datetime.now(UTC))
        ahead = {partitions.month_start(this + timedelta(days=31 * i)) for i in range(4)}
        assert ahead <= months  # this month and three ahead, made by the migration
        for table in partitions.PARTITIONED:
            parts = partitions.month_partitions(conn, table=table)
            assert {p.lower for p in parts} == months, table
            parent_idx = conn.execute(
                "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (table,)
            ).fetchone()
            for part in (*(p.name for p in parts), f"{table}_default"):
                n = conn.execute(
                    "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (part,)
                ).fetchone()
                assert n == parent_idx and n is not None and n[0] >= 1, part
    # made again: nothing to do
    assert partitions.ensure_partitions(db.pool) == 0
    # a month further ahead is made on demand, for every table
    far = datetime.now(UTC) + timedelta(days=31 * 6)
    assert partitions.ensure_partitions(db.pool, now=far, months_ahead=0) == len(
        partitions.PARTITIONED
    )


def test_a_crossing_id_is_stored_once_whatever_its_time(db: Db) -> None:
    rec = _record("p-lane", NOW - timedelta(days=2))
    assert repo.save_crossing(db.pool, rec) is True
    assert repo.save_crossing(db.pool, rec) is False  # replay
    # the same id in another month is a replay too, not a second row
    moved = _record("p-lane", NOW - timedelta(days=70))
    moved = repo.CrossingRecord(**{**moved.__dict__, "id": rec.id})
    assert repo.save_crossing(db.pool, moved) is False
    with db.pool.connection() as conn:
        assert _counts(conn, rec.id) == {
            "crossings": 1,
            "plate_reads": 1,
            "faces": 1,
            "objects": 2,
            "crossing_keys": 2,
            "matches": 0,
            "plate_reviews": 0,
            "plate_prefixes": 0,
        }
        # every part sits in its crossing's month
        rows = conn.execute(
            "SELECT tableoid::regclass::text FROM plate_reads WHERE crossing_id = %(c)s"
            " UNION SELECT tableoid::regclass::text FROM crossings WHERE id = %(c)s",
            {"c": rec.id},
        ).fetchall()
    month = rec.started_at.strftime("%Y%m")
    assert sorted(r[0] for r in rows) == [f"crossings_p{month}", f"plate_reads_p{month}"]


def test_foreign_key_behaviour_is_kept_by_triggers(db: Db) -> None:
    rec = _record("p-lane", NOW - timedelta(days=3))
    assert repo.save_crossing(db.pool, rec)
    with db.pool.connection() as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO matches (crossing_id, crossing_at, kind, decision)"
                " VALUES (%s, now(), 'plate', 'match')",
                (uuid.uuid4(),),
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # a later row: month checked
            conn.execute(
                "INSERT INTO plate_prefixes (crossing_id, crossing_at, prefixes)"
                " VALUES (%s, %s, '{1}')",
                (rec.id, rec.started_at - timedelta(days=40)),
            )
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # right id, wrong month
            conn.execute(
                "INSERT INTO plate_reads (crossing_id, crossing_at, camera_id, role, seen_at,"
                " box, det_score) VALUES (%s, %s, 'c', 'front_plate', now(), '{1,2,3,4}', 0.5)",
                (rec.id, rec.started_at - timedelta(days=40)),
            )
        conn.rollback()
        conn.execute(
            "INSERT INTO matches (crossing_id, crossing_at, kind, decision)"
            " VALUES (%s, %s, 'plate', 'no_match')",
            (rec.id, rec.started_at),
        )
        conn.execute(
            "INSERT INTO plate_prefixes (crossing_id, crossing_at, prefixes)"
            " VALUES (%s, %s, '{1,2}')",
            (rec.id, rec.started_at),
        )
        conn.commit()
        conn.execute("DELETE FROM crossings WHERE id = %s", (rec.id,))  # ON DELETE CASCADE
        conn.commit()
        assert set(_counts(conn, rec.id).values()) == {0}


def test_retention_drops_expired_months_and_keeps_held_crossings_and_hits(db: Db) -> None:
    old = _record("p-lane", datetime(2026, 9, 10, tzinfo=UTC))
    held = _record("p-lane", datetime(2026, 9, 11, tzinfo=UTC))
    alert = _record("p-lane", datetime(2026, 9, 12, tzinfo=UTC), alert=True)
    matched = _record("p-other", datetime(2026, 9, 13, tzinfo=UTC))
    stale_hit = _record("p-lane", datetime(2025, 10, 20, tzinfo=UTC), alert=True)  # > 365 days
    partial = _record("p-lane", datetime(2026, 11, 2, tzinfo=UTC))  # its month is not all expired
    recent = _record("p-lane", NOW - timedelta(days=1))
    every = (old, held, alert, matched, stale_hit, partial, recent)
    for rec in every:
        assert repo.save_crossing(db.pool, rec)
    with db.pool.connection() as conn:
        for rec in every:
            conn.execute(
                "INSERT INTO plate_prefixes (crossing_id, crossing_at, prefixes)"
                " VALUES (%s, %s, '{7}')",
                (rec.id, rec.started_at),
            )
        conn.execute(
            "INSERT INTO matches (crossing_id, crossing_at, kind, decision)"
            " VALUES (%s, %s, 'plate', 'match'), (%s, %s, 'plate', 'no_match')",
            (matched.id, matched.started_at, old.id, old.started_at),
        )
    holds.place_hold(
        db.pool,
        None,
        case_number="PART-1",
        crossing_ids=[held.id],
        reason="court order",
        created_by="test",
    )
    store = RecordingStore()
    dry = run_retention(db.pool, store, POLICY, now=NOW, dry_run=True)  # type: ignore[arg-type]
    assert dry.months_dropped == () and not store.purged
    with psycopg.connect(db.admin_url, autocommit=True) as listener:
        listener.execute("LISTEN lanecap_crossings")
        report = run_retention(db.pool, store, POLICY, now=NOW)  # type: ignore[arg-type]
        announced = [n.payload for n in listener.notifies(timeout=0.5, stop_after=100)]
    assert not any(str(held.id) in p or str(alert.id) in p for p in announced)  # not "new"

    gone = {old.id, stale_hit.id, partial.id}
    assert set(report.crossings) == gone == set(dry.crossings)  # the dry run said so
    assert {"2025-10", "2026-09"} <= set(report.months_dropped)
    assert "2026-11" not in report.months_dropped  # partial: purged row by row
    assert report.held_skipped == 1 == dry.held_skipped
    assert report.keys_destroyed == 2 * len(gone)
    assert store.purged == {(o.bucket, o.key) for r in every if r.id in gone for _, o in r.objects}
    with db.pool.connection() as conn:
        for rec in every:
            counts = _counts(conn, rec.id)
            if rec.id in gone:
                assert set(counts.values()) == {0}, counts
            else:
                assert counts["crossings"] == 1 and counts["plate_reads"] == 1, counts
                assert (counts["objects"], counts["crossing_keys"], counts["faces"]) == (2, 2, 1)
        assert _counts(conn, matched.id)["matches"] == 1
        registered = conn.execute(
            "SELECT id FROM crossing_ids WHERE id = ANY(%s)", ([r.id for r in every],)
        ).fetchall()
        assert {r[0] for r in registered} == {r.id for r in every} - gone  # the id registry
        where = conn.execute(
            "SELECT id, tableoid::regclass::text FROM crossings WHERE id = ANY(%s)",
            ([held.id, alert.id, matched.id],),
        ).fetchall()
        assert {w[1] for w in where} == {"crossings_default"}
        kids = conn.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM faces WHERE crossing_id = %s",
            (held.id,),
        ).fetchall()
        assert kids == [("faces_default",)]
        assert conn.execute("SELECT to_regclass('crossings_p202609')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('crossing_keys_p202609')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('matches_p202609')").fetchone() == (None,)
        kept_match = conn.execute(
            "SELECT tableoid::regclass::text FROM matches WHERE crossing_id = %s", (matched.id,)
        ).fetchall()
        assert kept_match == [("matches_default",)]  # moved with its kept crossing
        assert conn.execute("SELECT to_regclass('crossings_p202611')").fetchone() != (None,)
    # The hold still protects the kept row, in the default partition too.
    with psycopg.connect(db.admin_url) as conn, pytest.raises(psycopg.errors.RestrictViolation):
        conn.execute("DELETE FROM crossings WHERE id = %s", (held.id,))
    # Released, it goes at the next run (row by row: its month is gone).
    holds.release_hold(db.pool, None, case_number="PART-1", released_by="test")
    again = run_retention(db.pool, store, POLICY, now=NOW)  # type: ignore[arg-type]
    assert held.id in again.crossings and alert.id not in again.crossings
    with db.pool.connection() as conn:
        assert set(_counts(conn, held.id).values()) == {0}
    # A late write to a dropped month lands in the default partition and is still found.
    late = _record("p-lane", datetime(2026, 9, 20, tzinfo=UTC))
    assert repo.save_crossing(db.pool, late)
    assert repo.save_crossing(db.pool, late) is False
    assert late.id in run_retention(db.pool, store, POLICY, now=NOW).crossings  # type: ignore[arg-type]


def test_row_by_row_retention_goes_batch_after_batch_and_reports_each_crossing_once(
    db: Db,
) -> None:
    # November 2026 is not wholly expired at NOW: these are purged row by row, two a batch
    tie = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    expired = [_record("p-other", tie) for _ in range(3)] + [
        _record("p-other", datetime(2026, 11, d, tzinfo=UTC)) for d in (1, 2, 4, 5, 6)
    ]
    held = _record("p-other", datetime(2026, 11, 2, 12, tzinfo=UTC))
    faces_only = [_record("p-other", datetime(2026, 11, d, tzinfo=UTC)) for d in (10, 15, 20)]
    for rec in (*expired, held, *faces_only):
        assert repo.save_crossing(db.pool, rec)
    holds.place_hold(
        db.pool, None, case_number="BATCH-1", crossing_ids=[held.id], reason="r", created_by="t"
    )
    mine = {r.id for r in (*expired, held, *faces_only)}
    store = RecordingStore()
    dry = run_retention(db.pool, store, POLICY, now=NOW, dry_run=True, batch=2)  # type: ignore[arg-type]
    run = run_retention(db.pool, store, POLICY, now=NOW, batch=2)  # type: ignore[arg-type]
    for report in (dry, run):
        assert sorted(c for c in report.crossings if c in mine) == sorted(r.id for r in expired)
        assert sorted(c for c in report.faces_of if c in mine) == sorted(r.id for r in faces_only)
        assert len(set(report.crossings)) == len(report.crossings)  # each once
    with db.pool.connection() as conn:
        for rec in expired:
            assert set(_counts(conn, rec.id).values()) == {0}
        assert _counts(conn, held.id)["faces"] == 1  # held: nothing purged
        for rec in faces_only:
            counts = _counts(conn, rec.id)
            assert (counts["crossings"], counts["faces"], counts["plate_reads"]) == (1, 0, 1)


def test_a_month_with_rows_in_the_default_partition_is_left_there(db: Db) -> None:
    far = partitions.month_start(NOW + timedelta(days=31 * 14))
    rec = _record("p-lane", far + timedelta(days=3))
    assert repo.save_crossing(db.pool, rec)  # no partition yet: the default takes it
    with db.pool.connection() as conn:
        made = conn.execute("SELECT lanecap_ensure_partitions(%s, %s)", (far, far)).fetchone()
        assert made == (0,)  # refused (warning), not an error
        where = conn.execute(
            "SELECT tableoid::regclass::text FROM crossings WHERE id = %s", (rec.id,)
        ).fetchone()
    assert where == ("crossings_default",)


def test_lane_logins_stay_insert_only_on_parents_and_partitions(db: Db) -> None:
    role = "lanecap_lane_part_" + secrets.token_hex(3)
    provision_lane_login(db.admin_url, lane_id="p-lane", role=role, password="pw-" + role)
    url = make_conninfo(db.app_url, user=role, password="pw-" + role)
    month = NOW.strftime("%Y%m")
    lane_pool = open_pool(url)
    try:
        mine = _record("p-lane", NOW - timedelta(hours=1))
        assert repo.save_crossing(lane_pool, mine) is True
        assert repo.save_crossing(lane_pool, mine) is False  # replay seen without SELECT
        theirs = _record("p-other", NOW - timedelta(hours=1))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            repo.save_crossing(lane_pool, theirs)
    finally:
        lane_pool.close()
    attacks = [
        f"SELECT * FROM crossings_p{month}",
        "SELECT * FROM crossings_default",
        f"SELECT * FROM faces_p{month}",
        f"INSERT INTO crossings_p{month} (id, lane_id, started_at, ended_at, face_status,"
        " n_frames) VALUES (gen_random_uuid(), 'p-other', now(), now(), 'x', 1)",
        f"DELETE FROM crossing_keys_p{month}",
        "SELECT lanecap_drop_month('2026-09-01', now())",
        "SELECT lanecap_ensure_partitions(now(), now())",
        "SELECT * FROM lanecap_month_partitions()",
    ]
    for statement in attacks:
        with (
            psycopg.connect(url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)


# -- migration from the unpartitioned schema ---------------------------------------------------

_TABLES = (
    "crossings",
    "plate_reads",
    "faces",
    "objects",
    "crossing_keys",
    "matches",
    "plate_reviews",
    "plate_prefixes",
    "legal_holds",
)


def _populate(conn: psycopg.Connection[tuple[object, ...]], n: int) -> None:
    """n crossings over 14 months on two lanes with every kind of part, as 001-011 store them."""
    conn.execute(
        "INSERT INTO lanes (id, site, driving_side, config) VALUES"
        " ('m-1', 's', 'right', '{}'), ('m-2', 's', 'left', '{}')"
    )
    conn.execute(
        "INSERT INTO crossings (id, lane_id, started_at, ended_at, plate_text, plate_conf,"
        " plate_flags, face_status, n_frames, alert, sealed, plate_index, plate_fold_index,"
        " matched_at, indexed_at)"
        " SELECT gen_random_uuid(), CASE WHEN i %% 2 = 0 THEN 'm-1' ELSE 'm-2' END,"
        "  t, t + interval '3 seconds', CASE WHEN i %% 5 = 0 THEN 'AB' || i END, 0.8,"
        "  CASE WHEN i %% 7 = 0 THEN '{no_plate_read}'::text[] ELSE '{}' END, 'captured', i %% 9,"
        "  i %% 11 = 0, decode(md5(i::text), 'hex'), decode(md5('i' || i), 'hex'), NULL,"
        "  CASE WHEN i %% 3 = 0 THEN t END, t"
        " FROM (SELECT i, timestamptz '2025-10-03 00:00+00' + i * interval '7 hours' AS t"
        "       FROM generate_series(1, %s) i) s",
        (n,),
    )
    conn.execute(
        "INSERT INTO plate_reads (crossing_id, camera_id, role, seen_at, box, det_score, text,"
        " confidence, char_conf) SELECT id, 'cam' || k, 'front_plate', started_at,"
        " '{1,2,3,4}', 0.5 + k / 10.0, plate_text, 0.7, '{0.9,0.8}'"
        " FROM crossings, generate_series(1, 2) k"
    )
    conn.execute(
        "INSERT INTO faces (crossing_id, camera_id, seen_at, box, quality, embedding, seat,"
        " passenger_no) SELECT id, 'drv', started_at, '{1,2,3,4}'::real[], 0.6,"
        " array_fill(n_frames::real / 10, ARRAY[128])::vector, 'driver', NULL FROM crossings"
        " UNION ALL SELECT id, 'pax', started_at, '{5,6,7,8}'::real[], 0.4, NULL, 'passenger', 1"
        " FROM crossings WHERE n_frames = 3"
    )
    conn.execute(
        "INSERT INTO objects (crossing_id, kind, bucket, key, sha256, size)"
        " SELECT id, kind, 'b', id || '/' || kind, md5(id::text), 100"
        " FROM crossings, unnest(ARRAY['plate_crop', 'face_crop', 'face_embedding']) kind"
    )
    conn.execute(
        "INSERT INTO crossing_keys (crossing_id, purpose, key_id, wrapped)"
        " SELECT id, p, 'agency-1', decode(md5(id::text || p), 'hex')"
        " FROM crossings, unnest(ARRAY['plates', 'faces']) p"
    )
    conn.execute(
        "INSERT INTO matches (crossing_id, kind, decision, detail, score)"
        " SELECT id, 'plate', CASE WHEN alert THEN 'match' ELSE 'no_match' END, 'd', 0.5"
        " FROM crossings WHERE n_frames < 4"
    )
    conn.execute(
        "INSERT INTO plate_reviews (crossing_id, action, plate_text, actor, reason)"
        " SELECT id, 'confirm', plate_text, 'olivia', 'checked' FROM crossings WHERE alert"
    )
    conn.execute(
        "INSERT INTO plate_prefixes (crossing_id, prefixes) SELECT id, ARRAY[n_frames, 1]"
        " FROM crossings WHERE plate_text IS NULL"
    )
    conn.execute(
        "INSERT INTO legal_holds (case_number, crossing_id, reason, created_by)"
        " SELECT 'CASE-' || n_frames, id, 'order', 'ada' FROM crossings WHERE n_frames = 8"
    )


def _rows(conn: psycopg.Connection[tuple[object, ...]], table: str) -> list[str]:
    """Every row of the table as text, crossing_at left out, in a stable order."""
    cols = [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped AND attname <> 'crossing_at' ORDER BY attnum",
            (table,),
        ).fetchall()
    ]
    q = sql.SQL("SELECT row({})::text AS r FROM {} ORDER BY r").format(
        sql.SQL(", ").join(sql.Identifier(str(c)) for c in sorted(map(str, cols))),
        sql.Identifier(table),
    )
    return [str(r[0]) for r in conn.execute(q).fetchall()]


_SCHEMA = {
    "columns": "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
    " pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    " WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition"
    " AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
    " AND c.relname <> 'schema_migrations'",
    "constraints": "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
    " JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = 'public'::regnamespace"
    " AND NOT c.relispartition AND c.relname <> 'schema_migrations'",
    "indexes": "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace"
    " AND NOT c.relispartition AND c.relname <> 'schema_migrations'",
    "triggers": "SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled"
    " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE NOT t.tgisinternal AND NOT c.relispartition",
    "policies": "SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check"
    " FROM pg_policies WHERE schemaname = 'public'",
    "security": "SELECT relname, relrowsecurity, relforcerowsecurity, relkind, relacl::text"
    " FROM pg_class WHERE relnamespace = 'public'::regnamespace AND NOT relispartition"
    " AND relkind IN ('r', 'p', 'S') AND relname <> 'schema_migrations'",
    "functions": "SELECT proname, pg_get_function_identity_arguments(oid), md5(prosrc),"
    " prosecdef, proconfig::text, proacl::text FROM pg_proc"
    " WHERE pronamespace = 'public'::regnamespace",
}


def _schema(admin_url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(admin_url) as conn:
        return {k: sorted(conn.execute(q).fetchall(), key=repr) for k, q in _SCHEMA.items()}


def test_a_populated_database_migrates_with_every_row_and_the_fresh_schema(
    endpoints,  # type: ignore[no-untyped-def]
) -> None:
    _, old_url, _ = _scratch(endpoints, "mig_old_")
    _, fresh_url, _ = _scratch(endpoints, "mig_new_")
    migrate(old_url, app_role=None, upto=11)
    with psycopg.connect(old_url) as conn:
        _populate(conn, 1500)
        conn.commit()
        before = {t: _rows(conn, t) for t in _TABLES}
        span = conn.execute("SELECT min(started_at), max(started_at) FROM crossings").fetchone()
    assert before["crossings"] and before["legal_holds"] and before["plate_reviews"]
    assert migrate(old_url) == [
        "012_partitions.sql",
        "013_partition_later_rows.sql",
        "014_crossing_ids.sql",
    ]
    migrate(fresh_url)
    with psycopg.connect(old_url) as conn:
        after = {t: _rows(conn, t) for t in _TABLES}
        misplaced = conn.execute(
            "SELECT (SELECT count(*) FROM plate_reads r JOIN crossings c ON c.id = r.crossing_id"
            "        WHERE r.crossing_at <> c.started_at)"
            " + (SELECT count(*) FROM matches m JOIN crossings c ON c.id = m.crossing_id"
            "    WHERE m.crossing_at <> c.started_at)"
            " + (SELECT count(*) FROM plate_prefixes g JOIN crossings c ON c.id = g.crossing_id"
            "    WHERE g.crossing_at <> c.started_at)"
        ).fetchone()
        in_default = conn.execute("SELECT count(*) FROM crossings_default").fetchone()
        months = partitions.month_partitions(conn)
        next_ids = conn.execute(
            "SELECT nextval('plate_reads_id_seq') > (SELECT max(id) FROM plate_reads)"
            " AND nextval('matches_id_seq') > (SELECT max(id) FROM matches)"
        ).fetchone()
        month_tables = {p.table for p in months} | {
            t for t in partitions.PARTITIONED if partitions.month_partitions(conn, table=t)
        }
    assert after == before  # every row, every value
    with psycopg.connect(old_url) as conn:
        ids = conn.execute(
            "SELECT (SELECT count(*) FROM crossing_ids),"
            " (SELECT count(*) FROM crossings c JOIN crossing_ids i USING (id))"
        ).fetchone()
    assert ids == (len(before["crossings"]), len(before["crossings"]))
    assert misplaced == (0,) and in_default == (0,) and next_ids == (True,)
    assert month_tables == set(partitions.PARTITIONED)
    assert span is not None and months[0].lower == partitions.month_start(span[0])
    assert _schema(old_url) == _schema(fresh_url)
