"""Synthetic plates, scenes and the YOLO dataset writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognition.synth import PLATE_STYLES, SceneConfig, SceneGenerator, render_plate
from recognition.synth.dataset import DatasetSpec, write_dataset, yolo_lines
from recognition.synth.negatives import NEGATIVE_KINDS, render_negative
from recognition.types import Box


@pytest.mark.parametrize("style", PLATE_STYLES)
def test_each_style_renders_text_inside_plate(style: str) -> None:
    plate = render_plate(np.random.default_rng(3), style)  # type: ignore[arg-type]
    h, w = plate.image.shape[:2]
    assert plate.image.dtype == np.uint8 and plate.alpha.shape == (h, w)
    assert plate.text.isalnum() and plate.text.upper() == plate.text
    assert 4 <= len(plate.text) <= 10
    x1, y1 = plate.corners.min(axis=0)
    x2, y2 = plate.corners.max(axis=0)
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    inside = plate.image[int(y1) : int(y2), int(x1) : int(x2)]
    assert inside.std() > 10  # characters were drawn


def test_plate_rendering_is_deterministic() -> None:
    a = render_plate(np.random.default_rng(7))
    b = render_plate(np.random.default_rng(7))
    assert a.text == b.text and np.array_equal(a.image, b.image)


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_negatives_render(kind: str) -> None:
    img, alpha = render_negative(np.random.default_rng(1), 60, kind)  # type: ignore[arg-type]
    assert img.shape[:2] == alpha.shape and img.shape[1] == 60


def test_scenes_have_boxes_inside_and_are_reproducible() -> None:
    gen = SceneGenerator(config=SceneConfig(width=256, height=192))
    n_boxes = 0
    for i in range(12):
        scene = gen.generate(np.random.default_rng([5, i]))
        assert scene.image.shape == (192, 256, 3)
        assert len(scene.boxes) == len(scene.texts)
        for b in scene.boxes:
            assert 0 <= b.x1 < b.x2 <= 256 and 0 <= b.y1 < b.y2 <= 192
        n_boxes += len(scene.boxes)
    assert n_boxes >= 6
    again = gen.generate(np.random.default_rng([5, 0]))
    assert np.array_equal(again.image, gen.generate(np.random.default_rng([5, 0])).image)


def test_plate_widths_follow_config() -> None:
    cfg = SceneConfig(
        width=320, height=320, min_plate_width=40, max_plate_width=60, empty_share=0.0
    )
    gen = SceneGenerator(config=cfg)
    widths = [b.width for i in range(10) for b in gen.generate(np.random.default_rng(i)).boxes]
    inner = [w for w in widths if w > 30]  # plates cut by the border are narrower
    assert inner and max(inner) < 60 * 1.6


def test_yolo_lines() -> None:
    assert yolo_lines([Box(10, 20, 30, 60)], 100, 200) == "0 0.200000 0.200000 0.200000 0.200000\n"
    assert yolo_lines([], 100, 100) == ""


def test_write_dataset(tmp_path: Path) -> None:
    spec = DatasetSpec(synthetic_train=6, synthetic_val=2, tile=128, seed=1)
    summary = write_dataset(tmp_path / "ds", spec)
    assert summary.images == {"train": 6, "val": 2}
    assert len(list((tmp_path / "ds/images/train").glob("*.jpg"))) == 6
    labels = list((tmp_path / "ds/labels/train").glob("*.txt"))
    assert len(labels) == 6
    for lab in labels:
        for line in lab.read_text().splitlines():
            cls, *vals = line.split()
            assert cls == "0" and all(0.0 <= float(v) <= 1.0 for v in vals)
    assert "names:" in summary.data_yaml.read_text()
