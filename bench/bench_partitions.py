"""Monthly partitions (migration 012) against the unpartitioned schema (migrations 001-011):
plate search latency, retention time and the store path, side by side with ratios.

    .venv/bin/python -m bench.bench_partitions --n 1000000

Two databases on one embedded PostgreSQL, loaded with the same synthetic archive: n crossings
over 13 months ending now, 8 lanes, 0.2 % alerts, each with one plate read, two object rows and
two wrapped keys (no faces: their HNSW build alone would take longer than the rest). Rows are
generated in the server (INSERT ... SELECT) with indexes and user triggers off, then indexes
built and analysed, so both schemas get the same physical start.

Measured, on each schema:

    search     p50 / p95 of storage.search.search_crossings, the code the API uses: clear exact,
               clear prefix (4), clear fuzzy (pg_trgm), blind exact (plate_index), exact within
               one week, lane + one day; one page of 50, pool connection included
    store      storage.crossings.save_crossing of fresh crossings one by one (the lane path,
               with every trigger), crossings per second (the unpartitioned children get a
               plain crossing_at column for it, as the code writes one)
    retention  storage.retention.run_retention twice, the database part (until the first S3
               delete; the purge-queue drain, the same code on both, is left out): first with
               one day expiring (what a site's daily run does: row by row on both schemas),
               then with the oldest month expiring whole (dropped on the partitioned schema,
               deleted row by row on the other)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lanecap.config import settings_from_dict
from lanecap.services.runtime import storage_endpoints
from storage import crossings as repo
from storage import search
from storage.crypto import WrappedKey
from storage.db import migrate, open_pool
from storage.objects import StoredObject
from storage.retention import RetentionPolicy, run_retention

LANES = [f"lane-{i}" for i in range(1, 9)]
TABLES = ("crossings", "plate_reads", "objects", "crossing_keys")
SPAN_DAYS = 395  # 13 months
# no faces in the archive: their cutoff is the plates' one, so the faces pass finds nothing new
POLICY = RetentionPolicy(plate_reads_days=335, face_crops_days=335, alerts_days=3650, audit_days=1)


class Sha256Index:
    """A stand-in search key: plate_index = sha256(text), computed the same way in SQL."""

    secret = b"bench-partitions"

    def plate_index(self, text: str) -> bytes:
        return hashlib.sha256(text.encode()).digest()


class ClockedStore:
    """The ObjectStore part retention uses. At the first S3 delete (the database part is then
    committed) it notes the time, counts the queued keys and empties the queue: the drain is
    the same code on both schemas, one round trip per key, and is not what is compared."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.first: float | None = None
        self.queued = 0

    def purge(self, bucket: str, key: str) -> int:
        if self.first is None:
            self.first = time.perf_counter()
            with psycopg.connect(self.url, autocommit=True) as conn:
                self.queued = conn.execute("DELETE FROM purge_queue").rowcount
        return 1


def create_db(admin_url: str, name: str) -> str:
    owner = str(conninfo_to_dict(admin_url)["user"])
    with psycopg.connect(make_conninfo(admin_url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    return make_conninfo(admin_url, dbname=name)


def load(admin_url: str, n: int, *, now: datetime, partitioned: bool) -> dict[str, float]:
    """The synthetic archive (see module doc); seconds taken per phase."""
    start = now - timedelta(days=SPAN_DAYS)
    out: dict[str, float] = {}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        # the load is not what is compared: no foreign-key or user triggers while it runs
        conn.execute("SET session_replication_role = replica")
        for lane in LANES:
            conn.execute(
                "INSERT INTO lanes (id, site, driving_side, config)"
                " VALUES (%s, 'bench', 'right', '{}')",
                (lane,),
            )
        if partitioned:
            conn.execute("SELECT lanecap_ensure_partitions(%s, %s)", (start, now))
        defs = [
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
                " FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[])"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                (list(TABLES),),
            ).fetchall()
        ]
        for name, _ in defs:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        for t in TABLES:
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(t)))
        at = "crossing_at, " if partitioned else ""
        c_at = "c.started_at, " if partitioned else ""
        t0 = time.perf_counter()
        step = 250_000
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            conn.execute(
                "INSERT INTO crossings (id, lane_id, started_at, ended_at, plate_text, plate_conf,"
                " plate_flags, face_status, n_frames, alert, plate_index, indexed_at)"
                " SELECT gen_random_uuid(), (%(lanes)s::text[])[1 + i %% 8], t, t + interval '2 s',"
                "  p, 0.9, '{}', 'captured', 5, random() < 0.002,"
                "  sha256(convert_to(p, 'UTF8')), t"
                " FROM (SELECT i, %(start)s::timestamptz + random() * %(span)s::interval AS t,"
                "   upper(substr(md5(i::text || 'p'), 1, 3)) || lpad((i %% 10000)::text, 4, '0') p"
                "  FROM generate_series(%(lo)s, %(hi)s - 1) i) s",
                {"lanes": LANES, "start": start, "span": f"{SPAN_DAYS} days", "lo": lo, "hi": hi},
            )
        out["crossings"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(
            f"INSERT INTO plate_reads (crossing_id, {at}camera_id, role, seen_at, box, det_score,"
            f" text, confidence) SELECT c.id, {c_at}'cam', 'front_plate', c.started_at,"
            " '{1,2,3,4}', 0.8, c.plate_text, 0.9 FROM crossings c"
        )
        conn.execute(
            f"INSERT INTO objects (crossing_id, {at}kind, bucket, key, sha256, size)"
            f" SELECT c.id, {c_at}k, 'bench', c.id || '/' || k, '0', 1000 FROM crossings c,"
            " unnest(ARRAY['plate_crop', 'frame']) k"
        )
        conn.execute(
            f"INSERT INTO crossing_keys (crossing_id, {at}purpose, key_id, wrapped)"
            f" SELECT c.id, {c_at}p, 'agency', '\\x00' FROM crossings c,"
            " unnest(ARRAY['plates', 'faces']) p"
        )
        out["parts"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, ddl in defs:
            # a partitioned parent's index reads "ON ONLY parent": made here for every partition
            conn.execute(ddl.replace(" ON ONLY ", " ON ", 1))
        conn.execute("RESET session_replication_role")
        for t in TABLES:
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(t)))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(t)))
        out["indexes"] = time.perf_counter() - t0
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        out["size_mb"] = (size[0] if size else 0) / 2**20
    return out


def timed(fn: Callable[[int], object], queries: int) -> tuple[float, float]:
    for i in range(min(10, queries)):
        fn(i)
    ts = []
    for i in range(queries):
        t = time.perf_counter()
        fn(i)
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return statistics.median(ts), ts[int(0.95 * (len(ts) - 1))]


def searches(url: str, *, now: datetime, queries: int) -> dict[str, tuple[float, float]]:
    pool = open_pool(url, size=2)
    rng = np.random.default_rng(11)
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT plate_text, started_at FROM crossings TABLESAMPLE SYSTEM (1) LIMIT %s",
            (queries + 10,),
        ).fetchall()
    picks = [(str(r[0]), r[1]) for r in rows]
    key = Sha256Index()

    def page(
        plate: search.PlateQuery | None, store: search.PlateStore = "clear", **f: object
    ) -> int:
        filters = search.Filters(**f)  # type: ignore[arg-type]
        hits = search.search_crossings(
            pool, plate=plate, filters=filters, limit=50, store=store, indexer=key
        )
        return len(hits.hits)

    def typo(text: str) -> str:
        i = int(rng.integers(0, len(text)))
        return text[:i] + ("Z" if text[i] != "Z" else "Y") + text[i + 1 :]

    typos = [typo(p) for p, _ in picks]
    days = [now - timedelta(days=int(rng.integers(1, SPAN_DAYS))) for _ in picks]
    kinds: dict[str, Callable[[int], object]] = {
        "clear exact": lambda i: page(search.PlateQuery(picks[i][0])),
        "clear prefix (4)": lambda i: page(search.PlateQuery(picks[i][0][:4], "prefix")),
        "clear fuzzy (1 wrong)": lambda i: page(search.PlateQuery(typos[i], "fuzzy")),
        "blind exact": lambda i: page(search.PlateQuery(picks[i][0]), "blind"),
        "clear exact + 1 week": lambda i: page(
            search.PlateQuery(picks[i][0]),
            since=picks[i][1] - timedelta(days=3),
            until=picks[i][1] + timedelta(days=4),
        ),
        "time: lane + 1 day": lambda i: page(
            None, lane_id=LANES[i % 8], since=days[i], until=days[i] + timedelta(days=1)
        ),
    }
    found = page(search.PlateQuery(picks[0][0]))
    assert found >= 1, "the sampled plate is not found"
    out = {name: timed(fn, queries) for name, fn in kinds.items()}
    pool.close()
    return out


def stores(url: str, *, now: datetime, n: int) -> float:
    """save_crossing of n fresh crossings (lane-shaped: 1 read, 2 objects, 2 keys); per second."""
    pool = open_pool(url, size=1)
    recs = []
    for i in range(n):
        t = now - timedelta(seconds=i)
        cid = uuid.uuid4()
        recs.append(
            repo.CrossingRecord(
                id=cid,
                lane_id=LANES[i % 8],
                started_at=t,
                ended_at=t + timedelta(seconds=2),
                plate_text=None,
                plate_conf=0.9,
                plate_region=None,
                plate_flags=(),
                face_status="captured",
                n_frames=5,
                reads=(
                    repo.PlateReadRecord("cam", "front_plate", t, (1, 2, 3, 4), 0.8, None, 0.9),
                ),
                objects=tuple(
                    (k, StoredObject("bench", f"{cid}/{k}", "0", 10))
                    for k in ("plate_crop", "frame")
                ),
                sealed=b"x",
                keys=(
                    WrappedKey(purpose="plates", key_id="a", wrapped=b"w"),
                    WrappedKey(purpose="faces", key_id="a", wrapped=b"w"),
                ),
            )
        )
    t0 = time.perf_counter()
    for rec in recs:
        repo.save_crossing(pool, rec)
    rate = n / (time.perf_counter() - t0)
    assert repo.save_crossing(pool, recs[0]) is False  # a replay is still seen
    pool.close()
    return rate


def month_after(t: datetime) -> datetime:
    return (t.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )


def retention(url: str, *, cutoff: datetime) -> dict[str, float]:
    """run_retention with the plates cutoff at `cutoff` (the policy's `now` moved to fit)."""
    pool = open_pool(url, size=2)
    store = ClockedStore(url)
    now = cutoff + timedelta(days=POLICY.plate_reads_days)
    t0 = time.perf_counter()
    report = run_retention(pool, store, POLICY, now=now)  # type: ignore[arg-type]
    total = time.perf_counter() - t0
    pool.close()
    db = (store.first - t0) if store.first is not None else total
    return {
        "crossings purged": float(len(report.crossings)),
        "months dropped": float(len(report.months_dropped)),
        "S3 keys queued": float(store.queued),
        "database s": db,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000, help="crossings per schema")
    ap.add_argument("--queries", type=int, default=200, help="queries per search kind")
    ap.add_argument("--stores", type=int, default=2000, help="save_crossing calls per schema")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench-partitions"))
    args = ap.parse_args()
    settings = settings_from_dict({"data_dir": str(args.data_dir.resolve())}, env={})
    now = datetime.now(UTC)
    first = now - timedelta(days=SPAN_DAYS)
    # retention as a site runs it (one day expires) and the first whole month expiring
    day_cut, month_cut = first + timedelta(days=1), month_after(first) + timedelta(hours=1)
    results: dict[str, dict[str, float | tuple[float, float]]] = {}
    with storage_endpoints(settings) as ep:
        with psycopg.connect(ep.admin_url, autocommit=True) as conn:
            # this bench's own server: fewer checkpoints while tens of millions of rows load
            conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
            conn.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
            conn.execute("SELECT pg_reload_conf()")
        for label, partitioned in (("unpartitioned", False), ("partitioned", True)):
            dbname = f"bench_{label}"
            admin = create_db(ep.admin_url, dbname)
            if partitioned:
                migrate(admin)
            else:
                migrate(admin, app_role=None, upto=11)
            app = admin  # the schema owner on both: row-level security is not measured
            r: dict[str, float | tuple[float, float]] = {}
            for k, v in load(admin, args.n, now=now, partitioned=partitioned).items():
                r[f"load {k}"] = v
            print(f"{label}: loaded {args.n:,} crossings ({r})", flush=True)
            for k, pv in searches(app, now=now, queries=args.queries).items():
                r[f"search {k}"] = pv
            if not partitioned:  # today's code writes crossing_at: a plain column here
                with psycopg.connect(admin, autocommit=True) as conn:
                    for t in ("plate_reads", "faces", "objects", "crossing_keys"):
                        conn.execute(
                            sql.SQL("ALTER TABLE {} ADD COLUMN crossing_at timestamptz").format(
                                sql.Identifier(t)
                            )
                        )
            r["store crossings/s"] = stores(app, now=now, n=args.stores)
            for k, v in retention(app, cutoff=day_cut).items():
                r[f"retention, one day: {k}"] = v
            print(f"{label}: one day expired ({r})", flush=True)
            for k, v in retention(app, cutoff=month_cut).items():
                r[f"retention, oldest month: {k}"] = v
            results[label] = r
    print(
        f"\n{args.n:,} crossings, {SPAN_DAYS} days; load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} cores"
    )
    un, pa = results["unpartitioned"], results["partitioned"]
    print(f"{'measure':<52} {'unpartitioned':>14} {'partitioned':>14} {'ratio p/u':>10}")
    for k in un:
        a, b = un[k], pa[k]
        if isinstance(a, tuple) and isinstance(b, tuple):
            for j, tag in enumerate(("p50 ms", "p95 ms")):
                ratio = b[j] / a[j] if a[j] else float("nan")
                print(f"{k + ' ' + tag:<52} {a[j]:>14.2f} {b[j]:>14.2f} {ratio:>10.2f}")
        elif isinstance(a, float) and isinstance(b, float):
            ratio = b / a if a else float("nan")
            print(f"{k:<52} {a:>14.2f} {b:>14.2f} {ratio:>10.2f}")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "results": results}, indent=2))


if __name__ == "__main__":
    main()
