"""1:N face search on monthly partitions (one HNSW index per month, as migration 012 builds
`faces`) against one table with one global HNSW index: same vectors, same probes, one run.

    nice -n 10 .venv/bin/python -m bench.bench_face_partitions [--n 200000] [--months 13]
        [--queries 300] [--ef-search 100] [--data-dir var/bench]

Vectors are face-like (bench/face_gallery.py, fitted to real encodings of ../shared/data/faces;
4 images a person, each probe a new image of a stored person), spread at random over the
months (a traveller crosses in any month). Index m 16, ef_construction 64, hnsw.ef_search
100: the schema's and `storage.search.search_faces`'s. Measured on each table:

    all months    ORDER BY embedding <-> probe LIMIT 1 (the partitioned table merges one
                  index scan per month)
    last month    the same within the newest month (crossing_at >= its first day): the
                  partitioned table prunes to one month's index; the global index scans with
                  hnsw.iterative_scan = relaxed_order and filters

recall@1: the exact (numpy) nearest vector of that scope was returned; id@1: a vector of the
probe's person. Build: seconds to create the index (all partitions' together).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg import register_vector

from bench.bench_face_search import exact
from bench.face_gallery import DIM, Gallery, face_like, fit, real_encodings
from lanecap.config import settings_from_dict
from lanecap.services.runtime import storage_endpoints

Conn = psycopg.Connection[Any]


def _month_start(k: int, months: int) -> datetime:
    """The first day of month k of `months` ending with the current one (k = months - 1)."""
    now = datetime.now(UTC)
    total = now.year * 12 + now.month - 1 - (months - 1 - k)
    return datetime(total // 12, total % 12 + 1, 1, tzinfo=UTC)


def load(conn: Conn, table: str, g: Gallery, month: npt.NDArray[np.int64], months: int) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    cols = (
        f"id integer NOT NULL, crossing_at timestamptz NOT NULL, embedding vector({DIM}) NOT NULL"
    )
    if table.endswith("part"):
        conn.execute(f"CREATE TABLE {table} ({cols}) PARTITION BY RANGE (crossing_at)")
        for k in range(months):
            lo, hi = _month_start(k, months), _month_start(k + 1, months)
            conn.execute(
                f"CREATE TABLE {table}_{k} PARTITION OF {table}"
                f" FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
            )
    else:
        conn.execute(f"CREATE TABLE {table} ({cols})")
    starts = [_month_start(k, months) for k in range(months)]
    with conn.cursor().copy(
        f"COPY {table} (id, crossing_at, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", "timestamptz", "vector"])
        for i, vec in enumerate(g.vectors):
            copy.write_row((i, starts[month[i]].replace(hour=12), vec))
    conn.execute(f"CREATE INDEX {table}_at ON {table} (crossing_at)")
    conn.execute(f"ANALYZE {table}")
    conn.commit()


def build(conn: Conn, table: str) -> float:
    s = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_l2_ops)"
        " WITH (m = 16, ef_construction = 64)"
    )
    conn.commit()
    return time.perf_counter() - s


def measure(
    conn: Conn,
    table: str,
    g: Gallery,
    truth: npt.NDArray[np.int64],
    where: str,
    args: dict[str, Any],
) -> tuple[float, float, float, float]:
    """p50 ms, p95 ms, recall@1, id@1."""
    sql = f"SELECT id FROM {table}{where} ORDER BY embedding <-> %(p)s LIMIT 1"
    times, hits, same = [], 0, 0
    for p, t, who in zip(g.probes, truth, g.probe_identity, strict=True):
        s = time.perf_counter()
        row = conn.execute(sql, {"p": p, **args}).fetchone()
        times.append((time.perf_counter() - s) * 1000)
        got = -1 if row is None else int(row[0])
        hits += got == t
        same += got >= 0 and g.identity[got] == who
    p50, p95 = np.percentile(times, [50, 95])
    return float(p50), float(p95), hits / len(truth), same / len(truth)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--months", type=int, default=13)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ef-search", type=int, default=100)
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    a = ap.parse_args()
    x, ids = real_encodings()
    g = face_like(fit(x, ids), a.n, per_identity=4, queries=a.queries, seed=a.n)
    month = np.random.default_rng(1).integers(0, a.months, a.n)
    truth_all, _ = exact(g.vectors, g.probes)
    last = np.flatnonzero(month == a.months - 1)
    truth_last = last[exact(g.vectors[last], g.probes)[0]]
    settings = settings_from_dict({"data_dir": str(a.data_dir.resolve())}, env={})
    print(
        f"{a.n} face-like vectors over {a.months} months, {a.queries} probes, ef_search {a.ef_search}"
    )
    print(
        f"{'table':<34} {'scope':<11} {'p50 ms':>7} {'p95 ms':>7} {'recall@1':>8} {'id@1':>6} {'build s':>8}"
    )
    rows: dict[tuple[str, str], float] = {}
    with storage_endpoints(settings) as ep, psycopg.connect(ep.admin_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.commit()
        register_vector(conn)
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        for table, label in (
            ("bfp_global", "one table, global HNSW"),
            ("bfp_part", f"{a.months} monthly partitions"),
        ):
            load(conn, table, g, month, a.months)
            secs = build(conn, table)
            conn.execute(f"SET hnsw.ef_search = {a.ef_search}")
            for scope, truth, where, scan in (
                ("all months", truth_all, "", "off"),
                ("last month", truth_last, " WHERE crossing_at >= %(lo)s", "relaxed_order"),
            ):
                conn.execute(f"SET hnsw.iterative_scan = {scan}")
                p50, p95, rec, idr = measure(
                    conn, table, g, truth, where, {"lo": _month_start(a.months - 1, a.months)}
                )
                rows[(table, scope)] = p95
                print(
                    f"{label:<34} {scope:<11} {p50:>7.2f} {p95:>7.2f} {rec:>8.3f} {idr:>6.3f} {secs:>8.1f}",
                    flush=True,
                )
                conn.commit()
            conn.execute(f"DROP TABLE {table}")
            conn.commit()
    for scope in ("all months", "last month"):
        ratio = rows[("bfp_part", scope)] / rows[("bfp_global", scope)]
        print(f"p95 partitioned / global, {scope}: {ratio:.2f}")


if __name__ == "__main__":
    main()
