"""Lanes per primary: crossings per second one PostgreSQL primary (and its S3) takes from N
concurrent lane nodes, each with the lane's own logins, as `lanecap run` writes them.

    nice -n 10 .venv/bin/python -m bench.bench_primary [--nodes 1,2,4,8] [--seconds 30]
        [--data-dir var/bench-primary] [--json out.json]

Every node is its own process (as lane nodes are): it provisions its lane's write-only
logins, seals `--per-node` synthetic crossings before the clock starts (sealing is the
node's CPU, not the primary's), then commits them one after another as fast as the store
answers, for `--seconds`: the plate crop, the driver's face crop and the sealed record go
to S3, the rows (crossing, plate read, face with its 128-d embedding into the HNSW index,
object rows, wrapped keys, audit-relevant triggers) to PostgreSQL. Crossings differ in
plate, time and face; nothing is a replay. Reported per N: crossings per second in all,
commit latency p50 / p95, and lanes per primary at a peak of one vehicle every
`--lane-interval` seconds per lane (default 10 s, a busy primary-inspection booth).

On the 2-core development machine the nodes, PostgreSQL and SeaweedFS share the cores, so
the figures are a floor for a primary on its own host.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lanecap.archive import Archive, CrossingSealer
from lanecap.config import LaneConfig, Settings, settings_from_dict
from lanecap.keys import lane_keys
from lanecap.pipeline import Crossing, FaceSighting, PlateSighting
from lanecap.services.runtime import lane_credentials, storage_endpoints
from recognition.plates.vote import Vote
from recognition.types import Box, FaceObservation, PlateDetection, PlateRead


def _settings(data_dir: Path) -> Settings:
    return settings_from_dict(
        {"data_dir": str(data_dir), "object_store": {"bucket_prefix": "primary"}}, env={}
    )


def _lane(i: int) -> LaneConfig:
    return LaneConfig.model_validate(
        {
            "id": f"primary-{i}",
            "cameras": [
                {"id": f"primary-{i}-front", "role": "front_plate", "source": "x"},
                {"id": f"primary-{i}-driver", "role": "driver", "source": "y"},
            ],
        }
    )


def _crossing(lane: str, k: int, rng: np.random.Generator) -> Crossing:
    now = time.time()
    plate = rng.integers(60, 240, (60, 220, 3), dtype=np.uint8)  # noisy: JPEG does not shrink it
    face = rng.integers(40, 220, (160, 140, 3), dtype=np.uint8)
    text = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 7))
    read = PlateRead(text, 0.95, (0.95,) * 7)
    seen = PlateSighting(
        f"{lane}-front",
        "front_plate",
        now,
        PlateDetection(Box(400, 300, 620, 360), 0.9),
        read,
        plate,
    )
    emb = rng.standard_normal(128).astype(np.float32)
    obs = FaceObservation(Box(10, 10, 130, 150), emb / np.linalg.norm(emb), 0.9)
    return Crossing(
        id=uuid.uuid4(),
        lane_id=lane,
        started_at=now - 3.0,
        ended_at=now,
        plate=Vote(text, 0.95, read.char_confidences, 3),
        plate_flags=(),
        plates=(seen,),
        best_plate=seen,
        driver=FaceSighting(f"{lane}-driver", now, obs, face),
        face_status="captured",
        n_frames=12,
    )


def _node(
    i: int, creds: Any, data_dir: str, per_node: int, seconds: float, go: Any, out: Any
) -> None:
    settings = _settings(Path(data_dir))
    lane = _lane(i)
    with storage_endpoints(settings, keep_running=True) as ep:
        keys = lane_keys(settings, embedded=True)
        archive = Archive(settings, ep, keys=keys, lane=creds)
        sealer = CrossingSealer(keys, bucket_prefix=settings.object_store.bucket_prefix)
        rng = np.random.default_rng(i)
        sealed = [sealer.seal(_crossing(lane.id, k, rng)) for k in range(per_node)]
        times: list[float] = []
        errors = 0
        out.put(("ready", i))
        go.wait()
        start_at = time.time()
        end = start_at + seconds
        for s in sealed:
            if time.time() >= end:
                break
            t0 = time.perf_counter()
            try:
                ok = archive.commit(s)
            except Exception:  # counted; a bench keeps going
                errors += 1
                continue
            times.append(time.perf_counter() - t0)
            errors += int(not ok)
        elapsed = min(time.time(), end) - start_at
        archive.close()
    out.put(
        {"node": i, "committed": len(times), "errors": errors, "seconds": elapsed, "times": times}
    )


def run(
    nodes: int, creds: list[Any], *, data_dir: Path, seconds: float, per_node: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    go: Any = ctx.Event()
    procs = [
        ctx.Process(
            target=_node,
            args=(i, creds[i], str(data_dir), per_node, seconds, go, out),
        )
        for i in range(nodes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        out.get(timeout=600)  # every node has sealed its crossings
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    times = np.array([t for r in results for t in r["times"]]) * 1000.0
    committed = sum(r["committed"] for r in results)
    return {
        "nodes": nodes,
        "committed": committed,
        "errors": sum(r["errors"] for r in results),
        "seconds": seconds,
        "per_second": committed / seconds,
        "commit_p50_ms": float(np.percentile(times, 50)) if len(times) else None,
        "commit_p95_ms": float(np.percentile(times, 95)) if len(times) else None,
        "ran_out_of_sealed": [r["node"] for r in results if r["committed"] >= per_node],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--nodes", default="1,2,4,8", help="node counts to try, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--per-node", type=int, default=1500, help="crossings sealed per node")
    ap.add_argument("--lane-interval", type=float, default=10.0, help="peak s between vehicles")
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench-primary"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    settings = _settings(args.data_dir)
    with storage_endpoints(settings, keep_running=True) as ep:
        setup = Archive(settings, ep)  # migrations, buckets, lanes
        creds = []
        for i in range(max(counts)):
            setup.register_lane(_lane(i))
            creds.append(lane_credentials(settings, ep, _lane(i).id))  # one at a time
        setup.close()
    rows = []
    print(f"{'nodes':>5} {'crossings/s':>12} {'p50 ms':>8} {'p95 ms':>8} {'lanes/primary':>14}")
    for n in counts:
        r = run(n, creds, data_dir=args.data_dir, seconds=args.seconds, per_node=args.per_node)
        r["lanes_per_primary"] = r["per_second"] * args.lane_interval
        rows.append(r)
        print(
            f"{n:>5} {r['per_second']:>12.1f} {r['commit_p50_ms'] or 0:>8.1f} "
            f"{r['commit_p95_ms'] or 0:>8.1f} {r['lanes_per_primary']:>14.0f}"
            + (f"  errors {r['errors']}" if r["errors"] else "")
            + (
                f"  nodes out of crossings {r['ran_out_of_sealed']}"
                if r["ran_out_of_sealed"]
                else ""
            ),
            flush=True,
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"lane_interval_s": args.lane_interval, "runs": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
