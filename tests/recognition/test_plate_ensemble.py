"""Paired plate detectors: the finder decides where plates are, the framer frames them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanecap import components
from lanecap.config import Settings
from recognition.plates.ensemble import FinderUnion, PairedPlateDetector, reframe, union
from recognition.types import Box, Image, PlateDetection


def det(x1: float, y1: float, x2: float, y2: float, score: float) -> PlateDetection:
    return PlateDetection(Box(x1, y1, x2, y2), score)


FRAMED = [det(100, 100, 200, 140, 0.3), det(400, 300, 480, 330, 0.9)]
FOUND = [det(102, 98, 204, 141, 0.8), det(600, 50, 680, 80, 0.6), det(103, 99, 201, 139, 0.5)]


def test_reframe_keeps_the_finders_plates_in_the_framers_boxes() -> None:
    out = reframe(FOUND, FRAMED)
    # the plate both found: the framer's box with the finder's score, once although the
    # finder had two boxes on it; the plate only the finder found: its own box; the
    # plate only the framer found: dropped.
    assert out == [det(100, 100, 200, 140, 0.8), det(600, 50, 680, 80, 0.6)]


def test_two_finders_give_the_plates_of_both_once_highest_score_first() -> None:
    class Fixed:
        def __init__(self, dets: list[PlateDetection]) -> None:
            self.dets = dets

        def detect(self, image: object) -> list[PlateDetection]:
            return list(self.dets)

    got = FinderUnion(Fixed(FRAMED), Fixed(FOUND)).detect(np.zeros((8, 8, 3), np.uint8))
    assert got == [
        det(400, 300, 480, 330, 0.9),
        det(100, 100, 200, 140, 0.8),
        det(600, 50, 680, 80, 0.6),
    ]


def test_union_keeps_the_framers_plates_and_adds_what_only_the_finder_found() -> None:
    out = union(FRAMED, FOUND)
    assert out == [
        det(400, 300, 480, 330, 0.9),
        det(100, 100, 200, 140, 0.8),
        det(600, 50, 680, 80, 0.6),
    ]


def test_nothing_found_means_nothing_detected() -> None:
    assert reframe([], FRAMED) == []
    assert union([], []) == []


class Fixed:
    def __init__(self, out: list[PlateDetection]) -> None:
        self.out = out

    def detect(self, image: Image) -> list[PlateDetection]:
        return list(self.out)


def test_paired_detector_runs_both_and_refuses_an_unknown_rule() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    assert PairedPlateDetector(Fixed(FRAMED), Fixed(FOUND)).detect(img) == reframe(FOUND, FRAMED)
    pair = PairedPlateDetector(Fixed(FRAMED), Fixed(FOUND), how="union")
    assert pair.detect(img) == union(FRAMED, FOUND)
    with pytest.raises(ValueError, match="how"):
        PairedPlateDetector(Fixed(FRAMED), Fixed(FOUND), how="both")  # type: ignore[arg-type]


def test_lane_components_pair_the_shipped_models_by_default(tmp_path: Path) -> None:
    settings = Settings.model_validate({"data_dir": str(tmp_path)})
    assert settings.recognition.plate_detector == "paired"
    paired = components.plate_detector(settings)
    assert isinstance(paired, PairedPlateDetector)
    assert isinstance(paired.finder, FinderUnion)
    assert paired.finder.first.model_path.name == "plate_yolo_finder.onnx"  # type: ignore[attr-defined]
    assert paired.finder.second.model_path.name == "plate_yolo_closeup.onnx"  # type: ignore[attr-defined]
    assert paired.framer.model_path.name == "plate_yolo.onnx"  # type: ignore[attr-defined]
    single = Settings.model_validate(
        {"data_dir": str(tmp_path), "recognition": {"plate_detector": "yolo"}}
    )
    assert not isinstance(components.plate_detector(single), PairedPlateDetector)


DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "plates" / "openalpr-us-dev"


def test_on_real_photos_the_pair_frames_its_plates_with_the_shipped_boxes() -> None:
    if not (DEV / "manifest.csv").is_file():
        pytest.skip(f"openalpr-us-dev absent: {DEV}")
    import cv2

    from recognition.plates.detector import FINDER_PATH, YoloPlateDetector
    from recognition.plates.manifest import load_manifest

    framer = YoloPlateDetector(threads=2, conf=0.01)
    finder = YoloPlateDetector(FINDER_PATH, threads=2, conf=0.4)
    pair = PairedPlateDetector(framer, finder)
    hits = 0
    for item in load_manifest(DEV / "manifest.csv")[:30]:
        img = np.asarray(cv2.imread(str(item.path), cv2.IMREAD_COLOR), np.uint8)
        got = pair.detect(img)
        framed = {d.box for d in framer.detect(img)}
        found = finder.detect(img)
        assert len(got) <= len(found)
        assert all(d.box in framed or any(d.box == f.box for f in found) for d in got)
        hits += any(d.box.iou(item.boxes[0]) >= 0.5 for d in got)
    assert hits >= 24  # the labelled plate is found in most photos (0.955 on all 111)
