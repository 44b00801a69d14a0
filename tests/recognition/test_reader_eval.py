"""Reader-only evaluation: exact match, CER, per-folder groups, splits, timing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.plates.read_eval import edit_distance, evaluate_reader
from recognition.types import Image, PlateRead


class TableReader:
    """Reads a crop by its mean grey level, from a table (a fake PlateReader)."""

    def __init__(self, table: dict[int, str | None]) -> None:
        self.table = table

    def read(self, crop: Image) -> PlateRead | None:
        text = self.table.get(round(float(crop.mean())))
        return PlateRead(text, 0.9) if text else None


def _write(path: Path, level: int, size: tuple[int, int] = (40, 100)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), level, np.uint8))


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("", "", 0), ("ABC", "ABC", 0), ("ABC", "", 3), ("ABC", "ABD", 1), ("AB", "ABC", 1),
     ("KITTEN", "SITTING", 3)],
)  # fmt: skip
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_crop_manifest_groups_and_metrics(tmp_path: Path) -> None:
    _write(tmp_path / "ca" / "a.png", 10)
    _write(tmp_path / "ca" / "b.png", 20)
    _write(tmp_path / "ny" / "c.png", 30)
    (tmp_path / "m.csv").write_text(
        "file,plate_text,x,y,w,h\nca/a.png,ABC123,,,,\nca/b.png,XYZ9,,,,\nny/c.png,Q1,,,,\n"
    )
    reader = TableReader({10: "ABC123", 20: "XYZ8", 30: None})
    report = evaluate_reader(tmp_path / "m.csv", reader=reader)
    o = report["overall"]
    assert o["n"] == 3 and o["exact"] == pytest.approx(1 / 3)
    assert o["cer"] == pytest.approx((0 + 1 + 2) / (6 + 4 + 2))
    assert o["no_read"] == 1 and o["ms_p50"] >= 0.0
    assert report["groups"]["ca"]["exact"] == pytest.approx(0.5)
    assert report["groups"]["ny"]["exact"] == 0.0
    assert ("ca/b.png", "XYZ9", "XYZ8") in report["errors"]


def test_boxes_are_cut_out_and_limit_applies(tmp_path: Path) -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[10:30, 10:60] = 50
    img[50:80, 100:180] = 70
    cv2.imwrite(str(tmp_path / "f.png"), img)
    (tmp_path / "m.csv").write_text(
        "file,plate_text,x,y,w,h\nf.png,AAA1,10,10,50,20\nf.png,BBB2,100,50,80,30\nf.png,,0,0,5,5\n"
    )
    reader = TableReader({50: "AAA1", 70: "BBB2"})
    report = evaluate_reader(tmp_path / "m.csv", reader=reader)
    assert report["overall"]["n"] == 2 and report["overall"]["exact"] == 1.0
    assert evaluate_reader(tmp_path / "m.csv", reader=reader, limit=1)["overall"]["n"] == 1


def test_split_filter(tmp_path: Path) -> None:
    lines = ["file,plate_text,x,y,w,h"]
    for i in range(40):
        _write(tmp_path / f"s{i * 100}.png", 10)
        lines.append(f"s{i * 100}.png,A{i},,,,")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    reader = TableReader({})
    n = {s: evaluate_reader(tmp_path / "m.csv", reader=reader, split=s)["overall"]["n"]
         for s in ("all", "train", "val")}  # fmt: skip
    assert n["all"] == 40 and n["train"] + n["val"] == 40 and 0 < n["val"] < 40
