"""Fit the crossing plate confidence to the chance the fused read is exactly right.

Vehicles of the synthetic lane of `bench_lane_reading.py` (real held-out crops of
`openalpr-us-crops` on drawn vehicles, 5 fps, blur, noise, JPEG) go through the shipped
`LanePipeline` with the lane's default detector and reader (`lanecap.components`); each
crossing gives (raw vote confidence, exact). The plates are split in two by a hash of
their file: isotonic calibration is fitted on one half and its expected calibration error
measured on the other (and the other way round, reported), then the shipped table is
fitted on all of them.

    python bench/calibrate_plate_confidence.py [--vehicles 160] [--out recognition/models/plate_confidence.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_lane_reading import CROPS, FPS, GAP_S, H, W, vehicle_frames
from capture.types import Frame
from lanecap import components
from lanecap.config import CameraConfig, LaneConfig, Settings
from lanecap.pipeline import LanePipeline
from recognition.plates.calibrate import (
    DEFAULT_FILE,
    Calibration,
    expected_calibration_error,
    fit,
    reliability,
)
from recognition.plates.manifest import load_manifest, split_of


def lane_pairs(items: list, seed: int) -> list[tuple[float, bool, str]]:  # type: ignore[type-arg]
    """(raw vote confidence, exact, file) of each vehicle's one crossing (0, False if none)."""
    rng = np.random.default_rng(seed)
    lane = LaneConfig(
        id="cal",
        cameras=(CameraConfig(id="cal-front", role="front_plate", source="cal"),),
        vehicle_gap_s=1.0,
        fusion_window_s=1.5,
    )
    # The lane's own default detector and reader (paired detector, second reader), as
    # `lanecap eval plates` runs them.
    settings = Settings.model_validate({"data_dir": "var/calibrate-plates"})
    pipe = LanePipeline(
        lane,
        detector=components.plate_detector(settings),
        reader=components.plate_reader(settings),
        faces=None,
        calibration=Calibration.identity(),
    )
    empty = np.full((H, W, 3), 90, np.uint8)
    t, step, n = 1_000_000.0, 1.0 / FPS, 0
    out = []
    for item in items:
        crop = np.asarray(cv2.imread(str(item.path), cv2.IMREAD_COLOR), np.uint8)
        crossings = []
        for img in [empty] * int(GAP_S * FPS) + vehicle_frames(crop, rng):
            pipe.process(Frame("cal-front", n, t, img))
            crossings += pipe.poll(t)
            t += step
            n += 1
        for _ in range(int(GAP_S * FPS)):
            pipe.process(Frame("cal-front", n, t, empty))
            crossings += pipe.poll(t)
            t += step
            n += 1
        reads = [c.plate for c in crossings if c.plate is not None]
        if len(reads) == 1:
            out.append((reads[0].confidence, reads[0].text == item.texts[0], item.rel))
        print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def half(rel: str) -> int:
    return hashlib.sha256(rel.encode()).digest()[0] % 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_FILE)
    ap.add_argument("--json", type=Path, default=None, help="Pairs and figures as JSON.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not CROPS.is_file():
        sys.exit(f"real plate crops not found: {CROPS} (set LANECAP_SHARED_DATA)")
    items = [i for i in load_manifest(CROPS) if split_of(i.rel) == "val" and i.texts]
    items = items[: args.vehicles]
    pairs = lane_pairs(items, args.seed)
    figures = {}
    for k in (0, 1):
        train = [(c, ok) for c, ok, rel in pairs if half(rel) == k]
        test = [(c, ok) for c, ok, rel in pairs if half(rel) != k]
        cal = fit(train)
        figures[f"fit_on_half_{k}"] = {
            "n_fit": len(train),
            "n_test": len(test),
            "ece_raw": expected_calibration_error(test),
            "ece_calibrated": expected_calibration_error([(cal.apply(c), ok) for c, ok in test]),
        }
    shipped = fit([(c, ok) for c, ok, _ in pairs], fitted_on=f"lane simulation, {len(pairs)}")
    shipped = Calibration(
        scores=shipped.scores,
        exact=shipped.exact,
        fitted_on=f"bench/calibrate_plate_confidence.py: {len(pairs)} crossings of "
        "openalpr-us-crops validation plates on a simulated lane",
        n=len(pairs),
    )
    shipped.save(args.out)
    exact = sum(ok for _, ok, _ in pairs) / max(len(pairs), 1)
    print(f"{len(pairs)} crossings, {exact:.3f} exact; held-out halves:")
    for name, f in figures.items():
        print(
            f"  {name}: ECE raw {f['ece_raw']:.3f} -> calibrated {f['ece_calibrated']:.3f}"
            f" ({f['n_test']} crossings)"
        )
    print(f"wrote {args.out}: {len(shipped.scores)} steps")
    for x, y in zip(shipped.scores, shipped.exact, strict=True):
        print(f"  raw {x:.3f} -> {y:.3f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "pairs": pairs,
                    "figures": figures,
                    "reliability_raw": [b.__dict__ for b in reliability([p[:2] for p in pairs])],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
