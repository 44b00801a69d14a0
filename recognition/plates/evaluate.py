"""Evaluate a plate detector and reader on a plates manifest: one report for both.

Detection, overall and per top-level folder of the manifest's files (`per_group`):

* `det_recall`: labelled plates matched by a detection at IoU >= 0.5;
* `det_precision`: matched detections / counted detections (see precision rules);
* `map50`: area under the all-point interpolated precision/recall curve at IoU 0.5
  over all detections the detector returned;
* `ms_p50`, `ms_p95`: detector time per image (decoding the file excluded);
* `found_precision`, `found_recall`: the same for what the lane keeps, the detections
  at the operating score plus those between `confirm_floor` and it whose read
  `recognition.plates.confirm.confirms` (None without a reader).

Reading, over labelled plates with a known text (None without a reader or texts):

* `read_exact`: end to end (detector, then reader on the detection's crop, over the
  detections the lane keeps: see `found_recall`); a plate the detector missed counts
  as wrong; for images without boxes (plate crops) the
  whole image is read;
* `read_cer`: end-to-end character error rate, Levenshtein edits / label characters
  (a missed plate or a missing read counts as every character wrong);
* `reader_exact`, `reader_cer`, `reader_no_read`: the reader alone on each plate's
  ground-truth box grown by `reader_pad` (the whole image for plate crops);
* `reader_ms_p50`, `reader_ms_p95`: reader time per ground-truth crop.

`groups` breaks the labelled plates down by what any manifest lets us derive (never
by file): `height:small|medium|large` (box height < 32, < 64, >= 64 pixels; the
image height for crops), `shape:wide|square` (width / height < 1.6 is square:
usually a two-row plate), `split:train|val` (the hash split of
`recognition.plates.manifest.split_of`: the shipped reader never trained on `val`)
and `folder:NAME` when the files are in sub-folders. Each
group has `n`, `n_text`, `det_recall`, `read_exact`, `read_cer`, `reader_exact`,
`reader_cer`. Detection keys are None where boxes are unknown (crop manifests).

Precision rules (stated in every result's log line):

* `strict` (default): every detection that matches no labelled plate is a false
  positive, even when it is a real plate the manifest did not label;
* `single-label-lenient`: for sets that label only one plate per image (openalpr),
  in an image with exactly one labelled plate, detections that match nothing are
  not counted at all (neither true nor false). Never use it on exhaustively
  labelled sets: it would hide real false positives there.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import cv2
import numpy as np

from recognition.plates.calibrate import Calibration, expected_calibration_error, reliability
from recognition.plates.confirm import CONFIRM_FLOOR, confirms
from recognition.plates.manifest import LabelledImage, load_manifest, split_of
from recognition.plates.read_eval import edit_distance
from recognition.types import Box, Image, PlateDetection, PlateDetector, PlateRead, PlateReader

log = logging.getLogger(__name__)

PrecisionRule = Literal["strict", "single-label-lenient"]
PRECISION_RULES: tuple[PrecisionRule, ...] = get_args(PrecisionRule)
IOU_MATCH = 0.5
IOU_TIGHT = 0.7
CROP_PAD = 0.05
"""Detection crops are grown by this share on each side, as the lane pipeline does."""
HEIGHT_BUCKETS = ((32.0, "small"), (64.0, "medium"))
"""Plate heights in pixels below each bound; taller plates are `large`."""
SQUARE_ASPECT = 1.6
"""Plates with width / height below this are `square` (usually two rows)."""


@dataclass(frozen=True)
class PlateOutcome:
    """One labelled plate: its groups and what was read ('' for a miss).

    `detected` is None where boxes are unknown; `read` (end to end) and
    `reader_read` (reader on the ground-truth box) are None without a reader or text.
    """

    groups: tuple[str, ...]
    text: str
    detected: bool | None
    read: str | None = None
    reader_read: str | None = None
    reader_none: bool = False
    reader_ms: float | None = None
    read_conf: float | None = None  # the end-to-end read's (calibrated) confidence
    iou: float | None = None  # IoU of the detection that found it (None: missed or no box)
    file: str = ""


@dataclass
class ImageResult:
    """Per-image outcome: (score, is_true_positive) of each counted detection."""

    group: str
    n_labels: int
    scored: list[tuple[float, bool]] = field(default_factory=list)
    matched_at_threshold: int = 0
    counted_at_threshold: int = 0
    found_matched: int = 0
    found_counted: int = 0
    confirming: bool = False
    ms: float = 0.0
    detection_counted: bool = True
    plates: list[PlateOutcome] = field(default_factory=list)


def plate_groups(item: LabelledImage, height: float, width: float) -> tuple[str, ...]:
    """The breakdown groups of a plate `width` x `height` pixels in `item`."""
    size = next((name for bound, name in HEIGHT_BUCKETS if height < bound), "large")
    shape = "square" if height > 0 and width / height < SQUARE_ASPECT else "wide"
    groups = [f"height:{size}", f"shape:{shape}", f"split:{split_of(item.rel)}"]
    if item.group != ".":
        groups.append(f"folder:{item.group}")
    return tuple(groups)


def match_detections(
    detections: Iterable[PlateDetection], labels: tuple[Box, ...], *, iou: float = IOU_MATCH
) -> list[tuple[PlateDetection, int | None]]:
    """Greedy matching, highest score first: each label matches at most one detection."""
    taken: set[int] = set()
    out: list[tuple[PlateDetection, int | None]] = []
    for det in sorted(detections, key=lambda d: -d.score):
        best, best_iou = None, iou
        for i, lab in enumerate(labels):
            if i in taken:
                continue
            v = det.box.iou(lab)
            if v >= best_iou:
                best, best_iou = i, v
        if best is not None:
            taken.add(best)
        out.append((det, best))
    return out


def average_precision(scored: list[tuple[float, bool]], n_labels: int) -> float | None:
    """All-point interpolated AP from (score, is_tp) pairs over `n_labels` positives."""
    if n_labels == 0:
        return None
    if not scored:
        return 0.0
    order = sorted(scored, key=lambda s: -s[0])
    tp = np.cumsum([1.0 if t else 0.0 for _, t in order])
    fp = np.cumsum([0.0 if t else 1.0 for _, t in order])
    recall = tp / n_labels
    precision = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0.0], recall, [recall[-1]]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def _exact(pairs: list[tuple[str, str]]) -> float | None:
    return round(sum(got == text for got, text in pairs) / len(pairs), 4) if pairs else None


def _cer(pairs: list[tuple[str, str]]) -> float | None:
    chars = sum(len(text) for _, text in pairs)
    if not pairs or chars == 0:
        return None
    return round(sum(edit_distance(got, text) for got, text in pairs) / chars, 4)


def reading(plates: list[PlateOutcome]) -> dict[str, Any]:
    """Reading metrics over plates (end to end and reader on ground-truth boxes)."""
    e2e = [(p.read, p.text) for p in plates if p.text and p.read is not None]
    alone = [(p.reader_read, p.text) for p in plates if p.text and p.reader_read is not None]
    ms = [p.reader_ms for p in plates if p.reader_ms is not None]
    return {
        "read_exact": _exact(e2e),
        "read_cer": _cer(e2e),
        "reader_exact": _exact(alone),
        "reader_cer": _cer(alone),
        "reader_no_read": sum(p.reader_none for p in plates) if alone else None,
        "reader_ms_p50": _pct(ms, 50),
        "reader_ms_p95": _pct(ms, 95),
    }


def summarise(results: list[ImageResult]) -> dict[str, Any]:
    """Metrics over a list of per-image results (the keys of the JSON report)."""
    det = [r for r in results if r.detection_counted]
    n_labels = sum(r.n_labels for r in det)
    matched = sum(r.matched_at_threshold for r in det)
    counted = sum(r.counted_at_threshold for r in det)
    scored = [s for r in det for s in r.scored]
    ap = average_precision(scored, n_labels)
    ms = [r.ms for r in det]
    confirming = any(r.confirming for r in det)
    found = sum(r.found_matched for r in det)
    found_counted = sum(r.found_counted for r in det)
    return {
        "n_images": len(results),
        "det_precision": round(matched / counted, 4) if counted else (None if not det else 1.0),
        "det_recall": round(matched / n_labels, 4) if n_labels else None,
        "map50": round(ap, 4) if ap is not None else None,
        "found_precision": round(found / found_counted, 4)
        if confirming and found_counted
        else None,
        "found_recall": round(found / n_labels, 4) if confirming and n_labels else None,
        "det_recall_iou70": _recall_at(results, IOU_TIGHT),
        "ms_p50": _pct(ms, 50),
        "ms_p95": _pct(ms, 95),
        **reading([p for r in results for p in r.plates]),
    }


def _recall_at(results: list[ImageResult], iou: float) -> float | None:
    """Share of labelled plates found at the operating score with a box this tight."""
    boxed = [p for r in results if r.detection_counted for p in r.plates]
    if not boxed:
        return None
    hit = sum(1 for p in boxed if p.detected and p.iou is not None and p.iou >= iou)
    return round(hit / len(boxed), 4)


def read_pairs(results: list[ImageResult]) -> list[tuple[float, bool]]:
    """(confidence, exact) of every end-to-end read made (missed plates have none)."""
    return [
        (p.read_conf, p.read == p.text)
        for r in results
        for p in r.plates
        if p.text and p.read and p.read_conf is not None
    ]


def calibration_report(results: list[ImageResult]) -> dict[str, Any] | None:
    """ECE and reliability bins of the end-to-end reads made (missed plates have none)."""
    pairs = read_pairs(results)
    if not pairs:
        return None
    return {
        "n": len(pairs),
        "ece": expected_calibration_error(pairs),
        "bins": [b.__dict__ for b in reliability(pairs)],
    }


def error_list(results: list[ImageResult]) -> list[dict[str, Any]]:
    """Every labelled plate not read exactly end to end: truth, read, confidence, file."""
    return [
        {
            "file": p.file,
            "truth": p.text,
            "read": p.read,
            "confidence": p.read_conf,
            "detected": p.detected,
            "iou": p.iou,
            "reader_read": p.reader_read,
        }
        for r in results
        for p in r.plates
        if p.text and p.read is not None and p.read != p.text
    ]


def pr_curve(results: list[ImageResult]) -> list[tuple[float, float, float]]:
    """(score, precision, recall) at each detection score, highest first."""
    det = [r for r in results if r.detection_counted]
    n_labels = sum(r.n_labels for r in det)
    scored = sorted((s for r in det for s in r.scored), key=lambda s: -s[0])
    out, tp = [], 0
    for i, (score, ok) in enumerate(scored, 1):
        tp += ok
        out.append((score, tp / i, tp / n_labels if n_labels else 0.0))
    return out


def group_table(results: list[ImageResult]) -> dict[str, dict[str, Any]]:
    """`groups` of the report: per plate group, counts, detection recall and reading."""
    by_group: dict[str, list[PlateOutcome]] = {}
    for plate in (p for r in results for p in r.plates):
        for g in plate.groups:
            by_group.setdefault(g, []).append(plate)
    out: dict[str, dict[str, Any]] = {}
    for g, plates in sorted(by_group.items()):
        boxed = [p.detected for p in plates if p.detected is not None]
        r = reading(plates)
        out[g] = {
            "n": len(plates),
            "n_text": sum(1 for p in plates if p.text),
            "det_recall": round(sum(boxed) / len(boxed), 4) if boxed else None,
            **{k: r[k] for k in ("read_exact", "read_cer", "reader_exact", "reader_cer")},
        }
    return out


def _timed_read(reader: PlateReader, crop: Image) -> tuple[str, bool, float, float | None]:
    """(text or '', whether the reader returned nothing, milliseconds, confidence)."""
    t0 = time.perf_counter()
    read = reader.read(crop) if crop.size else None
    ms = (time.perf_counter() - t0) * 1000.0
    if read is None:
        return "", True, ms, None
    return read.text, False, ms, read.confidence


def evaluate_image(
    item: LabelledImage,
    image: Image,
    *,
    detector: PlateDetector | None,
    reader: PlateReader | None,
    score_threshold: float,
    rule: PrecisionRule,
    reader_pad: float = CROP_PAD,
    confirm_floor: float | None = CONFIRM_FLOOR,
    calibration: Calibration | None = None,
) -> ImageResult:
    cal = calibration or Calibration.identity()
    res = ImageResult(
        group=item.group, n_labels=len(item.boxes), detection_counted=item.boxes_known
    )
    if not item.boxes_known:  # plate crops: the whole image is the plate, reading only
        h, w = image.shape[:2]
        text = item.texts[0] if item.texts else ""
        plate = PlateOutcome(plate_groups(item, h, w), text, None, file=item.rel)
        if reader is not None and text:
            got, none, ms, conf = _timed_read(reader, image)
            plate = PlateOutcome(
                plate.groups,
                text,
                None,
                got,
                got,
                none,
                ms,
                read_conf=None if conf is None else cal.apply(conf),
                file=item.rel,
            )
        res.plates.append(plate)
        return res
    if detector is None:
        raise ValueError(f"{item.rel} has plate boxes: evaluating it needs a detector")
    t0 = time.perf_counter()
    detections = detector.detect(image)
    res.ms = (time.perf_counter() - t0) * 1000.0
    lenient = rule == "single-label-lenient" and len(item.boxes) == 1
    res.confirming = reader is not None and confirm_floor is not None
    kept: dict[int, tuple[PlateDetection, PlateRead | None]] = {}  # label -> detection, read
    for det, label in match_detections(detections, item.boxes):
        if label is None and lenient:
            continue
        res.scored.append((det.score, label is not None))
        read: PlateRead | None = None
        if det.score >= score_threshold:
            res.counted_at_threshold += 1
            res.matched_at_threshold += label is not None
        elif reader is None or confirm_floor is None or det.score < confirm_floor:
            continue
        else:  # an unsure candidate, kept as the lane keeps it: only if read surely
            candidate = reader.read(det.box.crop(image, pad=CROP_PAD))
            if candidate is None or not confirms(candidate):
                continue
            read = candidate
        res.found_counted += 1
        if label is not None:
            res.found_matched += 1
            kept[label] = (det, read)
    for i, (box, text) in enumerate(zip(item.boxes, item.texts, strict=True)):
        found = kept.get(i)
        seen = found is not None and found[0].score >= score_threshold
        iou = None if found is None else round(found[0].box.iou(box), 4)
        groups = plate_groups(item, box.height, box.width)
        plate = PlateOutcome(groups, text, seen, iou=iou, file=item.rel)
        if reader is not None and text:
            e2e, conf = "", None
            if found is not None:
                det, pre = found
                if pre is not None:
                    e2e, conf = pre.text, pre.confidence
                else:
                    e2e, _, _, conf = _timed_read(reader, det.box.crop(image, pad=CROP_PAD))
            got, none, ms, _ = _timed_read(reader, box.crop(image, pad=reader_pad))
            plate = PlateOutcome(
                groups,
                text,
                seen,
                e2e,
                got,
                none,
                ms,
                read_conf=None if conf is None else cal.apply(conf),
                iou=iou,
                file=item.rel,
            )
        res.plates.append(plate)
    return res


def evaluate_plates(
    manifest_path: Path,
    *,
    detector: PlateDetector | None,
    reader: PlateReader | None = None,
    score_threshold: float = 0.0,
    rule: PrecisionRule = "strict",
    warmup: int = 2,
    reader_pad: float = CROP_PAD,
    confirm_floor: float | None = CONFIRM_FLOOR,
    calibration: Calibration | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the detector and reader over a manifest; returns the JSON report dict.

    Precision/recall count detections scoring >= `score_threshold`; mAP50 uses
    all detections the detector returned. `detector` may be None only for a
    manifest without boxes (plate crops).
    """
    from tqdm import tqdm

    items = load_manifest(manifest_path)
    results: list[ImageResult] = []
    warmed = 0
    # a log file (stderr not a terminal) gets a line every 30 s, not one per image
    every = 0.1 if sys.stderr.isatty() else 30.0
    bar = tqdm(items, desc="eval plates", unit="image", disable=not progress, mininterval=every)
    for item in bar:
        raw = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if raw is None:
            log.warning("cannot read %s; skipped", item.path)
            continue
        image: Image = np.asarray(raw, dtype=np.uint8)
        if warmed < warmup:  # first calls allocate; keep them out of timings
            if detector is not None and item.boxes_known:
                detector.detect(image)
            warm = item.boxes[0].crop(image) if item.boxes else image
            if reader is not None and warm.size:
                reader.read(warm)
            warmed += 1
        results.append(
            evaluate_image(
                item,
                image,
                detector=detector,
                reader=reader,
                score_threshold=score_threshold,
                rule=rule,
                reader_pad=reader_pad,
                confirm_floor=confirm_floor,
                calibration=calibration,
            )
        )
    report = summarise(results)
    report["calibration"] = calibration_report(results)
    report["calibrated_with"] = None if calibration is None else calibration.fitted_on
    report["errors"] = error_list(results)
    report["read_confidences"] = [[c, int(ok)] for c, ok in read_pairs(results)]
    curve = pr_curve(results)
    step = max(1, len(curve) // 200)
    report["pr_curve"] = [[round(v, 4) for v in c] for c in curve[::step]]
    report["reader_pad"] = reader_pad
    report["per_group"] = {
        g: summarise([r for r in results if r.group == g])
        for g in sorted({r.group for r in results})
    }
    report["groups"] = group_table(results)
    log.info(
        "%s: precision rule %s, IoU %.2f, score >= %.2f: %s",
        manifest_path, rule, IOU_MATCH, score_threshold,
        {k: v for k, v in report.items() if k not in ("per_group", "groups", "errors", "pr_curve", "read_confidences")},
    )  # fmt: skip
    return report
