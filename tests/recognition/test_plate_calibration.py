"""Plate confidence calibration (isotonic steps, ECE) and what `eval plates` adds: recall at
IoU 0.7, the misread list, the reliability report and the PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.plates.calibrate import (
    DEFAULT_FILE,
    Calibration,
    expected_calibration_error,
    fit,
    reliability,
)
from recognition.plates.evaluate import evaluate_plates
from recognition.types import Box, Image, PlateDetection, PlateRead


def _overconfident(n: int, seed: int) -> list[tuple[float, bool]]:
    """Scores near 0.9-1.0 whose true exactness rises from 0.3 to 0.95 with the score."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.9, 1.0, n)
    chance = 0.3 + (scores - 0.9) * 6.5
    return [(float(s), bool(rng.random() < c)) for s, c in zip(scores, chance, strict=True)]


def test_fit_is_monotone_and_lowers_the_ece_on_held_out_reads() -> None:
    train, test = _overconfident(400, 1), _overconfident(400, 2)
    cal = fit(train)
    assert list(cal.exact) == sorted(cal.exact) and len(cal.scores) >= 3
    before = expected_calibration_error(test)
    after = expected_calibration_error([(cal.apply(c), ok) for c, ok in test])
    assert before > 0.2 and after < 0.08, (before, after)
    assert cal.apply(0.0) == cal.exact[0] and cal.apply(1.0) == cal.exact[-1]


def test_calibration_round_trips_and_identity_keeps_scores(tmp_path: Path) -> None:
    cal = fit(_overconfident(100, 3), fitted_on="test")
    cal.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again == cal
    assert Calibration.identity().apply(0.37) == 0.37
    with pytest.raises(ValueError):
        fit([])


def test_reliability_bins_count_every_read() -> None:
    pairs = [(0.05, False), (0.55, True), (0.56, False), (1.0, True)]
    bins = reliability(pairs)
    assert sum(b.n for b in bins) == 4
    assert bins[5].n == 2 and bins[5].accuracy == 0.5 and bins[9].n == 1
    assert expected_calibration_error([(1.0, True), (0.0, False)]) == 0.0


def test_shipped_calibration_loads_and_is_monotone() -> None:
    if not DEFAULT_FILE.is_file():
        pytest.skip(f"no shipped calibration at {DEFAULT_FILE}")
    cal = Calibration.load(DEFAULT_FILE)
    assert list(cal.exact) == sorted(cal.exact) and cal.n > 0
    assert all(0.0 <= y <= 1.0 for y in cal.exact)


class _Detector:
    def __init__(self, box: Box) -> None:
        self.box = box

    def detect(self, image: Image) -> list[PlateDetection]:
        return [PlateDetection(self.box, 0.9)]


class _Reader:
    def __init__(self, text: str, conf: float) -> None:
        self.text, self.conf = text, conf

    def read(self, crop: Image) -> PlateRead | None:
        return PlateRead(self.text, self.conf)


def test_eval_reports_tight_recall_errors_and_calibration(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((100, 200, 3), np.uint8))
    m = tmp_path / "m.csv"
    # the detection (10,10)-(50,30) overlaps a's box fully and b's at IoU 0.6
    m.write_text("file,plate_text,x,y,w,h\na.jpg,AB123,10,10,40,20\nb.jpg,AB124,10,10,40,30\n")
    det = _Detector(Box(10, 10, 50, 30))
    cal = Calibration(scores=(0.5, 1.0), exact=(0.2, 0.6), fitted_on="t", n=10)
    r = evaluate_plates(m, detector=det, reader=_Reader("AB123", 0.75), calibration=cal)
    assert r["det_recall"] == 1.0 and r["det_recall_iou70"] == 0.5
    assert r["read_exact"] == 0.5
    assert [(e["file"], e["truth"], e["read"]) for e in r["errors"]] == [
        ("b.jpg", "AB124", "AB123")
    ]
    assert r["errors"][0]["confidence"] == pytest.approx(0.4)  # calibrated, not raw 0.75
    assert r["calibration"]["n"] == 2 and r["calibrated_with"] == "t"
    assert sorted(ok for _, ok in r["read_confidences"]) == [0, 1]


def test_eval_cli_writes_the_plots(tmp_path: Path) -> None:
    from recognition.plates.plots import write_plots

    report = {
        "map50": 0.5,
        "pr_curve": [[0.9, 1.0, 0.5], [0.5, 0.5, 0.5]],
        "calibration": {
            "n": 2,
            "ece": 0.1,
            "bins": [b.__dict__ for b in reliability([(0.55, True), (0.95, True)])],
        },
    }
    out = tmp_path / "r.json"
    out.write_text(json.dumps(report))
    written = write_plots(report, out)
    assert [p.name for p in written] == ["r_pr.png", "r_reliability.png"]
    assert all(cv2.imread(str(p)) is not None for p in written)
