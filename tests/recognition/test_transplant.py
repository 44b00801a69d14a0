"""Plate transplants: a real photo's plate swapped for a rendered one of another region."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recognition.synth.transplant import swap_folder, transplant
from recognition.types import Box


def _photo() -> tuple[np.ndarray, Box]:
    """A grey 'car' with a white plate carrying dark bars, on a textured background."""
    rng = np.random.default_rng(0)
    img = rng.integers(40, 90, (240, 320, 3), dtype=np.uint8)
    cv2.rectangle(img, (60, 60), (260, 200), (120, 120, 130), -1)
    box = Box(130, 140, 190, 170)
    cv2.rectangle(img, (130, 140), (190, 170), (235, 235, 235), -1)
    for x in range(136, 186, 9):
        cv2.rectangle(img, (x, 146), (x + 4, 164), (20, 20, 20), -1)
    return img, box


def test_a_swapped_plate_takes_the_old_ones_place_and_the_rest_of_the_photo_stays() -> None:
    img, box = _photo()
    before = img.copy()
    for seed in range(6):
        sw = transplant(img, [box], np.random.default_rng(seed))
        assert np.array_equal(img, before)  # the input is not modified
        (new,) = sw.boxes
        assert sw.styles[0] in {"eu", "eu_two_line", "br_old", "br_mercosur"}
        assert new.iou(box) > 0.3, (seed, new)
        assert 0.7 < new.area / box.area < 1.6
        cx, cy = (new.x1 + new.x2) / 2, (new.y1 + new.y2) / 2
        assert abs(cx - 160) < 3 and abs(cy - 155) < 3
        changed = np.abs(sw.image.astype(int) - before.astype(int)).max(axis=2) > 0
        assert changed[int(new.y1) : int(new.y2), int(new.x1) : int(new.x2)].mean() > 0.5
        assert not changed[:100, :100].any() and not changed[:, 280:].any()


def test_plates_too_small_or_at_the_edge_are_kept_as_they_are() -> None:
    img, _ = _photo()
    tiny = Box(20, 20, 28, 26)
    edge = Box(0, 100, 120, 160)  # a plate this size here would leave the photo
    sw = transplant(img, [tiny, edge], np.random.default_rng(1))
    assert sw.boxes == (tiny, edge) and sw.styles == (None, None)
    assert np.array_equal(sw.image, img)


def test_swap_folder_links_originals_and_writes_labelled_transplants(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    img, box = _photo()
    h, w = img.shape[:2]
    for split in ("train", "val"):
        (data / "images" / split).mkdir(parents=True)
        (data / "labels" / split).mkdir(parents=True)
        for name in ("dev-a__1", "other__2"):
            cv2.imwrite(str(data / "images" / split / f"{name}.jpg"), img)
            cx, cy = (box.x1 + box.x2) / 2 / w, (box.y1 + box.y2) / 2 / h
            line = f"0 {cx} {cy} {box.width / w} {box.height / h}\n"
            (data / "labels" / split / f"{name}.txt").write_text(line)
    counts = swap_folder(data, out, {"dev-": 2.0}, keep={"other": 0.0})
    train = sorted(p.name for p in (out / "images" / "train").iterdir())
    assert train == ["dev-a__1.jpg", "swap0__dev-a__1.jpg", "swap1__dev-a__1.jpg"]
    assert len(list((out / "images" / "val").iterdir())) == 4  # val keeps every original
    assert counts["train:swapped"] == 2 and counts["val:swapped"] == 2
    label = (out / "labels" / "train" / "swap0__dev-a__1.txt").read_text().split()
    assert label[0] == "0" and abs(float(label[1]) - 0.5) < 0.02
