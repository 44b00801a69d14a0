"""Soak: N lanes x F fps for M minutes against the embedded store, with storage faults.

    nice -n 10 .venv/bin/python -m bench.soak [--lanes 6] [--fps 5] [--minutes 60]
        [--fault-every 180] [--fault-s 20] [--detector yolo|contour] [--json out.json]

It reuses the load test (`lanecap.load.run_load`, what `lanecap load` runs): the demo clip
(4 vehicles, 19.5 s) is replayed in real time on every lane, round after round, until the
time is up; each lane's crossings go through its own store-and-forward node
(`lanecap.forward.StoreAndForward`, a spool per lane) into its own PostgreSQL + SeaweedFS
pair under `--data-dir` (default `var/soak`), so the faults disturb nothing else.

Every `--fault-every` seconds one storage fault is injected for `--fault-s` seconds, in turn:

    s3-stop     SeaweedFS stopped (SIGTERM), then started again
    pg-stop     PostgreSQL stopped (fast shutdown), then started again
    s3-freeze   SeaweedFS frozen (SIGSTOP: connections hang, nothing refuses), then SIGCONT

At the end every spool is drained and the store is counted. The report (a table, and JSON
with `--json`) gives frames offered / analysed / dropped, crossings produced, stored (rows in
PostgreSQL with this run's ids), lost (produced, not stored), duplicates (a second crossing of
one vehicle in one round: same lane, same plate), vehicles missed (a round's plate never
produced), RSS at start and end (and growth after the first round, the warm-up), and latency
percentiles: per frame (analysis time, and frame age when analysed) and per crossing (the
store call, and a vehicle's last frame to stored; spooled crossings count when replayed).

Pipelines are rebuilt each round (as `run_load` builds them); the store nodes, the detector
and reader, the pools and the spool live for the whole run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from capture.types import Frame
from lanecap import components
from lanecap.archive import Archive, CrossingSealer
from lanecap.config import LaneConfig, Settings, settings_from_dict
from lanecap.demo import DEMO_VEHICLES, DemoVehicle, render_demo
from lanecap.forward import StoreAndForward
from lanecap.keys import lane_keys
from lanecap.load import run_load
from lanecap.pipeline import Crossing, LanePipeline
from lanecap.services.runtime import Endpoints, embedded_pair, storage_endpoints
from lanecap.spool import Spool

log = logging.getLogger(__name__)
FAULT_KINDS = ("s3-stop", "pg-stop", "s3-freeze")


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 and max in milliseconds (None when nothing was measured)."""
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(values, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "n": len(values),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(a.max()), 1),
    }


@dataclass
class Fault:
    kind: str
    started_at: float
    seconds: float = 0.0
    recovered_s: float = 0.0  # restart / resume time after the outage
    error: str = ""


@dataclass
class Recorder:
    """What the lanes did, collected from their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    frame_s: list[float] = field(default_factory=list)  # pipeline.process() time
    frame_age_s: list[float] = field(default_factory=list)  # frame timestamp -> analysed
    store_s: list[float] = field(default_factory=list)  # node.store() call
    produced: dict[uuid.UUID, tuple[int, str, str | None, float]] = field(default_factory=dict)
    spans: dict[uuid.UUID, tuple[float, float, int]] = field(
        default_factory=dict
    )  # start, end, frames
    store_errors: list[str] = field(default_factory=list)
    round: int = 0
    round_starts: list[float] = field(default_factory=list)


class TimedPipeline(LanePipeline):
    """The lane pipeline, timing each analysed frame."""

    recorder: Recorder

    def process(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        super().process(frame)
        done = time.perf_counter()
        with self.recorder.lock:
            self.recorder.frame_s.append(done - t0)
            self.recorder.frame_age_s.append(time.time() - frame.timestamp)


def _lane(i: int, clip: Path, gap: float) -> LaneConfig:
    # The lane ids and camera ids `run_load` gives its lanes.
    return LaneConfig.model_validate(
        {
            "id": f"load-{i}",
            "vehicle_gap_s": gap,
            "cameras": [{"id": f"load-{i}-front", "role": "front_plate", "source": str(clip)}],
        }
    )


class Injector(threading.Thread):
    """Storage faults every `every_s` seconds, each lasting `fault_s`, kinds in turn."""

    def __init__(
        self, settings: Settings, *, every_s: float, fault_s: float, kinds: Sequence[str]
    ) -> None:
        super().__init__(daemon=True, name="soak-faults")
        self.pg, self.s3, _ = embedded_pair(settings)
        self.weed_pid_file = settings.data_dir.resolve() / "seaweedfs.pid"
        self.every_s, self.fault_s, self.kinds = every_s, fault_s, tuple(kinds)
        self.faults: list[Fault] = []
        self.stop_event = threading.Event()

    def _weed_group(self) -> int:
        return int(self.weed_pid_file.read_text().strip())  # weed runs in its own group

    def inject(self, kind: str) -> Fault:
        f = Fault(kind, time.time())
        t0 = time.monotonic()
        try:
            if kind == "s3-stop":
                self.s3.stop()
                self.stop_event.wait(self.fault_s)
                f.seconds = time.monotonic() - t0
                t1 = time.monotonic()
                self.s3.start()
            elif kind == "pg-stop":
                self.pg.stop()
                self.stop_event.wait(self.fault_s)
                f.seconds = time.monotonic() - t0
                t1 = time.monotonic()
                self.pg.start()
            elif kind == "s3-freeze":
                group = self._weed_group()
                os.killpg(group, signal.SIGSTOP)
                try:
                    self.stop_event.wait(self.fault_s)
                finally:
                    f.seconds = time.monotonic() - t0
                    t1 = time.monotonic()
                    os.killpg(group, signal.SIGCONT)
            else:
                raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
            f.recovered_s = time.monotonic() - t1
        except Exception as err:  # reported, and the run goes on
            f.error = f"{type(err).__name__}: {err}"
            log.error("fault %s failed: %s", kind, err)
        self.faults.append(f)
        return f

    def run(self) -> None:
        n = 0
        while not self.stop_event.wait(self.every_s):
            f = self.inject(self.kinds[n % len(self.kinds)])
            print(
                f"  fault {f.kind}: {f.seconds:.1f} s down, back in {f.recovered_s:.1f} s"
                + (f" ({f.error})" if f.error else ""),
                file=sys.stderr,
                flush=True,
            )
            n += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


def _count_stored(archive: Archive, ids: list[uuid.UUID]) -> tuple[int, int, int]:
    with archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT id),"
            " (SELECT count(*) FROM objects WHERE crossing_id = ANY(%s))"
            " FROM crossings WHERE id = ANY(%s)",
            (ids, ids),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def soak(
    *,
    lanes: int,
    fps: float,
    minutes: float,
    data_dir: Path,
    fault_every_s: float,
    fault_s: float,
    faults: Sequence[str] = FAULT_KINDS,
    detector: str = "yolo",
    vehicles: tuple[DemoVehicle, ...] = DEMO_VEHICLES,
    gap_s: float = 1.0,
    drain_timeout_s: float = 120.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the soak; returns the report (see the module docstring)."""
    say = progress or (lambda _: None)
    settings = settings_from_dict(
        {
            "data_dir": str(data_dir),
            "object_store": {"bucket_prefix": "soak"},
            "recognition": {"plate_detector": detector},
        },
        env={},
    )
    proc = psutil.Process()
    rec = Recorder()
    plates = {v.plate for v in vehicles}
    with (
        tempfile.TemporaryDirectory(prefix="lanecap-soak-") as tmp,
        storage_endpoints(settings, keep_running=True) as ep,
    ):
        clip = render_demo(Path(tmp), vehicles=vehicles)["front"]
        configs = [_lane(i, clip, gap_s) for i in range(lanes)]
        keys = lane_keys(settings, embedded=True)
        det = components.plate_detector(settings)
        reader = components.plate_reader(settings)
        nodes = {cfg.id: _node(settings, ep, cfg, keys, data_dir) for cfg in configs}
        for node in nodes.values():
            node.drain()  # what an earlier, interrupted soak left behind

        def make(lane: LaneConfig) -> LanePipeline:
            p = TimedPipeline(
                lane,
                detector=det,
                reader=reader,
                faces=None,
                min_score=settings.recognition.plate_min_score,
            )
            p.recorder = rec
            return p

        def store(c: Crossing) -> bool:
            node = nodes[c.lane_id]
            text = c.plate.text if c.plate is not None else None
            with rec.lock:
                rec.produced[c.id] = (rec.round, c.lane_id, text, c.ended_at)
            rec.spans[c.id] = (c.started_at, c.ended_at, c.n_frames)
            t0 = time.perf_counter()
            try:
                ok = node.store(c)
            except Exception as err:  # counted (and lost unless stored), never fatal to the lane
                log.exception("store failed")
                with rec.lock:
                    rec.store_errors.append(f"{type(err).__name__}: {err}")
                return False
            dt = time.perf_counter() - t0
            with rec.lock:
                rec.store_s.append(dt)
            return ok

        rss_start = proc.memory_info().rss / 2**20
        rss_samples: list[tuple[float, float]] = [(0.0, rss_start)]
        injector = Injector(settings, every_s=fault_every_s, fault_s=fault_s, kinds=faults)
        totals = {"offered": 0, "analysed": 0, "dropped": 0}
        proc.cpu_percent(None)
        start = time.time()
        end = start + minutes * 60.0
        rss_warm: float | None = None
        injector.start()
        try:
            while time.time() < end:
                rec.round += 1
                rec.round_starts.append(time.time())
                r = run_load(
                    clip=clip, lanes=lanes, fps=fps, make_pipeline=make, store=store,
                    vehicle_gap_s=gap_s,
                )  # fmt: skip
                totals["offered"] += r.frames_offered
                totals["analysed"] += r.frames_processed
                totals["dropped"] += r.frames_dropped
                rss = proc.memory_info().rss / 2**20
                rss_samples.append((time.time() - start, rss))
                if rss_warm is None:
                    rss_warm = rss
                say(
                    f"round {rec.round}: {time.time() - start:6.0f} s, frames "
                    f"{totals['analysed']}/{totals['offered']}, crossings {len(rec.produced)}, "
                    f"rss {rss:.0f} MB"
                )
        finally:
            injector.stop()
        run_s = time.time() - start
        cpu = proc.cpu_percent(None)
        # Storage is back (every fault ends restored): replay what is spooled.
        left = 0
        for node in nodes.values():
            left += node.finish(timeout_s=drain_timeout_s)
        replayed = sum(n.replayed for n in nodes.values())
        spooled = sum(n.spooled for n in nodes.values())
        outages = sum(n.outages for n in nodes.values())
        for node in nodes.values():
            node.close()
        rss_end = proc.memory_info().rss / 2**20
        ids = list(rec.produced)
        check = Archive(settings, ep, keys=keys)
        try:
            rows, distinct, objects = _count_stored(check, ids)
            with check.pool.connection() as conn:
                created = {
                    r[0]: r[1].timestamp()
                    for r in conn.execute(
                        "SELECT id, created_at FROM crossings WHERE id = ANY(%s)", (ids,)
                    )
                }
                stored_ids = set(created)
        finally:
            check.close()

    per_round: dict[tuple[int, str], list[str | None]] = {}
    for rnd, lane_id, text, _ in rec.produced.values():
        per_round.setdefault((rnd, lane_id), []).append(text)
    duplicates = sum(
        max(0, texts.count(p) - 1) for texts in per_round.values() for p in set(texts) if p
    )
    unread = sum(texts.count(None) for texts in per_round.values())
    split = _splits(rec)
    expected = rec.round * lanes * len(vehicles)
    gaps = {
        (rnd, cfg.id): sorted(plates - set(per_round.get((rnd, cfg.id), [])))
        for rnd in range(1, rec.round + 1)
        for cfg in configs
    }
    missed = sum(len(g) for g in gaps.values())
    missed_rounds: dict[int, int] = {}
    for (rnd, _), g in gaps.items():
        if g:
            missed_rounds[rnd] = missed_rounds.get(rnd, 0) + len(g)
    # Last frame -> stored: the row's commit time (a spooled crossing's when it was replayed).
    to_stored = [
        created[cid] - ended_at
        for cid, (_, _, _, ended_at) in rec.produced.items()
        if cid in created
    ]
    warm = rss_warm if rss_warm is not None else rss_start
    return {
        "conditions": {
            "lanes": lanes,
            "fps": fps,
            "minutes": minutes,
            "run_s": round(run_s, 1),
            "rounds": rec.round,
            "vehicles_per_round": len(vehicles),
            "detector": detector,
            "vehicle_gap_s": gap_s,
            "fault_every_s": fault_every_s,
            "fault_s": fault_s,
            "cpu_count": os.cpu_count(),
            "load_avg_1m_end": round(os.getloadavg()[0], 2),
            "cpu_percent": round(cpu, 1),
        },
        "frames": totals,
        "crossings": {
            "expected_vehicles": expected,
            "produced": len(rec.produced),
            "stored": len(stored_ids),
            "stored_rows": rows,
            "stored_distinct": distinct,
            "objects": objects,
            "lost": len(set(ids) - stored_ids),
            "duplicates": duplicates,
            "unread": unread,
            "vehicles_missed": missed,
            "spooled": spooled,
            "replayed": replayed,
            "left_in_spool": left,
            "store_errors": len(rec.store_errors),
            "store_error_samples": rec.store_errors[:5],
            "outages_seen": outages,
            "duplicate_samples": split[:20],
            # round -> vehicles missed in it, and when each round started (to set beside faults)
            "missed_by_round": missed_rounds,
            "round_started_s": [round(t - start, 1) for t in rec.round_starts],
        },
        "faults": [asdict(f) for f in injector.faults],
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_round_1": round(warm, 1),
            "end": round(rss_end, 1),
            "growth": round(rss_end - rss_start, 1),
            "growth_after_warmup": round(rss_end - warm, 1),
            "samples": [(round(t, 1), round(m, 1)) for t, m in rss_samples],
        },
        "latency": {
            "frame_analysis": percentiles(rec.frame_s),
            "frame_age_when_analysed": percentiles(rec.frame_age_s),
            "crossing_store_call": percentiles(rec.store_s),
            "crossing_last_frame_to_stored": percentiles(to_stored),
        },
    }


def _splits(rec: Recorder) -> list[dict[str, Any]]:
    """Each duplicated vehicle's crossings, in time order: when, how many frames, the gap."""
    groups: dict[tuple[int, str, str], list[uuid.UUID]] = {}
    for cid, (rnd, lane_id, text, _) in rec.produced.items():
        if text:
            groups.setdefault((rnd, lane_id, text), []).append(cid)
    out = []
    for (rnd, lane_id, text), ids in sorted(groups.items()):
        if len(ids) < 2:
            continue
        spans = sorted(rec.spans[i] for i in ids)
        out.append(
            {
                "round": rnd,
                "lane": lane_id,
                "plate": text,
                "crossings": [
                    {"s": round(e - s, 2), "frames": n, "gap_before_s": round(s - prev, 2)}
                    for (s, e, n), prev in zip(
                        spans, [spans[0][0]] + [sp[1] for sp in spans[:-1]], strict=True
                    )
                ],
            }
        )
    return out


def _node(
    settings: Settings, ep: Endpoints, lane: LaneConfig, keys: Any, data_dir: Path
) -> StoreAndForward:
    def connect() -> Archive:
        a = Archive(settings, ep, keys=keys)
        a.register_lane(lane)
        return a

    return StoreAndForward(
        sealer=CrossingSealer(keys, bucket_prefix=settings.object_store.bucket_prefix),
        spool=Spool(data_dir / "spool" / lane.id, max_bytes=settings.spool_max_mb * 2**20),
        connect=connect,
        retry_s=1.0,
        background=True,  # as `lanecap run` forwards
    )


def format_report(r: dict[str, Any]) -> str:
    c, fr, cr, rss, lat = r["conditions"], r["frames"], r["crossings"], r["rss_mb"], r["latency"]
    lines = [
        f"soak: {c['lanes']} lanes x {c['fps']:g} fps, {c['run_s']:.0f} s ({c['rounds']} rounds), "
        f"detector {c['detector']}, {len(r['faults'])} faults, cpu {c['cpu_percent']:.0f}% "
        f"of {c['cpu_count']} cores, load {c['load_avg_1m_end']}",
        f"{'frames':<34} offered {fr['offered']}, analysed {fr['analysed']}, dropped "
        f"{fr['dropped']} ({100 * fr['dropped'] / max(fr['offered'], 1):.1f}%)",
        f"{'crossings':<34} vehicles {cr['expected_vehicles']}, produced {cr['produced']}, "
        f"stored {cr['stored']}, lost {cr['lost']}, duplicates {cr['duplicates']}, "
        f"missed {cr['vehicles_missed']}, unread {cr['unread']}",
        f"{'store and forward':<34} spooled {cr['spooled']}, replayed {cr['replayed']}, "
        f"left {cr['left_in_spool']}, errors {cr['store_errors']}, outages {cr['outages_seen']}",
        f"{'rss MB':<34} start {rss['start']:.0f}, after round 1 {rss['after_round_1']:.0f}, "
        f"end {rss['end']:.0f} (growth {rss['growth']:+.0f}, after warm-up "
        f"{rss['growth_after_warmup']:+.0f})",
        f"{'latency (ms)':<34} {'n':>7} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}",
    ]
    for name, p in lat.items():
        cells = [f"{p[k]:>9.1f}" if p[k] is not None else f"{'-':>9}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]  # fmt: skip
        lines.append(f"  {name:<32} {p['n']:>7} " + " ".join(cells))
    for f in r["faults"]:
        lines.append(
            f"  fault {f['kind']:<10} at +{f['started_at'] - r['faults'][0]['started_at']:5.0f} s: "
            f"{f['seconds']:.1f} s, back in {f['recovered_s']:.1f} s {f['error']}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--lanes", type=int, default=6)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--fault-every", type=float, default=180.0, help="seconds between faults")
    ap.add_argument("--fault-s", type=float, default=20.0, help="seconds each fault lasts")
    ap.add_argument("--faults", default=",".join(FAULT_KINDS), help="kinds, in turn")
    ap.add_argument("--detector", choices=["paired", "yolo", "contour"], default="yolo")
    ap.add_argument("--gap", type=float, default=1.0, help="vehicle_gap_s")
    ap.add_argument("--data-dir", type=Path, default=Path("var/soak"))
    ap.add_argument("--json", type=Path, default=None, help="write the report here")
    ap.add_argument("--stop-services", action="store_true", help="stop the store at the end")
    args = ap.parse_args(argv)
    if not 1 <= args.lanes <= 64 or not 0.5 <= args.fps <= 30 or args.minutes <= 0:
        ap.error("--lanes 1-64, --fps 0.5-30, --minutes > 0")
    kinds = [k for k in args.faults.split(",") if k]
    if unknown := set(kinds) - set(FAULT_KINDS):
        ap.error(f"unknown faults {sorted(unknown)}; expected {FAULT_KINDS}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        report = soak(
            lanes=args.lanes,
            fps=args.fps,
            minutes=args.minutes,
            data_dir=args.data_dir,
            fault_every_s=args.fault_every,
            fault_s=args.fault_s,
            faults=kinds or FAULT_KINDS,
            detector=args.detector,
            gap_s=args.gap,
            progress=lambda s: print(s, file=sys.stderr, flush=True),
        )
    finally:
        if args.stop_services:
            s = settings_from_dict({"data_dir": str(args.data_dir)}, env={})
            pg, s3, _ = embedded_pair(s)
            s3.stop()
            pg.stop()
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"report: {args.json}")
    cr = report["crossings"]
    return 0 if cr["lost"] == 0 and cr["left_in_spool"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
