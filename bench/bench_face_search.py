"""1:N face search: pgvector HNSW against exact numpy, side by side, same vectors and probes.

    .venv/bin/python -m bench.bench_face_search --n 100000 --n 1000000

Vectors are synthetic 128-d encodings (unit-normalised Gaussian clusters, like
face_recognition's); each probe is a stored vector plus noise, so the right
answer is known. Prints ms per query (p50/p95) and recall@1 for both.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from lanecap.config import settings_from_dict
from lanecap.services.runtime import storage_endpoints

DIM = 128


def make_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v * 0.6  # face_recognition encodings have norms around 0.5-0.7


def load(conn: psycopg.Connection, table: str, vectors: np.ndarray) -> float:  # type: ignore[type-arg]
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, embedding vector({DIM}))")
    t = time.perf_counter()
    with conn.cursor().copy(
        f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", "vector"])
        for i, vec in enumerate(vectors):
            copy.write_row((i, vec))
    conn.commit()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, action="append", help="gallery size (repeatable)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=100)
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    args = ap.parse_args()
    sizes = args.n or [100_000]
    settings = settings_from_dict({"data_dir": str(args.data_dir.resolve())}, env={})
    print(f"{'n':>9} {'method':<14} {'p50 ms':>8} {'p95 ms':>8} {'recall@1':>9} {'build s':>8}")
    with storage_endpoints(settings) as ep, psycopg.connect(ep.admin_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.commit()
        register_vector(conn)
        conn.execute("SET maintenance_work_mem = '1GB'")
        for n in sizes:
            gallery = make_vectors(n, seed=n)
            rng = np.random.default_rng(1)
            truth = rng.choice(n, size=args.queries, replace=False)
            probes = gallery[truth] + rng.normal(scale=0.01, size=(args.queries, DIM)).astype(
                np.float32
            )
            # exact numpy
            times, hits = [], 0
            for p, t in zip(probes, truth, strict=True):
                s = time.perf_counter()
                best = int(np.argmin(((gallery - p) ** 2).sum(axis=1)))
                times.append(time.perf_counter() - s)
                hits += best == t
            np_p50, np_p95 = np.percentile(times, [50, 95]) * 1000
            print(
                f"{n:>9} {'numpy exact':<14} {np_p50:>8.2f} {np_p95:>8.2f} {hits / len(truth):>9.3f} {'-':>8}"
            )
            table = f"bench_faces_{n}"
            load(conn, table, gallery)
            s = time.perf_counter()
            conn.execute(
                f"CREATE INDEX ON {table} USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)"
            )
            conn.commit()
            build = time.perf_counter() - s
            conn.execute(f"SET hnsw.ef_search = {int(args.ef_search)}")
            times, hits = [], 0
            for p, t in zip(probes, truth, strict=True):
                s = time.perf_counter()
                row = conn.execute(
                    f"SELECT id FROM {table} ORDER BY embedding <-> %s LIMIT 1", (p,)
                ).fetchone()
                times.append(time.perf_counter() - s)
                hits += row is not None and row[0] == t
            pg_p50, pg_p95 = np.percentile(times, [50, 95]) * 1000
            print(
                f"{n:>9} {'pgvector hnsw':<14} {pg_p50:>8.2f} {pg_p95:>8.2f} {hits / len(truth):>9.3f} {build:>8.1f}"
            )
            print(f"{n:>9} ratio numpy/hnsw p50: {np_p50 / pg_p50:.1f}x")
            conn.execute(f"DROP TABLE {table}")
            conn.commit()


if __name__ == "__main__":
    main()
