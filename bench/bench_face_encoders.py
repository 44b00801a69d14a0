"""Face encoders side by side on lane-like faces: dlib ResNet, SFace, and a fused score.

    nice -n 10 .venv/bin/python -m bench.bench_face_encoders [--json out.json]

Faces: every portrait of the sources (``bench.bench_face_sources``: deepface,
face-recognition-examples, Extended Yale B when fetched) is rendered by
``lanesim.render_face_set`` into 640x480 windshield frames, one per size range
(36-60 and 60-110 px), seed 0. YuNet (the lane default) detects; only frames where it
found the true face are scored, and *the same detection* feeds every encoder, so the
rows differ by the encoder alone:

- ``dlib``: dlib's ResNet on dlib's five points (today's path; CLAHE frame for dark faces).
- ``sface``: SFace on YuNet's five points (``alignCrop``), same CLAHE rule.
- ``sface-raw``: SFace, never on the CLAHE frame.
- ``fused``: z-normalised sum of both similarities (``-distance``), each z-scored with the
  mean and spread of the *dev* identities' impostor scores; weight chosen on dev.

Identities are namespaced by source and split by a hash of the name
(``bench_face_detect.split_of``): ``dev`` chooses the fusion weight and the thresholds,
``test`` is what is reported. Two protocols per size bucket (bucket = the probe's true
face width):

- ``lane``: lane face against lane face (what ``lanecap eval faces`` scores). Pairs of two
  frames rendered from the same photo are left out (they share the pixels); genuine =
  same identity, impostor = different; a pair is in a bucket when its smaller face is.
- ``enrol``: a lane face (probe) against the clean portraits (gallery) of every
  identity, the probe's own source photo left out: genuine = same identity, impostor =
  every other identity's portraits; rank-1 = the nearest portrait is the right person.

TAR@FAR at the threshold where that FAR is reached on the test pairs themselves (ROC
point), and ``TAR@dev-t``/``FAR@dev-t``: at the threshold fixed on dev for FAR 1e-3
(what a shipped threshold would do). Encodings are cached in ``--work``; ``--fresh``
recomputes them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.bench_face_detect import split_of
from bench.bench_face_sources import sources
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.enhance import DARK_FACE_BRIGHTNESS, clahe
from recognition.faces.evaluate import read_manifest
from recognition.faces.lanesim import render_face_set
from recognition.faces.sface import SFaceEmbedder
from recognition.faces.sizes import face_matches, read_boxes
from recognition.types import Image

RANGES = ((36.0, 60.0), (60.0, 110.0))
BUCKETS = ("36-60", "60-110")
KINDS = ("dlib", "sface", "sface-raw")
Arr = npt.NDArray[np.float64]


@dataclass
class Faces:
    """Encoded faces of one kind of image (lane frames or clean portraits)."""

    ids: list[str]
    source: list[str]
    bucket: list[str]
    enc: dict[str, Arr]
    ms: dict[str, list[float]]


def encode_all(
    items: list[tuple[Path, str, str, str, Any]],
    enc: FaceRecognitionEncoder,
    sface: SFaceEmbedder,
) -> tuple[Faces, int]:
    """Encode each (path, identity, source, bucket, true box or None) with every kind."""
    out: dict[str, list[npt.NDArray[np.float32]]] = {k: [] for k in KINDS}
    ms: dict[str, list[float]] = {k: [] for k in (*KINDS, "detect")}
    ids, src, buckets = [], [], []
    missed = 0
    for path, identity, source, bucket, truth in items:
        image: Image = np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), np.uint8)
        t0 = time.perf_counter()
        found = enc.analyse(image)
        t1 = time.perf_counter()
        hits = [f for f in found if truth is None or face_matches(f[0].box, truth)]
        if not hits:
            missed += 1
            continue
        obs, report, det = max(hits, key=lambda f: f[0].box.area)
        assert det.points5 is not None
        dark = report.metrics.brightness < DARK_FACE_BRIGHTNESS
        t2 = time.perf_counter()
        raw = sface.embed(image, det.points5)
        t3 = time.perf_counter()
        auto = sface.embed(clahe(image), det.points5) if dark else raw
        out["dlib"].append(obs.encoding)
        out["sface-raw"].append(raw)
        out["sface"].append(auto)
        ms["detect"].append((t1 - t0) * 1000.0 / max(1, len(found)))
        ms["sface"].append((t3 - t2) * 1000.0)
        ids.append(identity)
        src.append(source)
        buckets.append(bucket)
    encs = {k: np.asarray(v, np.float64).reshape(-1, 128) for k, v in out.items()}
    return Faces(ids, src, buckets, encs, ms), missed


def dist(a: Arr, b: Arr) -> Arr:
    d2 = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T
    out: Arr = np.sqrt(np.clip(d2, 0.0, None))
    return out


def scores(kind: str, a: Faces, b: Faces, z: dict[str, tuple[float, float]], w: float) -> Arr:
    """Similarity (higher = more alike) of every a x b pair."""
    if kind != "fused":
        return -dist(a.enc[kind], b.enc[kind])
    zd = (-dist(a.enc["dlib"], b.enc["dlib"]) - z["dlib"][0]) / z["dlib"][1]
    zs = (-dist(a.enc["sface"], b.enc["sface"]) - z["sface"][0]) / z["sface"][1]
    out: Arr = w * zd + (1.0 - w) * zs
    return out


def subset(f: Faces, keep: list[int]) -> Faces:
    return Faces(
        [f.ids[i] for i in keep],
        [f.source[i] for i in keep],
        [f.bucket[i] for i in keep],
        {k: v[keep] for k, v in f.enc.items()},
        f.ms,
    )


def pairs(
    kind: str,
    probes: Faces,
    gallery: Faces | None,
    z: dict[str, tuple[float, float]],
    w: float,
    bucket: str | None,
) -> tuple[Arr, Arr, Arr, list[bool]]:
    """(genuine, impostor scores, the probe x gallery score matrix, rank-1 hits)."""
    rank = {b: i for i, b in enumerate(BUCKETS)}
    if gallery is None:  # lane vs lane, unordered pairs
        s = scores(kind, probes, probes, z, w)
        n = len(probes.ids)
        iu = np.triu_indices(n, k=1)
        ids = np.asarray(probes.ids)
        src = np.asarray(probes.source)
        bk = np.asarray([rank[b] for b in probes.bucket])
        ok = src[iu[0]] != src[iu[1]]
        if bucket is not None:
            ok &= np.minimum(bk[iu[0]], bk[iu[1]]) == rank[bucket]
        same = ids[iu[0]] == ids[iu[1]]
        vals = s[iu]
        s_r = s.copy()
        np.fill_diagonal(s_r, -np.inf)
        s_r[src[:, None] == src[None, :]] = -np.inf
        hits = []
        for i in range(n):
            if bucket is not None and probes.bucket[i] != bucket:
                continue
            if not np.any((ids == ids[i]) & (src != src[i])):
                continue
            hits.append(bool(ids[int(np.argmax(s_r[i]))] == ids[i]))
        return vals[ok & same], vals[ok & ~same], s, hits
    s = scores(kind, probes, gallery, z, w)
    gid = np.asarray(gallery.ids)
    gsrc = np.asarray(gallery.source)
    gen, imp, hits = [], [], []
    for i in range(len(probes.ids)):
        if bucket is not None and probes.bucket[i] != bucket:
            continue
        row = s[i].copy()
        row[gsrc == probes.source[i]] = -np.inf
        same = gid == probes.ids[i]
        valid = np.isfinite(row)
        if not np.any(same & valid):
            continue
        gen.extend(row[same & valid].tolist())
        imp.extend(row[~same & valid].tolist())
        hits.append(bool(gid[int(np.argmax(row))] == probes.ids[i]))
    return np.asarray(gen), np.asarray(imp), s, hits


def threshold(imp: Arr, far: float) -> float:
    """Smallest similarity accepted with at most floor(far * n) impostors above it."""
    if imp.size == 0:
        return math.inf
    k = math.floor(far * imp.size + 1e-9)
    s = np.sort(imp)[::-1]
    return math.inf if k >= s.size else float(np.nextafter(s[k], np.inf))


def eer(gen: Arr, imp: Arr) -> float | None:
    if not gen.size or not imp.size:
        return None
    ts = np.unique(np.concatenate([gen, imp]))
    far = 1.0 - np.searchsorted(np.sort(imp), ts, side="left") / imp.size
    frr = np.searchsorted(np.sort(gen), ts, side="left") / gen.size
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0)


def figures(gen: Arr, imp: Arr, hits: list[bool], dev_t: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"n_genuine": int(gen.size), "n_impostor": int(imp.size)}
    for far, key in ((1e-3, "tar_far_1e3"), (1e-2, "tar_far_1e2")):
        t = threshold(imp, far)
        out[key] = float(np.mean(gen >= t)) if gen.size and imp.size else None
    out["eer"] = eer(gen, imp)
    out["rank1"] = float(np.mean(hits)) if hits else None
    out["n_probes"] = len(hits)
    if dev_t is not None and gen.size and imp.size:
        out["tar_dev_t"] = float(np.mean(gen >= dev_t))
        out["far_dev_t"] = float(np.mean(imp >= dev_t))
    return out


def znorm(lane: Faces) -> dict[str, tuple[float, float]]:
    out = {}
    for k in ("dlib", "sface"):
        _, imp, _, _ = pairs(k, lane, None, {}, 0.5, None)
        out[k] = (float(np.mean(imp)), float(np.std(imp)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("var/bench/encfaces"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--swap", action="store_true", help="dev and test change roles")
    ap.add_argument("--only", default=None, help="score test identities of this source only")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.work / "encodings.npz"
    if args.fresh or not cache.is_file():
        build_cache(args.work, cache, args.threads)
    data = np.load(cache, allow_pickle=False)
    lane, clean = (
        Faces(
            [str(x) for x in data[f"{p}_ids"]],
            [str(x) for x in data[f"{p}_src"]],
            [str(x) for x in data[f"{p}_bucket"]],
            {k: data[f"{p}_{k}"] for k in KINDS},
            {},
        )
        for p in ("lane", "clean")
    )
    print(str(data["summary"]))
    lane.bucket = ["36-60" if b in ("<30", "30-36", "36-60") else "60-110" for b in lane.bucket]
    results = report(lane, clean, swap=args.swap, only=args.only)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def build_cache(work: Path, cache: Path, threads: int) -> None:
    enc = FaceRecognitionEncoder(detector="yunet", encoder="dlib", threads=threads)
    sface = SFaceEmbedder(threads=threads)
    lane_items: list[tuple[Path, str, str, str, Any]] = []
    clean_items: list[tuple[Path, str, str, str, Any]] = []
    for name, (manifest, locate) in sources(work).items():
        d = work / name
        if not (d / "manifest.csv").is_file():
            render_face_set(manifest, d, seed=0, ranges=RANGES, locate=locate)
        boxes = read_boxes(d / "manifest.csv")
        for p, ident in read_manifest(d / "manifest.csv"):
            bucket = "36-60" if boxes[p].width < 60.0 else "60-110"  # drawn 36-110 px
            lane_items.append((p, f"{name}/{ident}", f"{name}/{p.stem.split('_')[0]}",
                               bucket, boxes[p]))  # fmt: skip
        for n, (p, ident) in enumerate(read_manifest(manifest)):
            clean_items.append((p, f"{name}/{ident}", f"{name}/{n:04d}", "clean", None))
    t0 = time.perf_counter()
    lane, lane_missed = encode_all(lane_items, enc, sface)
    clean, clean_missed = encode_all(clean_items, enc, sface)
    secs = time.perf_counter() - t0
    n_ids = len(set(lane.ids))
    summary = (
        f"lane frames {len(lane_items)} (YuNet missed the true face in {lane_missed}), "
        f"clean portraits {len(clean_items)} ({clean_missed} without a face), "
        f"{n_ids} identities; encoded in {secs:.0f} s; "
        f"ms/face p50: detect+dlib {np.median(lane.ms['detect']):.1f}, "
        f"sface {np.median(lane.ms['sface']):.1f}"
    )
    arrays: dict[str, Any] = {"summary": np.asarray(summary)}
    for key, f in (("lane", lane), ("clean", clean)):
        arrays[f"{key}_ids"] = np.asarray(f.ids)
        arrays[f"{key}_src"] = np.asarray(f.source)
        arrays[f"{key}_bucket"] = np.asarray(f.bucket)
        for k in KINDS:
            arrays[f"{key}_{k}"] = f.enc[k]
    np.savez(cache, **arrays)


def report(
    lane: Faces, clean: Faces, *, swap: bool = False, only: str | None = None
) -> dict[str, Any]:
    def part(x: str) -> str:
        s = split_of(x)
        return {"dev": "test", "test": "dev"}[s] if swap else s

    def keep(x: str, s: str) -> bool:
        return part(x) == s and (s == "dev" or only is None or x.startswith(f"{only}/"))

    split = {s: [i for i, x in enumerate(lane.ids) if keep(x, s)] for s in ("dev", "test")}
    csplit = {s: [i for i, x in enumerate(clean.ids) if part(x) == s] for s in ("dev", "test")}
    dev, test = subset(lane, split["dev"]), subset(lane, split["test"])
    cdev, ctest = subset(clean, csplit["dev"]), subset(clean, csplit["test"])
    for s, f, c in (("dev", dev, cdev), ("test", test, ctest)):
        per = {b: f.bucket.count(b) for b in BUCKETS}
        print(f"{s}: {len(set(f.ids))} identities, lane faces {per}, portraits {len(c.ids)}")
    z = znorm(dev)
    # Fusion weight on dev: best mean TAR@FAR1e-3 over both protocols.
    best_w, best = 0.5, -1.0
    for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        vals = []
        for gal in (None, cdev):
            g, i, _, _ = pairs("fused", dev, gal, z, w, None)
            vals.append(float(np.mean(g >= threshold(i, 1e-3))))
        if np.mean(vals) > best:
            best_w, best = w, float(np.mean(vals))
    print(f"fusion: z-norm on dev impostors {z}; weight on dlib {best_w} (dev TAR {best:.3f})")
    results: dict[str, Any] = {"fusion_weight": best_w, "znorm": z}
    header = (
        f"{'protocol':<7}{'bucket':>8} {'encoder':<10}{'gen':>7}{'imp':>8}{'TAR@1e-3':>10}"
        f"{'TAR@1e-2':>10}{'EER':>8}{'rank-1':>8}{'TAR@dev-t':>11}{'FAR@dev-t':>11}"
    )
    print(header)
    for proto, gal_dev, gal_test in (("lane", None, None), ("enrol", cdev, ctest)):
        for bucket in (*BUCKETS, None):
            for kind in (*KINDS, "fused"):
                g, i, _, _ = pairs(kind, dev, gal_dev, z, best_w, None)
                dev_t = threshold(i, 1e-3)
                g, i, _, hits = pairs(kind, test, gal_test, z, best_w, bucket)
                fig = figures(g, i, hits, dev_t)
                results[f"{proto}/{bucket or 'all'}/{kind}"] = fig
                print(
                    f"{proto:<7}{bucket or 'all':>8} {kind:<10}{fig['n_genuine']:>7}"
                    f"{fig['n_impostor']:>8}{_f(fig['tar_far_1e3']):>10}"
                    f"{_f(fig['tar_far_1e2']):>10}{_f(fig['eer']):>8}{_f(fig['rank1']):>8}"
                    f"{_f(fig.get('tar_dev_t')):>11}{_f(fig.get('far_dev_t'), '.4f'):>11}"
                )
    return results


def _f(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


if __name__ == "__main__":
    main()
