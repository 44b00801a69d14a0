"""Per-vehicle driver capture at 5 fps, and ms per analysed driver frame, beside the
plain face_recognition library.

    nice -n 10 .venv/bin/python -m bench.bench_face_capture [--fps 5] [--library 40]

Vehicles: one per portrait of the sources (``bench.bench_face_sources``: deepface,
face-recognition-examples, and one Extended Yale B photo per person when fetched),
rendered by ``recognition.faces.approach`` (10-30 km/h towards the camera, frames while
the face is 36-110 px, per-vehicle night exposure / IR / visor / pillar, per-frame
glare, blur and noise; seed 0). Both paths see the same frames:

- ``lanecap``: ``FaceRecognitionEncoder(detector="yunet", encoder=--encoder)`` and the
  driver pipeline (seat selection, quality gate, best face over the vehicle's frames).
  A vehicle is captured when a usable driver face is kept; every miss is counted by
  reason, and so is every frame's outcome. ``match`` = the kept face identified as
  the right person against the clean portraits of the identity's other photos
  (vehicles whose identity has none are left out of that rate).
- ``library``: plain face_recognition (HOG upsample 1 and its encodings for every face
  found, no quality gate), same seat selection; captured when a driver face is found
  in any frame (generous: no gate). Run on the first ``--library`` vehicles only (it is
  slow), and our path's figures are printed on that same subset too.

ms per analysed frame: wall time of detection + encoding + selection of one frame,
OpenCV on ``--threads`` threads (dlib runs on one), p50 / p95.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.bench_face_detect import LibraryEncoder
from bench.bench_face_sources import sources
from recognition.faces.approach import (
    Approach,
    CaptureResult,
    draw_vehicle,
    render_approach,
    run_capture,
)
from recognition.faces.driver import SeatLayout
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import read_manifest
from recognition.faces.match import Decision, FaceMatcher, Gallery
from recognition.types import Box, FaceObservation, Image


def portraits(
    work: Path, enc: FaceRecognitionEncoder
) -> list[tuple[Image, Box, str, FaceObservation]]:
    out = []
    for name, (manifest, _) in sources(work).items():
        seen: Counter[str] = Counter()
        for path, ident in read_manifest(manifest):
            if name == "yale" and seen[ident] >= 1:
                continue
            raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if raw is None:
                continue
            img = np.asarray(raw, np.uint8)
            faces = enc.faces(img)
            if not faces:
                continue
            face = max(faces, key=lambda f: f.box.area)
            seen[ident] += 1
            out.append((img, face.box, f"{name}/{ident}", face))
    return out


def summary(name: str, r: CaptureResult) -> dict[str, Any]:
    ms = np.asarray(r.frame_ms)
    d: dict[str, Any] = {
        "vehicles": r.vehicles,
        "frames": r.frames,
        "capture_rate": r.capture_rate,
        "driver_correct": r.driver_correct / r.captured if r.captured else None,
        "miss_reasons": dict(r.miss_reasons),
        "frame_outcomes": dict(r.frame_reasons),
        "ms_p50": float(np.percentile(ms, 50)) if ms.size else None,
        "ms_p95": float(np.percentile(ms, 95)) if ms.size else None,
        "encode_ms_p50": float(np.percentile(r.encode_ms, 50)) if r.encode_ms else None,
        # every frame's analysis plus each kept face's encoding, over the frames
        "ms_per_frame_all_in": (float(ms.sum()) + sum(r.encode_ms)) / r.frames
        if r.frames
        else None,
    }
    print(
        f"{name:<22} vehicles {r.vehicles:>4}  frames {r.frames:>5}  capture "
        f"{_f(d['capture_rate'])}  driver_correct {_f(d['driver_correct'])}  ms/frame p50 "
        f"{_f(d['ms_p50'], '.1f')} p95 {_f(d['ms_p95'], '.1f')}  kept-face encode p50 "
        f"{_f(d['encode_ms_p50'], '.1f')}  all-in ms/frame {_f(d['ms_per_frame_all_in'], '.1f')}\n"
        f"{'':<22} misses {dict(r.miss_reasons)}  frames {dict(r.frame_reasons)}"
    )
    return d


def timing(frames: list[Image], enc: FaceRecognitionEncoder, threads: int) -> None:
    """ms per analysed frame of each path on the same frames, interleaved so that the
    machine's load falls on all of them alike."""
    import time

    sface = FaceRecognitionEncoder(detector="yunet", encoder="sface", threads=threads)
    deferred = FaceRecognitionEncoder(
        detector="yunet", encoder=enc.encoder, threads=threads, defer=True
    )
    lib = LibraryEncoder()
    paths: dict[str, Any] = {
        "yunet detect only": enc.detector.detect,
        "lanecap as the lane runs (deferred)": deferred.faces,
        "lanecap dlib (every face)": enc.faces,
        "lanecap sface (every face)": sface.faces,
        "library (HOG up1 + encodings)": lib.faces,
    }
    ms: dict[str, list[float]] = {k: [] for k in paths}
    faces: list[int] = []
    for f in frames:
        for k, fn in paths.items():
            t0 = time.perf_counter()
            out = fn(f)
            ms[k].append((time.perf_counter() - t0) * 1000.0)
            if k == "lanecap dlib (every face)":
                faces.append(len(out))
    print(f"timing over {len(frames)} frames, {np.mean(faces):.2f} faces a frame found by YuNet")
    for k, v in ms.items():
        print(f"  {k:<32} p50 {np.percentile(v, 50):7.1f}  p95 {np.percentile(v, 95):7.1f} ms")


def _f(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("var/bench/encfaces"))
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--speed", type=float, nargs=2, default=(10.0, 30.0))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder", choices=["dlib", "sface"], default="dlib")
    ap.add_argument("--library", type=int, default=40, help="vehicles run through the library")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--timing",
        type=int,
        default=0,
        help="only time N frames: detection, our path (dlib, sface), the library",
    )
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    enc = FaceRecognitionEncoder(detector="yunet", encoder=args.encoder, threads=args.threads)
    people = portraits(args.work, enc)
    rng = np.random.default_rng(args.seed)
    approaches: list[Approach] = []
    for img, box, ident, _ in people:
        others = [j for j, p in enumerate(people) if p[2] != ident]
        j = int(rng.choice(others))
        v = draw_vehicle(rng, (args.speed[0], args.speed[1]))
        approaches.append(
            render_approach((img, box), (people[j][0], people[j][1]), v, fps=args.fps, rng=rng)
        )
    print(f"{len(approaches)} vehicles at {args.fps} fps, {args.speed[0]}-{args.speed[1]} km/h")
    if args.timing:
        frames = [f for a in approaches for f in a.frames][: args.timing]
        timing(frames, enc, args.threads)
        return
    enc.defer = True  # as the lane runs: only each vehicle's kept face is encoded
    layout = SeatLayout()
    ours = run_capture(approaches, encoder=enc, layout=layout)
    results: dict[str, Any] = {"lanecap": summary(f"lanecap ({args.encoder})", ours)}
    # Identification of the kept face against the other photos' clean portraits.
    matcher = FaceMatcher(encoder=args.encoder)
    matched = false_match = probes = 0
    for k, result, _ in ours.kept:
        if not result.usable or result.face is None:
            continue
        gallery = Gallery(matcher=matcher)
        for j, (_, _, ident, face) in enumerate(people):
            if j != k and face.reject_reason is None:
                gallery.add(ident, face)
        if not any(p[2] == people[k][2] for j, p in enumerate(people) if j != k):
            continue
        probes += 1
        r = gallery.identify(result.face)
        matched += r.decision is Decision.MATCH and r.identity == people[k][2]
        false_match += r.decision is Decision.MATCH and r.identity != people[k][2]
    results["lanecap"]["match_rate"] = matched / probes if probes else None
    results["lanecap"]["false_match_rate"] = false_match / probes if probes else None
    results["lanecap"]["match_probes"] = probes
    print(
        f"{'':<22} match {matched}/{probes} = {_f(matched / probes if probes else None)}, "
        f"false match {false_match} (threshold {matcher.threshold})"
    )
    n = min(args.library, len(approaches))
    if n:
        sub = approaches[:n]
        results["lanecap_subset"] = summary(
            f"lanecap, first {n}", run_capture(sub, encoder=enc, layout=layout)
        )
        results["library_subset"] = summary(
            f"library, first {n}", run_capture(sub, encoder=LibraryEncoder(), layout=layout)
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
