"""Evaluate a plate detector (and optionally a reader) on a plates manifest.

Metrics, overall and per top-level folder of the manifest's files:

* `det_recall`: labelled plates matched by a detection at IoU >= 0.5;
* `det_precision`: matched detections / counted detections (see precision rules);
* `map50`: area under the all-point interpolated precision/recall curve at IoU 0.5
  over all detections the detector returned;
* `read_exact`: plates whose text the reader got exactly right, over all plates
  with a known text (a plate the detector missed counts as wrong); for images
  without boxes (plate crops) the whole image is read; None without a reader or texts;
* `ms_p50`, `ms_p95`: detector time per image (decoding the file excluded).

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
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import cv2
import numpy as np

from recognition.plates.manifest import LabelledImage, load_manifest
from recognition.types import Box, Image, PlateDetection, PlateDetector, PlateReader

log = logging.getLogger(__name__)

PrecisionRule = Literal["strict", "single-label-lenient"]
PRECISION_RULES: tuple[PrecisionRule, ...] = get_args(PrecisionRule)
IOU_MATCH = 0.5


@dataclass
class ImageResult:
    """Per-image outcome: (score, is_true_positive) of each counted detection."""

    group: str
    n_labels: int
    scored: list[tuple[float, bool]] = field(default_factory=list)
    matched_at_threshold: int = 0
    counted_at_threshold: int = 0
    texts_total: int = 0
    texts_exact: int = 0
    ms: float = 0.0
    detection_counted: bool = True


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


def summarise(results: list[ImageResult]) -> dict[str, Any]:
    """Metrics over a list of per-image results (the keys of the JSON report)."""
    det = [r for r in results if r.detection_counted]
    n_labels = sum(r.n_labels for r in det)
    matched = sum(r.matched_at_threshold for r in det)
    counted = sum(r.counted_at_threshold for r in det)
    scored = [s for r in det for s in r.scored]
    ap = average_precision(scored, n_labels)
    texts = sum(r.texts_total for r in results)
    exact = sum(r.texts_exact for r in results)
    ms = [r.ms for r in det]
    return {
        "n_images": len(results),
        "det_precision": round(matched / counted, 4) if counted else (None if not det else 1.0),
        "det_recall": round(matched / n_labels, 4) if n_labels else None,
        "map50": round(ap, 4) if ap is not None else None,
        "read_exact": None if texts == 0 else round(exact / texts, 4),
        "ms_p50": _pct(ms, 50),
        "ms_p95": _pct(ms, 95),
    }


def evaluate_image(
    item: LabelledImage,
    image: Image,
    *,
    detector: PlateDetector,
    reader: PlateReader | None,
    score_threshold: float,
    rule: PrecisionRule,
) -> ImageResult:
    res = ImageResult(
        group=item.group, n_labels=len(item.boxes), detection_counted=item.boxes_known
    )
    if not item.boxes_known:  # plate crops: reading only
        if reader is not None and item.texts:
            read = reader.read(image)
            res.texts_total = 1
            res.texts_exact = int(read is not None and read.text == item.texts[0])
        return res
    t0 = time.perf_counter()
    detections = detector.detect(image)
    res.ms = (time.perf_counter() - t0) * 1000.0
    lenient = rule == "single-label-lenient" and len(item.boxes) == 1
    matched_by_label: dict[int, PlateDetection] = {}
    for det, label in match_detections(detections, item.boxes):
        if label is None and lenient:
            continue
        res.scored.append((det.score, label is not None))
        if det.score >= score_threshold:
            res.counted_at_threshold += 1
            if label is not None:
                res.matched_at_threshold += 1
                matched_by_label[label] = det
    if reader is not None:
        for i, text in enumerate(item.texts):
            if not text:
                continue
            res.texts_total += 1
            found = matched_by_label.get(i)
            if found is None:
                continue
            crop = found.box.crop(image, pad=0.05)
            read = reader.read(crop) if crop.size else None
            res.texts_exact += int(read is not None and read.text == text)
    return res


def evaluate_plates(
    manifest_path: Path,
    *,
    detector: PlateDetector,
    reader: PlateReader | None = None,
    score_threshold: float = 0.0,
    rule: PrecisionRule = "strict",
    warmup: int = 2,
) -> dict[str, Any]:
    """Run the detector (and reader) over a manifest; returns the JSON report dict.

    Precision/recall count detections scoring >= `score_threshold`; mAP50 uses
    all detections the detector returned.
    """
    items = load_manifest(manifest_path)
    results: list[ImageResult] = []
    warmed = 0
    for item in items:
        raw = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if raw is None:
            log.warning("cannot read %s; skipped", item.path)
            continue
        image: Image = np.asarray(raw, dtype=np.uint8)
        if warmed < warmup and item.boxes_known:  # first calls allocate; keep them out of timings
            detector.detect(image)
            warmed += 1
        results.append(
            evaluate_image(
                item,
                image,
                detector=detector,
                reader=reader,
                score_threshold=score_threshold,
                rule=rule,
            )
        )
    report = summarise(results)
    report["per_group"] = {
        g: summarise([r for r in results if r.group == g])
        for g in sorted({r.group for r in results})
    }
    log.info(
        "%s: precision rule %s, IoU %.2f, score >= %.2f: %s",
        manifest_path, rule, IOU_MATCH, score_threshold,
        {k: v for k, v in report.items() if k != "per_group"},
    )  # fmt: skip
    return report
