"""Crossing search latency on large synthetic archives: p50 / p95 per query kind.

    .venv/bin/python -m bench.bench_search --n 1000000
    .venv/bin/python -m bench.bench_search --n 1000000 --n 10000000 --queries 200

Crossings (8 lanes, one year, plates like ABC1234 plus some other formats) are bulk-loaded
with binary COPY into the real schema (all migrations), indexes built after the load, then
each query kind runs through `storage.search.search_crossings`, the code the API uses:

    clear  exact / prefix / fuzzy (pg_trgm, one character wrong) / fuzzy + 1-day range
    blind  exact (plate_index) / prefix (keyed prefixes) / fuzzy (plate_index probed with the
           query's one-edit and OCR-confusable variants) on the same plates, no text stored
    time   one lane, one day, first page (no plate)

Each query asks for one page of 50. Latency is measured in this process, pool connection
included, after a warm-up; the machine's other load is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from lanecap.config import settings_from_dict
from lanecap.services.runtime import storage_endpoints
from storage import search
from storage.crypto import SearchKey
from storage.db import migrate, open_pool

LANES = [f"lane-{i}" for i in range(1, 9)]
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_S = 365 * 86400
LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
ALNUM = np.concatenate([LETTERS, DIGITS])
CROSSING_INDEXES = [
    "CREATE INDEX crossings_lane_time ON crossings (lane_id, started_at DESC)",
    "CREATE INDEX crossings_time ON crossings (started_at DESC)",
    "CREATE INDEX crossings_plate_trgm ON crossings USING gin (plate_text gin_trgm_ops)",
    "CREATE INDEX crossings_plate_prefix ON crossings (plate_text text_pattern_ops)",
    "CREATE INDEX crossings_plate_index ON crossings (plate_index) WHERE plate_index IS NOT NULL",
    "CREATE INDEX crossings_alert_time ON crossings (started_at DESC, id DESC) WHERE alert",
    "CREATE INDEX crossings_time_id ON crossings (started_at DESC, id DESC)",
]
PREFIX_INDEXES = ["CREATE INDEX plate_prefixes_gin ON plate_prefixes USING gin (prefixes)"]


def plates(rng: np.random.Generator, n: int) -> list[str]:
    """80 % LLLDDDD, 20 % seven random letters/digits."""
    out = np.empty((n, 7), dtype=np.uint8)
    out[:, :3] = rng.choice(LETTERS, size=(n, 3))
    out[:, 3:] = rng.choice(DIGITS, size=(n, 4))
    other = rng.random(n) < 0.2
    out[other] = rng.choice(ALNUM, size=(int(other.sum()), 7))
    return [row.tobytes().decode("ascii") for row in out]


def chunks(n: int, seed: int, size: int = 100_000) -> Iterator[tuple[list[str], np.ndarray]]:
    rng = np.random.default_rng(seed)
    done = 0
    while done < n:
        k = min(size, n - done)
        yield plates(rng, k), rng.integers(0, SPAN_S, k)
        done += k


class PrefixCache:
    """Keyed prefixes of many plates: short prefixes repeat, so cache them."""

    def __init__(self, prefixes: search.BlindPrefixes) -> None:
        self.p = prefixes
        self.cache: dict[str, int] = {}

    def of(self, text: str) -> list[int]:
        out = []
        for k in range(1, len(text) + 1):
            p = text[:k]
            v = self.cache.get(p) if k <= 4 else None
            if v is None:
                v = self.p.prefix(p)
                if k <= 4:
                    self.cache[p] = v
            out.append(v)
        return sorted(set(out))


def load(admin_url: str, n: int, key: SearchKey, *, seed: int, blind: bool) -> list[str]:
    """Replace the archive with n synthetic crossings; returns a sample of stored plates."""
    prefixes = PrefixCache(search.BlindPrefixes.from_search_key(key))
    sample: list[str] = []
    with psycopg.connect(admin_url) as conn:
        conn.execute("TRUNCATE plate_prefixes, crossings CASCADE")
        for lane in LANES:
            conn.execute(
                "INSERT INTO lanes (id, site, driving_side, config) VALUES (%s, 'bench', 'right',"
                " '{}') ON CONFLICT (id) DO NOTHING",
                (lane,),
            )
        for stmt in CROSSING_INDEXES + PREFIX_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {stmt.split()[2]}")
        conn.execute("ALTER TABLE crossings DISABLE TRIGGER crossings_notify")
        conn.commit()
        t = time.perf_counter()
        lanes = np.array(LANES)
        rng = np.random.default_rng(seed + 1)
        for texts, offsets in chunks(n, seed):
            k = len(texts)
            ids = [uuid.UUID(bytes=os.urandom(16), version=4) for _ in range(k)]
            lane_ix = rng.integers(0, len(LANES), k)
            confs = rng.uniform(0.5, 1.0, k).astype(np.float32)
            alerts = rng.random(k) < 0.002
            with conn.cursor().copy(
                "COPY crossings (id, lane_id, started_at, ended_at, plate_text, plate_conf,"
                " plate_flags, face_status, n_frames, alert, plate_index)"
                " FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(
                    ["uuid", "text", "timestamptz", "timestamptz", "text", "float4", "text[]",
                     "text", "int4", "bool", "bytea"]
                )  # fmt: skip
                for i in range(k):
                    at = START + timedelta(seconds=int(offsets[i]))
                    copy.write_row(
                        (
                            ids[i],
                            lanes[lane_ix[i]],
                            at,
                            at + timedelta(seconds=2),
                            texts[i],
                            float(confs[i]),
                            [],
                            "captured",
                            5,
                            bool(alerts[i]),
                            key.plate_index(texts[i]) if blind else None,
                        )
                    )
            if blind:
                with conn.cursor().copy(
                    "COPY plate_prefixes (crossing_id, prefixes) FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["uuid", "int4[]"])
                    for i in range(k):
                        copy.write_row((ids[i], prefixes.of(texts[i])))
            conn.commit()
            sample.extend(texts[:: max(1, k // 200)][:200])
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        for stmt in CROSSING_INDEXES + (PREFIX_INDEXES if blind else []):
            conn.execute(stmt)
            conn.commit()
        conn.execute("ALTER TABLE crossings ENABLE TRIGGER crossings_notify")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE crossings")
        if blind:
            conn.execute("VACUUM ANALYZE plate_prefixes")
        index_s = time.perf_counter() - t
        size = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    print(
        f"loaded {n:,} crossings in {load_s:.0f} s (binary COPY{' + keyed prefixes' if blind else ''}),"
        f" indexes + analyze {index_s:.0f} s, database {size[0] if size else '?'}"
    )
    return sample


def key_file(data_dir: Path) -> bytes:
    """The bench's search key, kept beside its archive so --reuse finds the same hashes."""
    path = data_dir / "bench-search.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def reuse(admin_url: str, n: int) -> list[str] | None:
    """A sample of stored plates when the archive already holds n crossings, else None."""
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM crossings").fetchone()
        if row is None or row[0] != n:
            return None
        rows = conn.execute(
            "SELECT plate_text FROM crossings TABLESAMPLE SYSTEM (0.05) LIMIT 400"
        ).fetchall()
    print(f"reusing the loaded archive of {n:,} crossings")
    return [str(r[0]) for r in rows]


def typo(rng: np.random.Generator, text: str) -> str:
    i = int(rng.integers(0, len(text)))
    c = text[i]
    while c == text[i]:
        c = chr(int(rng.choice(ALNUM)))
    return text[:i] + c + text[i + 1 :]


def timed(fn: Callable[[int], object], queries: int) -> tuple[float, float, float]:
    for i in range(min(10, queries)):
        fn(i)
    ts = []
    for i in range(queries):
        t = time.perf_counter()
        fn(i)
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return statistics.median(ts), ts[int(0.95 * (len(ts) - 1))], ts[-1]


def run(url: str, n: int, sample: list[str], key: SearchKey, *, queries: int, blind: bool) -> None:
    rng = np.random.default_rng(7)
    pool = open_pool(url, size=2)
    picks = [sample[int(rng.integers(0, len(sample)))] for _ in range(queries + 10)]
    typos = [typo(rng, p) for p in picks]
    days = [START + timedelta(days=int(rng.integers(0, 364))) for _ in range(queries + 10)]

    def page(i: int, plate: search.PlateQuery | None, store: search.PlateStore, **f: object) -> int:
        return len(
            search.search_crossings(
                pool,
                plate=plate,
                filters=search.Filters(**f),  # type: ignore[arg-type]
                limit=50,
                store=store,
                indexer=key,
            ).hits
        )

    kinds: list[tuple[str, Callable[[int], object]]] = [
        ("clear exact", lambda i: page(i, search.PlateQuery(picks[i]), "clear")),
        ("clear prefix (4)", lambda i: page(i, search.PlateQuery(picks[i][:4], "prefix"), "clear")),
        ("clear fuzzy (1 wrong)", lambda i: page(i, search.PlateQuery(typos[i], "fuzzy"), "clear")),
        (
            "clear fuzzy + 1 day",
            lambda i: page(
                i,
                search.PlateQuery(typos[i], "fuzzy"),
                "clear",
                since=days[i],
                until=days[i] + timedelta(days=1),
            ),
        ),
        (
            "time: lane + 1 day",
            lambda i: page(
                i,
                None,
                "clear",
                lane_id=LANES[i % 8],
                since=days[i],
                until=days[i] + timedelta(days=1),
            ),
        ),
        ("time: alerts, newest", lambda i: page(i, None, "clear", alert=True)),
    ]
    if blind:
        kinds += [
            ("blind exact", lambda i: page(i, search.PlateQuery(picks[i]), "blind")),
            (
                "blind prefix (4)",
                lambda i: page(i, search.PlateQuery(picks[i][:4], "prefix"), "blind"),
            ),
            (
                "blind fuzzy (1 wrong)",
                lambda i: page(i, search.PlateQuery(typos[i], "fuzzy"), "blind"),
            ),
            (
                "blind fuzzy + 1 day",
                lambda i: page(
                    i,
                    search.PlateQuery(typos[i], "fuzzy"),
                    "blind",
                    since=days[i],
                    until=days[i] + timedelta(days=1),
                ),
            ),
        ]
    found = page(0, search.PlateQuery(typos[0], "fuzzy"), "clear")
    print(f"(fuzzy sanity: {found} hits for one typo'd plate)")
    for name, fn in kinds:
        p50, p95, worst = timed(fn, queries)
        print(f"{n:>11,} {name:<24} {p50:8.1f} {p95:8.1f} {worst:8.1f}")
    pool.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, action="append", help="archive size (repeatable)")
    ap.add_argument("--queries", type=int, default=200, help="queries per kind")
    ap.add_argument("--no-blind", action="store_true", help="skip the sealed-plate store")
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench-search"))
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="query the archive already loaded when it has --n crossings (same --seed key run)",
    )
    args = ap.parse_args()
    sizes = args.n or [1_000_000]
    blind = not args.no_blind
    settings = settings_from_dict({"data_dir": str(args.data_dir.resolve())}, env={})
    key = SearchKey(key_file(args.data_dir))
    with storage_endpoints(settings) as ep:
        migrate(ep.admin_url)
        for n in sizes:
            sample = reuse(ep.admin_url, n) if args.reuse else None
            if sample is None:
                sample = load(ep.admin_url, n, key, seed=n, blind=blind)
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"{'crossings':>11} {'query':<24} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            run(ep.database_url, n, sample, key, queries=args.queries, blind=blind)


if __name__ == "__main__":
    main()
