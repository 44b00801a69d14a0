"""Benchmark: reading cost and exactness per vehicle, reading modes side by side.

A synthetic lane built from real plates: each vehicle carries one crop of the
held-out validation split of `openalpr-us-crops` (never trained on by the reader
or the detector), pasted on a drawn vehicle that approaches a 1280x720 front
camera at 5 fps for 3 s (plate 60 -> 210 px wide), with blur, noise and JPEG
per frame and 1.5 s of empty road between vehicles. The same frames go through
`LanePipeline` (shipped YOLO detector, tracker, reader, vote) once per mode:

* reader framings `adaptive` (default), `consensus`, `single`;
* `settle_reads` 3 (default: stop reading a vehicle after 3 agreeing sure reads)
  or 0 (read every frame).

Prints per mode: crossings per vehicle, fused plate exact match, reads per vehicle,
reading ms per vehicle (mean, p95) and the ratio to the default mode.

    python bench/bench_lane_reading.py [--vehicles 40] [--threads 2] [--reader-threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capture.types import Frame
from lanecap.config import CameraConfig, LaneConfig
from lanecap.pipeline import LanePipeline
from recognition.plates.detector import YoloPlateDetector
from recognition.plates.manifest import load_manifest, split_of
from recognition.plates.reader import EasyOcrReader, Framings
from recognition.types import Image, PlateRead

SHARED = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
CROPS = SHARED / "plates" / "openalpr-us-crops" / "manifest.csv"
W, H, FPS, PASS_S, GAP_S = 1280, 720, 5.0, 3.0, 1.5
MODES: tuple[tuple[Framings, int], ...] = (
    ("adaptive", 3),
    ("consensus", 3),
    ("single", 3),
    ("adaptive", 0),
    ("consensus", 0),
)


def vehicle_frames(crop: Image, rng: np.random.Generator) -> list[Image]:
    """Frames of one vehicle approaching with `crop` as its plate."""
    n = int(PASS_S * FPS)
    colour = tuple(int(c) for c in rng.integers(30, 220, 3))
    road = np.full((H, W, 3), 90, np.uint8)
    road[: H // 4] = (170, 150, 120)
    out = []
    for i in range(n):
        t = i / (n - 1)
        pw = int(60 + 150 * t)
        ph = max(8, int(pw * crop.shape[0] / crop.shape[1]))
        plate = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA)
        img = road.copy()
        cx, py = W // 2 + int(rng.integers(-6, 7)), int(300 + 260 * t)
        bw, bh = int(pw * 3.2), int(pw * 1.6)
        x1, y1 = cx - bw // 2, py - int(bh * 0.7)
        cv2.rectangle(img, (x1, y1), (x1 + bw, y1 + bh), colour, -1)
        cv2.rectangle(
            img, (x1 + bw // 8, y1 + bh // 12), (x1 + bw * 7 // 8, y1 + bh // 3), (50, 45, 40), -1
        )
        px = cx - pw // 2
        if py + ph < H:
            img[py : py + ph, px : px + pw] = plate
        k = int(rng.integers(1, 4))  # vertical motion blur
        blurred = cv2.filter2D(img, -1, np.ones((k, 1), np.float32) / k)
        noisy = blurred.astype(np.int16) + rng.normal(0, 3, img.shape).astype(np.int16)
        img = np.clip(noisy, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 90))])
        out.append(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8) if ok else img)
    return out


class TimedReader:
    """Counts reads and reading time, by the frame's timestamp."""

    def __init__(self, reader: EasyOcrReader) -> None:
        self.reader = reader
        self.now = 0.0
        self.calls: list[tuple[float, float]] = []  # (timestamp, ms)

    def read(self, crop: Image) -> PlateRead | None:
        t0 = time.perf_counter()
        r = self.reader.read(crop)
        self.calls.append((self.now, (time.perf_counter() - t0) * 1000.0))
        return r


def run_mode(
    frames: list[tuple[float, int | None, Image]],
    truth: list[tuple[float, float, str]],
    detector: YoloPlateDetector,
    reader: EasyOcrReader,
    settle: int,
) -> dict[str, Any]:
    lane = LaneConfig(
        id="bench",
        cameras=(CameraConfig(id="bench-front", role="front_plate", source="bench"),),
        vehicle_gap_s=1.0,
        fusion_window_s=1.5,
    )
    timed = TimedReader(reader)
    pipe = LanePipeline(lane, detector=detector, reader=timed, faces=None, settle_reads=settle)
    crossings = []
    for i, (ts, _, img) in enumerate(frames):
        timed.now = ts
        pipe.process(Frame("bench-front", i, ts, img))
        crossings += pipe.poll(ts)
    crossings += pipe.finish()
    per: dict[int, list[str]] = defaultdict(list)
    for c in crossings:
        mid = (c.started_at + c.ended_at) / 2
        for v, (a, b, _) in enumerate(truth):
            if a - 0.5 <= mid <= b + 0.5:
                per[v].append(c.plate.text if c.plate else "")
    reads: dict[int, list[float]] = defaultdict(list)
    for ts, ms in timed.calls:
        for v, (a, b, _) in enumerate(truth):
            if a <= ts <= b:
                reads[v].append(ms)
    n = len(truth)
    ms_vehicle = [sum(reads[v]) for v in range(n)]
    return {
        "vehicles": n,
        "crossings": len(crossings),
        "one_crossing": sum(len(per[v]) == 1 for v in range(n)) / n,
        "exact": sum(len(per[v]) == 1 and per[v][0] == truth[v][2] for v in range(n)) / n,
        "reads_per_vehicle": float(np.mean([len(reads[v]) for v in range(n)])),
        "ms_per_vehicle_mean": float(np.mean(ms_vehicle)),
        "ms_per_vehicle_p95": float(np.percentile(ms_vehicle, 95)),
        "ms_per_read_p50": float(np.median([ms for _, ms in timed.calls])),
        "errors": [(truth[v][2], per[v]) for v in range(n) if per[v] != [truth[v][2]]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2, help="Detector threads.")
    ap.add_argument(
        "--reader-threads", type=int, default=1, help="Reader threads (a lane node uses 1)."
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not CROPS.is_file():
        sys.exit(f"real plate crops not found: {CROPS} (set LANECAP_SHARED_DATA)")
    items = [i for i in load_manifest(CROPS) if split_of(i.rel) == "val" and i.texts]
    rng = np.random.default_rng(args.seed)
    picked = [items[k] for k in rng.permutation(len(items))[: args.vehicles]]
    frames: list[tuple[float, int | None, Image]] = []
    truth: list[tuple[float, float, str]] = []
    t, step = 1_000_000.0, 1.0 / FPS
    empty = np.full((H, W, 3), 90, np.uint8)
    for v, item in enumerate(picked):
        crop = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        for _ in range(int(GAP_S * FPS)):
            frames.append((t, None, empty))
            t += step
        start = t
        for img in vehicle_frames(np.asarray(crop, np.uint8), rng):
            frames.append((t, v, img))
            t += step
        truth.append((start, t - step, item.texts[0]))
    frames += [(t + k * step, None, empty) for k in range(int(3 * FPS))]
    detector = YoloPlateDetector(threads=args.threads)
    results: dict[str, Any] = {
        "vehicles": len(truth),
        "threads": args.threads,
        "reader_threads": args.reader_threads,
        "modes": {},
    }
    for framings, settle in MODES:
        reader = EasyOcrReader(threads=args.reader_threads, framings=framings)
        reader.read(picked_warm := np.full((40, 160, 3), 200, np.uint8))  # allocate first
        del picked_warm
        name = f"{framings}, settle {settle}"
        results["modes"][name] = run_mode(frames, truth, detector, reader, settle)
        print(f"  {name}: done", file=sys.stderr, flush=True)
    base = results["modes"]["adaptive, settle 3"]["ms_per_vehicle_mean"]
    print(
        f"\n{len(truth)} vehicles (openalpr-us-crops validation plates), detector"
        f" {args.threads} threads, reader {args.reader_threads}"
    )
    head = f"{'mode':22} {'1 crossing':>10} {'exact':>6} {'reads/veh':>9} {'ms/veh':>7} {'p95':>7} {'ms/read':>7} {'x default':>9}"
    print(head)
    for name, r in results["modes"].items():
        print(
            f"{name:22} {r['one_crossing']:10.3f} {r['exact']:6.3f} {r['reads_per_vehicle']:9.1f} "
            f"{r['ms_per_vehicle_mean']:7.1f} {r['ms_per_vehicle_p95']:7.1f} {r['ms_per_read_p50']:7.1f} "
            f"{r['ms_per_vehicle_mean'] / base:8.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
