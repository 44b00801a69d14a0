"""Benchmark: our plate detectors vs OpenCV's Haar plate cascade vs platedet.

Ours: the lane's default `paired` (the plates of two finders, a general one and a close-up
one, in the shipped model's boxes, `recognition.plates.ensemble`), the pair with the general
finder only (the default before session 9), and each model alone; ratios are to `paired`.

Same images, one run, one process, same thread count. Reports recall and
precision at IoU 0.5 (strict rule: every unmatched detection is a false
positive), mAP50, ms/image p50/p95, and each baseline's ratio to ours.

    python bench/bench_detector.py [MANIFEST ...] [--threads 2] [--json OUT]

platedet (PyPI, YOLOv8s-seg ONNX, AGPL) is optional: install it with
`pip install --no-deps platedet`; it is skipped, with the reason printed, when
it cannot be imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recognition.plates.detector import DEFAULT_CONF, FINDER_PATH
from recognition.plates.ensemble import FinderUnion, paired_yolo
from recognition.plates.evaluate import evaluate_plates
from recognition.plates.teacher import PlatedetTeacher
from recognition.types import Box, Image, PlateDetection

DEFAULT_MANIFESTS = (
    Path("/work/shared/data/plates/openalpr-us-dev/manifest.csv"),
    Path("/work/shared/data/plates/romania-detect/manifest.csv"),
)


OURS = "ours_paired"


class HaarPlateDetector:
    """OpenCV's `haarcascade_russian_plate_number.xml`; scores are 1.0 (no ranking)."""

    def __init__(self, *, threads: int = 2) -> None:
        cv2.setNumThreads(threads)
        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        path = cascades / "haarcascade_russian_plate_number.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"cannot load {path}")

    def detect(self, image: Image) -> list[PlateDetection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=4, minSize=(24, 8)
        )
        return [
            PlateDetection(Box(float(x), float(y), float(x + w), float(y + h)), 1.0)
            for x, y, w, h in found
        ]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("manifests", nargs="*", type=Path, default=list(DEFAULT_MANIFESTS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    manifests = [m for m in a.manifests if m.is_file()]
    if not manifests:
        print(f"no manifest found among {[str(m) for m in a.manifests]}; nothing to benchmark")
        return 0
    # every detector returns detections down to a low score so mAP50 is meaningful;
    # precision/recall are counted at each detector's own operating threshold
    paired = paired_yolo(threads=a.threads, conf=0.01, framer_path=a.model)
    one_finder = paired_yolo(
        threads=a.threads, conf=0.01, framer_path=a.model, finder_path=FINDER_PATH
    )
    assert isinstance(paired.finder, FinderUnion)
    detectors: dict[str, tuple[Any, float]] = {
        "ours_paired": (paired, DEFAULT_CONF),  # the lane's default
        "ours_one_finder": (one_finder, DEFAULT_CONF),  # the default before session 9
        "ours_yolo11n": (paired.framer, DEFAULT_CONF),
        "ours_finder": (paired.finder.first, DEFAULT_CONF),
        "ours_closeup": (paired.finder.second, DEFAULT_CONF),
        "opencv_haar": (HaarPlateDetector(threads=a.threads), 0.0),
    }
    try:
        detectors["platedet"] = (PlatedetTeacher(threads=a.threads, conf=0.01), 0.25)
    except Exception as err:
        print(f"platedet skipped: {type(err).__name__}: {err}")
    report: dict[str, Any] = {}
    for manifest in manifests:
        name = manifest.parent.name
        report[name] = {}
        for det_name, (det, threshold) in detectors.items():
            r = evaluate_plates(manifest, detector=det, score_threshold=threshold)
            report[name][det_name] = {
                k: r[k]
                for k in ("n_images", "det_recall", "det_precision", "map50", "ms_p50", "ms_p95")
            }
        ours = report[name][OURS]
        for det_name in detectors:
            if det_name == OURS:
                continue
            other = report[name][det_name]
            other["ratio_to_ours"] = {
                "recall": _ratio(other["det_recall"], ours["det_recall"]),
                "precision": _ratio(other["det_precision"], ours["det_precision"]),
                "ms_p50": _ratio(other["ms_p50"], ours["ms_p50"]),
            }
    print(
        f"threads {a.threads}; IoU 0.5; strict precision (unlabelled visible plates count as false positives)"
    )
    print(
        f"{'set':<20}{'detector':<17}{'recall':>8}{'prec':>8}{'mAP50':>8}{'ms p50':>8}{'ms p95':>8}  ratios vs ours (R, P, ms)"
    )
    for name, per in report.items():
        for det_name, r in per.items():
            ratios = r.get("ratio_to_ours")
            rtxt = (
                ""
                if ratios is None
                else f"  {ratios['recall']}, {ratios['precision']}, {ratios['ms_p50']}"
            )
            cells = "".join(
                f"{'-' if r[k] is None else r[k]:>8}"
                for k in ("det_recall", "det_precision", "map50", "ms_p50", "ms_p95")
            )
            print(f"{name:<20}{det_name:<17}{cells}{rtxt}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
