"""Refitting loose plate boxes (recognition.plates.tighten) on rendered scenes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recognition.plates.tighten import refit, tighten_folder
from recognition.types import Box, Image, PlateDetection

PLATE = Box(150, 120, 250, 150)


def scene() -> Image:
    img = np.full((300, 400, 3), 40, np.uint8)
    cv2.rectangle(img, (150, 120), (249, 149), (255, 255, 255), -1)
    return img


class BrightBlob:
    """Stands in for the detector: the bounding box of the bright pixels it is shown."""

    def __init__(self, score: float = 0.9) -> None:
        self.score = score
        self.calls = 0

    def detect(self, image: Image) -> list[PlateDetection]:
        self.calls += 1
        pts = cv2.findNonZero((image[..., 0] > 200).astype(np.uint8))
        if pts is None:
            return []
        x, y, w, h = cv2.boundingRect(pts)
        return [PlateDetection(Box(x, y, x + w, y + h), self.score)]


def test_a_loose_box_is_fitted_to_the_plate_inside_it() -> None:
    got = refit(scene(), Box(125, 100, 280, 175), BrightBlob())
    assert got.refitted
    for a, b in zip(
        (got.box.x1, got.box.y1, got.box.x2, got.box.y2),
        (PLATE.x1, PLATE.y1, PLATE.x2, PLATE.y2),
        strict=True,
    ):
        assert abs(a - b) <= 2.0


def test_an_off_centre_box_is_fitted_when_it_overlaps_the_plate() -> None:
    got = refit(scene(), Box(170, 125, 275, 160), BrightBlob())
    assert got.refitted and got.box.iou(PLATE) > 0.9


def test_nothing_found_or_a_weak_find_keeps_the_box_as_drawn() -> None:
    drawn = Box(20, 20, 80, 40)
    assert refit(scene(), drawn, BrightBlob()) == refit(scene(), drawn, BrightBlob(score=0.1))
    assert not refit(scene(), drawn, BrightBlob()).refitted
    assert refit(scene(), drawn, BrightBlob()).box == drawn
    assert not refit(scene(), Box(125, 100, 280, 175), BrightBlob(score=0.1)).refitted


def test_a_far_larger_find_does_not_replace_a_small_box() -> None:
    # the drawn box covers a corner of the plate only: the plate is too big to be its fit
    assert not refit(scene(), Box(150, 120, 175, 130), BrightBlob()).refitted


def _yolo(box: Box, w: int, h: int) -> str:
    return f"0 {(box.x1 + box.x2) / 2 / w} {(box.y1 + box.y2) / 2 / h} {box.width / w} {box.height / h}\n"


def test_folder_refits_only_loose_sources(tmp_path: Path) -> None:
    data, out = tmp_path / "yolo", tmp_path / "out"
    loose = _yolo(Box(125, 100, 280, 175), 400, 300)
    for name in ("openimages-x__a", "romania-train__b"):
        (data / "images" / "train").mkdir(parents=True, exist_ok=True)
        (data / "labels" / "train").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / "images" / "train" / f"{name}.png"), scene())
        (data / "labels" / "train" / f"{name}.txt").write_text(loose)
    det = BrightBlob()
    counts = tighten_folder(data, out, det)
    assert counts["openimages-x"]["refitted"] == 1 and counts["romania-train"]["refitted"] == 0
    assert det.calls == 1
    kept = (out / "labels" / "train" / "romania-train__b.txt").read_text()
    assert kept == loose
    cx, cy, bw, bh = (
        float(v) for v in (out / "labels/train/openimages-x__a.txt").read_text().split()[1:]
    )
    assert abs(bw * 400 - PLATE.width) <= 3 and abs(bh * 300 - PLATE.height) <= 3
    assert abs(cx * 400 - 200) <= 2 and abs(cy * 300 - 135) <= 2
    assert (out / "images" / "train" / "openimages-x__a.png").is_file()
