"""Driver-face detectors side by side on lane face sets, per face-size bucket.

    .venv/bin/python -m bench.bench_face_detect [--sets DIR ...] [--json out.json]

Sets are rendered by ``recognition.faces.lanesim.render_face_set`` (640x480 windshield
frames, one pasted face each, its true box in the manifest) from the portraits in
../shared/data/faces (rendered into --work when --sets is not given; skipped cleanly when
the data is absent). Identities are split in two by a hash of their name: ``dev`` (score
threshold and input size of YuNet chosen there) and ``test`` (figures reported).

Peers, one process, same frames: ``library`` (plain face_recognition: HOG, upsample 1),
``lanecap-hog`` (``FaceDetector()``: CLAHE auto, HOG upsample 0 with an upsampled retry),
``yunet-*`` (``YuNetFaceDetector``: float / int8bq, CLAHE auto or off, min input side),
``yunet+hog`` (YuNet, then HOG upsample 1 when YuNet finds nothing).

``--eval`` also runs ``lanecap eval faces``' figures (detection, TAR at FAR 1e-3 / 1e-2,
rank-1, per size bucket) for the library, lanecap with HOG and lanecap with YuNet, all
with dlib's encoder, on the chosen split.

A frame counts as detected when some box matches the true face (IoU >= 0.4 or centre
inside, ``sizes.face_matches``); ``primary`` when the largest box does (what
``lanecap eval faces`` encodes); ``fp`` is boxes matching nothing, per frame. ms per frame
wall time with 2 threads (OpenCV; dlib is single-threaded), p50 / p95.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recognition.faces.detect import FaceDetector
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import evaluate_faces_detailed, read_manifest
from recognition.faces.lanesim import render_face_set
from recognition.faces.sizes import SIZE_BUCKETS, face_matches, read_boxes, size_bucket
from recognition.faces.yunet import YuNetFaceDetector, YuNetVariant
from recognition.types import Box, FaceObservation, Image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"
SOURCES = {
    "deepface": DATA / "deepface" / "manifest.csv",
    "fre": DATA / "face-recognition-examples" / "manifest.csv",
}

Detect = Callable[[Image], list[Box]]


def split_of(identity: str) -> str:
    return "dev" if hashlib.sha256(identity.encode()).digest()[0] % 2 == 0 else "test"


def library_peer() -> Detect:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition

    def run(image: Image) -> list[Box]:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        locs = face_recognition.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        return [Box(float(le), float(t), float(r), float(b)) for t, r, b, le in locs]

    return run


class LibraryEncoder:
    """Plain face_recognition as a ``FaceEncoder`` (HOG upsample 1, default encodings)."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition

        self._fr = face_recognition

    def faces(self, image: Image) -> list[FaceObservation]:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        locs = self._fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        encs = self._fr.face_encodings(rgb, locs)
        return [
            FaceObservation(
                Box(float(le), float(t), float(r), float(b)), np.asarray(e, np.float32), 1.0
            )
            for (t, r, b, le), e in zip(locs, encs, strict=True)
        ]


def split_manifest(d: Path, split: str) -> Path:
    """The set's manifest, or a copy holding only the ``split`` identities' rows."""
    src = d / "manifest.csv"
    if split == "all":
        return src
    lines = src.read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines[1:] if split_of(ln.split(",")[1]) == split]
    out = d / f"manifest-{split}.csv"
    out.write_text("\n".join([lines[0], *keep]) + "\n", encoding="utf-8")
    return out


def evaluate_encoders(sets: list[Path], threads: int, split: str) -> dict[str, Any]:
    """``lanecap eval faces`` figures (with per_size) for the library and both lanecap paths."""
    encoders: dict[str, Any] = {
        "library": LibraryEncoder(),
        "lanecap-hog": FaceRecognitionEncoder(detector="dlib"),
        "lanecap-yunet": FaceRecognitionEncoder(detector="yunet", threads=threads),
    }
    out: dict[str, Any] = {}
    for d in sets:
        for name, enc in encoders.items():
            ev = evaluate_faces_detailed(split_manifest(d, split), encoder=enc).as_json()
            out[f"{d.name}/{name}"] = ev
            per = "  ".join(
                f"{b}: det {_f(f['hit_rate'])} tar3 {_f(f['tar_far_1e3'])} ({f['n_genuine']})"
                for b, f in ev["per_size"].items()
            )
            print(
                f"{d.name:>10} {name:<14} detect {_f(ev['detect_rate'])} "
                f"tar3 {_f(ev['tar_far_1e3'])} tar2 {_f(ev['tar_far_1e2'])} "
                f"rank1 {_f(ev['rank1'])} ms/face {_f(ev['ms_p50'], '.1f')} | {per}"
            )
    return out


def _f(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def detector_peer(det: Any) -> Detect:
    def run(image: Image) -> list[Box]:
        return [f.box for f in det.detect(image)]

    return run


def combo_peer(first: Any, second: Detect) -> Detect:
    def run(image: Image) -> list[Box]:
        found = [f.box for f in first.detect(image)]
        return found or second(image)

    return run


def score_frames(
    peer: Detect, rows: list[tuple[Path, str, Box | None]], images: dict[Path, Image]
) -> list[dict[str, Any]]:
    out = []
    for path, identity, truth in rows:
        if truth is None:
            continue
        img = images[path]
        t0 = time.perf_counter()
        boxes = peer(img)
        ms = (time.perf_counter() - t0) * 1000.0
        hits = [face_matches(b, truth) for b in boxes]
        largest = max(range(len(boxes)), key=lambda i: boxes[i].area) if boxes else None
        out.append(
            {
                "bucket": size_bucket(truth.width),
                "split": split_of(identity),
                "detected": any(hits),
                "primary": largest is not None and hits[largest],
                "fp": sum(not h for h in hits),
                "ms": ms,
            }
        )
    return out


def summarise(frames: list[dict[str, Any]]) -> dict[str, Any]:
    def figures(fs: list[dict[str, Any]]) -> dict[str, Any]:
        if not fs:
            return {"n": 0}
        return {
            "n": len(fs),
            "detect": float(np.mean([f["detected"] for f in fs])),
            "primary": float(np.mean([f["primary"] for f in fs])),
            "fp": float(np.mean([f["fp"] for f in fs])),
        }

    ms = [f["ms"] for f in frames]
    out: dict[str, Any] = {
        "all": figures(frames),
        "ms_p50": float(np.percentile(ms, 50)) if ms else None,
        "ms_p95": float(np.percentile(ms, 95)) if ms else None,
    }
    for name, _, _ in SIZE_BUCKETS:
        out[name] = figures([f for f in frames if f["bucket"] == name])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="*", type=Path, default=None, help="rendered set dirs")
    ap.add_argument("--work", type=Path, default=Path("var/bench/lanefaces"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", choices=["dev", "test", "all"], default="all")
    ap.add_argument("--sweep", action="store_true", help="YuNet score/input sweep (dev split)")
    ap.add_argument(
        "--eval", action="store_true", help="also encode: TAR per bucket (eval faces figures)"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sets = args.sets
    if not sets:
        sets = []
        for name, manifest in SOURCES.items():
            if not manifest.is_file():
                print(f"skip {name}: {manifest} absent")
                continue
            d = args.work / name
            if not (d / "manifest.csv").is_file():
                render_face_set(manifest, d, seed=args.seed)
            sets.append(d)
    rows: list[tuple[Path, str, Box | None]] = []
    for d in sets:
        boxes = read_boxes(d / "manifest.csv")
        rows += [(p, i, boxes.get(p)) for p, i in read_manifest(d / "manifest.csv")]
    if args.split != "all":
        rows = [r for r in rows if split_of(r[1]) == args.split]
    images = {p: np.asarray(cv2.imread(str(p), cv2.IMREAD_COLOR), np.uint8) for p, _, _ in rows}
    print(f"{len(rows)} frames from {', '.join(str(s) for s in sets)} (split {args.split})")

    peers: dict[str, Detect] = {}
    if args.sweep:
        grid: tuple[tuple[YuNetVariant, tuple[float, ...]], ...] = (
            ("float", (0.3, 0.4, 0.5, 0.6, 0.7)),
            ("int8bq", (0.5,)),
        )
        for variant, scores in grid:
            for score in scores:
                for retry in (None, 1280):
                    for mode in ("auto", "off"):
                        det = YuNetFaceDetector(
                            variant=variant,
                            score_threshold=score,
                            retry_input=retry,
                            clahe_mode=mode,
                            threads=args.threads,
                        )
                        name = f"yunet-{variant}-s{score}-retry{retry}-{mode}"
                        peers[name] = detector_peer(det)
    else:
        lib = library_peer()
        peers["library"] = lib
        peers["lanecap-hog"] = detector_peer(FaceDetector())
        yf = YuNetFaceDetector(threads=args.threads)
        peers["yunet"] = detector_peer(yf)
        peers["yunet-int8bq"] = detector_peer(
            YuNetFaceDetector(variant="int8bq", threads=args.threads)
        )
        peers["yunet-noretry"] = detector_peer(
            YuNetFaceDetector(retry_input=None, threads=args.threads)
        )
        peers["yunet-retry960"] = detector_peer(
            YuNetFaceDetector(retry_input=960, threads=args.threads)
        )
        peers["yunet+hog"] = combo_peer(yf, lib)
    results = {}
    for name, peer in peers.items():
        results[name] = summarise(score_frames(peer, rows, images))
    buckets = ["all"] + [b for b, _, _ in SIZE_BUCKETS]
    print("peer".ljust(40) + "".join(f"{b:>22}" for b in buckets) + "   ms p50/p95")
    print(" " * 40 + "".join(f"{'det/prim/fp (n)':>22}" for _ in buckets))
    for name, r in results.items():
        cells = []
        for b in buckets:
            f = r[b]
            cells.append(
                f"{f['detect']:.3f}/{f['primary']:.3f}/{f['fp']:.2f} ({f['n']})" if f["n"] else "-"
            )
        print(
            name.ljust(40)
            + "".join(f"{c:>22}" for c in cells)
            + f"   {r['ms_p50']:.1f}/{r['ms_p95']:.1f}"
        )
    if "library" in results:
        base = results["library"]
        for name, r in results.items():
            if name == "library":
                continue
            ratio = " ".join(
                f"{b} {r[b]['detect'] / base[b]['detect']:.2f}x"
                for b in buckets
                if base[b].get("n") and base[b]["detect"]
            )
            print(f"{name} / library detect: {ratio}; ms {r['ms_p50'] / base['ms_p50']:.2f}x")
    if args.eval:
        results["eval"] = evaluate_encoders(sets, args.threads, args.split)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
