"""Teacher labels: a stronger detector's sure plates added where nobody labelled them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.plates.convert import read_yolo_boxes, yolo_lines
from recognition.plates.teacher import add_teacher_boxes, main, new_plates
from recognition.types import Box, Image, PlateDetection

W, H = 320, 240


class WhiteBlobs:
    """A tiny real detector for the drawn fixtures: bright rectangles, score by size."""

    def detect(self, image: Image) -> list[PlateDetection]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        _, mask = cv2.threshold(grey, 200, 255, cv2.THRESH_BINARY)
        found = []
        for c in cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]:
            x, y, w, h = cv2.boundingRect(c)
            found.append(PlateDetection(Box(x, y, x + w, y + h), min(1.0, w / 60)))
        return found


def _photo(plates: list[Box]) -> np.ndarray:
    img = np.random.default_rng(len(plates)).integers(30, 90, (H, W, 3), dtype=np.uint8)
    for b in plates:
        cv2.rectangle(img, (int(b.x1), int(b.y1)), (int(b.x2) - 1, int(b.y2) - 1), (240,) * 3, -1)
    return img


def _folder(root: Path, photos: dict[str, tuple[list[Box], list[Box] | None]]) -> None:
    for name, (drawn, labelled) in photos.items():
        (root / "images" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / "train" / f"{name}.png"), _photo(drawn))
        if labelled is not None:
            (root / "labels" / "train" / f"{name}.txt").write_text(yolo_lines(labelled, W, H))


def test_only_sure_plates_clear_of_the_labelled_ones_are_added() -> None:
    lab = Box(100, 100, 160, 130)
    taught = [
        PlateDetection(Box(102, 101, 158, 129), 0.99),  # the labelled plate again
        PlateDetection(Box(110, 105, 130, 125), 0.9),  # a part of it
        PlateDetection(Box(10, 10, 70, 40), 0.95),  # a new plate
        PlateDetection(Box(12, 11, 69, 41), 0.8),  # the same new plate twice
        PlateDetection(Box(200, 200, 260, 230), 0.3),  # not sure enough
    ]
    assert new_plates([lab], taught) == [Box(10, 10, 70, 40)]
    assert new_plates([lab], taught, min_score=0.2)[-1] == Box(200, 200, 260, 230)


def test_a_folder_gets_the_unlabelled_plates_and_keeps_every_labelled_box(tmp_path: Path) -> None:
    a, b, c = Box(20, 20, 90, 45), Box(200, 150, 270, 175), Box(150, 60, 160, 65)
    _folder(
        tmp_path / "in",
        {
            "src1__one_labelled": ([a, b], [a]),  # b was never labelled
            "src1__faint": ([a], [a, c]),  # c is labelled but too faint to see
            "src2__unlabelled": ([b], None),  # a frame without a label file
        },
    )
    report = add_teacher_boxes(tmp_path / "in", tmp_path / "out", WhiteBlobs())
    assert report == {
        "src1": {
            "images": 2,
            "unlabelled_images": 0,
            "labelled": 3,
            "added": 1,
            "missed_by_teacher": 1,
        },
        "src2": {
            "images": 1,
            "unlabelled_images": 1,
            "labelled": 0,
            "added": 1,
            "missed_by_teacher": 0,
        },
    }
    labels = tmp_path / "out" / "labels" / "train"

    def boxes(name: str) -> list[Box]:
        return read_yolo_boxes(labels / f"{name}.txt", W, H)

    def near(x: Box, y: Box) -> bool:
        return x.iou(y) > 0.9

    one = boxes("src1__one_labelled")
    assert len(one) == 2 and near(one[0], a) and near(one[1], b)
    faint = boxes("src1__faint")
    assert len(faint) == 2 and near(faint[1], c)  # labelled boxes are never dropped
    (only,) = boxes("src2__unlabelled")
    assert near(only, b)
    assert (tmp_path / "out" / "images" / "train" / "src2__unlabelled.png").is_file()


def test_the_cli_says_what_is_wrong_with_a_folder_that_is_not_yolo(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no images/"):
        main(["--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
