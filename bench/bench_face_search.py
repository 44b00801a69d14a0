"""1:N face search: pgvector HNSW against exact numpy, side by side, same vectors and probes.

    .venv/bin/python -m bench.bench_face_search --n 100000 \\
        --index 16,64 --index 16,64,halfvec --ef-search 40 --ef-search 100 --filtered

The gallery is face-like by default (bench/face_gallery.py: identities and within-person
spread fitted to real face_recognition encodings of ../shared/data/faces, several
images per person, each probe a new image of a stored person); `--random` gives the
old worst case (isotropic Gaussian vectors). recall@1 counts a probe when HNSW returns
the exact nearest vector (numpy, float32); id@1 when it returns the probe's person.

--index M,EFC[,vector|halfvec[,WORKERS]]: HNSW m, ef_construction, stored type (halfvec:
an expression index on embedding::halfvec, 16-bit), max_parallel_maintenance_workers.
--filtered adds a 10% filter (like a lane or time range) with hnsw.iterative_scan off and
relaxed_order, recall against the exact filtered answer.

PostgreSQL's default shared_buffers (128MB) cannot hold a 10^6 index (~800 MiB); the README's
second 10^6 run set `ALTER SYSTEM SET shared_buffers = '1536MB'` in var/bench first (services
restarted), as a production server would be sized.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg import register_vector

from bench.face_gallery import (
    DIM,
    Gallery,
    face_like,
    fit,
    pair_distances,
    participation_ratio,
    random_gaussian,
    real_encodings,
)
from lanecap.config import settings_from_dict
from lanecap.services.runtime import storage_endpoints

Conn = psycopg.Connection[Any]
FILTER_MOD = 10  # the filtered query keeps rows with id % 10 = 0


@dataclass(frozen=True)
class IndexSpec:
    m: int
    ef_construction: int
    kind: Literal["vector", "halfvec"]
    workers: int

    @classmethod
    def parse(cls, text: str) -> IndexSpec:
        parts = text.split(",")
        try:
            m, efc = int(parts[0]), int(parts[1])
            kind = parts[2] if len(parts) > 2 else "vector"
            workers = int(parts[3]) if len(parts) > 3 else 2
        except (ValueError, IndexError):
            raise argparse.ArgumentTypeError(
                f"--index {text!r}: expected M,EFC[,vector|halfvec[,WORKERS]], e.g. 16,64,halfvec,2"
            ) from None
        if kind not in ("vector", "halfvec"):
            raise argparse.ArgumentTypeError(f"--index {text!r}: type must be vector or halfvec")
        return cls(m, efc, "halfvec" if kind == "halfvec" else "vector", workers)

    def __str__(self) -> str:
        return f"m{self.m} efc{self.ef_construction} {self.kind} w{self.workers}"

    @property
    def column(self) -> str:
        return "embedding" if self.kind == "vector" else f"(embedding::halfvec({DIM}))"

    @property
    def probe(self) -> str:
        return "%(p)s" if self.kind == "vector" else f"%(p)s::vector::halfvec({DIM})"


@dataclass(frozen=True)
class Row:
    p50: float
    p95: float
    recall: float
    id_rate: float | None


def exact(
    vectors: npt.NDArray[np.float32], probes: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], list[float]]:
    """Nearest stored vector per probe (numpy, float32) and ms per query."""
    sq = (vectors.astype(np.float32) ** 2).sum(axis=1)
    ids, times = [], []
    for p in probes:
        s = time.perf_counter()
        ids.append(int(np.argmin(sq - 2.0 * (vectors @ p))))
        times.append((time.perf_counter() - s) * 1000)
    return np.asarray(ids, dtype=np.int64), times


def load(conn: Conn, table: str, vectors: npt.NDArray[np.float32]) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        f"CREATE TABLE {table} (id integer PRIMARY KEY, part smallint NOT NULL,"
        f" embedding vector({DIM}) NOT NULL)"
    )
    with conn.cursor().copy(
        f"COPY {table} (id, part, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", "int2", "vector"])
        for i, vec in enumerate(vectors):
            copy.write_row((i, i % FILTER_MOD, vec))
    conn.execute(f"ANALYZE {table}")
    conn.commit()


def build(conn: Conn, table: str, spec: IndexSpec) -> tuple[float, float]:
    """Build the index; (seconds, MiB)."""
    conn.execute(f"DROP INDEX IF EXISTS {table}_hnsw")
    conn.execute(f"SET max_parallel_maintenance_workers = {spec.workers}")
    ops = "vector_l2_ops" if spec.kind == "vector" else "halfvec_l2_ops"
    s = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {table}_hnsw ON {table} USING hnsw ({spec.column} {ops})"
        f" WITH (m = {spec.m}, ef_construction = {spec.ef_construction})"
    )
    conn.commit()
    secs = time.perf_counter() - s
    row = conn.execute(f"SELECT pg_relation_size('{table}_hnsw')").fetchone()
    return secs, (row[0] if row else 0) / 2**20


def search(
    conn: Conn,
    table: str,
    spec: IndexSpec,
    g: Gallery,
    truth: npt.NDArray[np.int64],
    *,
    where: str = "",
) -> Row:
    """ms per query and recall against `truth`; id@1 only without a filter (the probe's
    person is mostly filtered out)."""
    sql = f"SELECT id FROM {table}{where} ORDER BY {spec.column} <-> {spec.probe} LIMIT 1"
    times, hits, same = [], 0, 0
    for p, t, who in zip(g.probes, truth, g.probe_identity, strict=True):
        s = time.perf_counter()
        row = conn.execute(sql, {"p": p}).fetchone()
        times.append((time.perf_counter() - s) * 1000)
        got = -1 if row is None else int(row[0])
        hits += got == t
        same += got >= 0 and g.identity[got] == who
    p50, p95 = np.percentile(times, [50, 95])
    n = len(truth)
    return Row(float(p50), float(p95), hits / n, None if where else same / n)


def line(n: int, setting: str, ef: str, r: Row, build_s: str = "-", size: str = "-") -> str:
    return (
        f"{n:>9} {setting:<28} {ef:>5} {r.p50:>7.2f} {r.p95:>7.2f} {r.recall:>8.3f}"
        f" {'-' if r.id_rate is None else f'{r.id_rate:.3f}':>6} {build_s:>8} {size:>7}"
    )


def describe_model(args: argparse.Namespace) -> Any:
    x, ids = real_encodings()
    model = fit(x, ids)
    same, diff = pair_distances(x, ids)
    g = face_like(model, 40_000, per_identity=args.per_identity, queries=10, seed=7)
    sx = g.vectors.astype(np.float64)
    rng = np.random.default_rng(3)
    i, j = rng.integers(0, len(sx), 20_000), rng.integers(0, len(sx), 20_000)
    keep = g.identity[i] != g.identity[j]
    sdiff = np.linalg.norm(sx[i] - sx[j], axis=1)[keep]
    k = np.arange(0, len(sx) - 1, args.per_identity)
    ssame = np.linalg.norm(sx[k] - sx[k + 1], axis=1)

    def pct(d: npt.NDArray[np.float64]) -> str:
        return " ".join(f"{v:.2f}" for v in np.percentile(d, [5, 50, 95]))

    print(f"face model from {len(x)} real encodings of {len(set(ids))} people:")
    print(f"  same-person distance p5/p50/p95: real {pct(same)}, synthetic {pct(ssame)}")
    print(f"  other-person distance p5/p50/p95: real {pct(diff)}, synthetic {pct(sdiff)}")
    print(
        f"  norm p50: real {np.median(np.linalg.norm(x, axis=1)):.2f},"
        f" synthetic {np.median(np.linalg.norm(sx, axis=1)):.2f};"
        f" effective dims (participation ratio, 128 = isotropic):"
        f" between {participation_ratio(model.between):.1f},"
        f" within {participation_ratio(model.within):.1f};"
        f" per-image spread sigma {model.spread_sigma:.2f}"
    )
    return model


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, action="append", help="gallery size (repeatable)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--random", action="store_true", help="isotropic Gaussian (worst case)")
    ap.add_argument("--per-identity", type=int, default=4, help="stored images per person")
    ap.add_argument("--ef-search", type=int, action="append", help="hnsw.ef_search (repeatable)")
    ap.add_argument("--index", type=IndexSpec.parse, action="append", help="see above")
    ap.add_argument("--filtered", action="store_true", help="also a 10%% filtered query")
    ap.add_argument("--maintenance-work-mem", default="2GB")
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    args = ap.parse_args()
    sizes = args.n or [100_000]
    efs = args.ef_search or [40, 100]
    specs = args.index or [IndexSpec(16, 64, "vector", 2)]
    model = None if args.random else describe_model(args)
    settings = settings_from_dict({"data_dir": str(args.data_dir.resolve())}, env={})
    print(
        f"{'n':>9} {'setting':<28} {'ef':>5} {'p50 ms':>7} {'p95 ms':>7} {'recall@1':>8}"
        f" {'id@1':>6} {'build s':>8} {'idx MiB':>7}",
        flush=True,
    )
    with storage_endpoints(settings) as ep, psycopg.connect(ep.admin_url) as conn:
        conn.add_notice_handler(
            lambda d: (
                None
                if "skipping" in (d.message_primary or "")
                else print(f"  notice: {d.message_primary}", flush=True)
            )
        )
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.commit()
        register_vector(conn)
        conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
        for n in sizes:
            g = (
                random_gaussian(n, queries=args.queries, seed=n)
                if model is None
                else face_like(
                    model, n, per_identity=args.per_identity, queries=args.queries, seed=n
                )
            )
            truth, times = exact(g.vectors, g.probes)
            id_rate = float(np.mean(g.identity[truth] == g.probe_identity))
            p50, p95 = np.percentile(times, [50, 95])
            print(line(n, "numpy exact", "-", Row(float(p50), float(p95), 1.0, id_rate)))
            table = f"bench_faces_{n}"
            load(conn, table, g.vectors)
            sub = np.flatnonzero(np.arange(n) % FILTER_MOD == 0)
            ftruth = sub[exact(g.vectors[sub], g.probes)[0]]
            for spec in specs:
                secs, mib = build(conn, table, spec)
                for ef in efs:
                    conn.execute(f"SET hnsw.ef_search = {ef}")
                    conn.execute("SET hnsw.iterative_scan = off")
                    r = search(conn, table, spec, g, truth)
                    print(line(n, f"hnsw {spec}", str(ef), r, f"{secs:.1f}", f"{mib:.0f}"))
                    if args.filtered:
                        where = " WHERE part = 0"
                        for scan in ("off", "relaxed_order"):
                            conn.execute(f"SET hnsw.iterative_scan = {scan}")
                            r = search(conn, table, spec, g, ftruth, where=where)
                            label = f"  10% filter, iter. {scan}"
                            print(line(n, label, str(ef), r), flush=True)
                    conn.commit()
            conn.execute(f"DROP TABLE {table}")
            conn.commit()


if __name__ == "__main__":
    main()
