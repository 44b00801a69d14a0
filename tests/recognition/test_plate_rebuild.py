"""Real-data rebuild: converters, photo keys, split, dedup and output, on in-code fixtures."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.plates.convert import (
    Plate,
    RawItem,
    convert,
    image_kind,
    image_size,
    parse_coco,
    parse_crops_csv,
    parse_simanno,
    parse_voc,
    parse_yolo,
    photo_id,
    photo_key,
    text_from_chars,
    text_from_name,
)
from recognition.plates.manifest import load_manifest
from recognition.plates.rebuild import (
    GitTree,
    RebuildError,
    collect,
    open_trees,
    split_for,
    subset_manifest,
    write,
)
from recognition.plates.sources import SOURCES, Source
from recognition.types import Box

MIRRORS = Path(os.environ.get("LANECAP_MIRRORS", "/work/.mirror"))


def _jpeg(w: int = 64, h: int = 48, seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def _png(w: int = 30, h: int = 20) -> bytes:
    ok, buf = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    assert ok
    return bytes(buf.tobytes())


class DictTree:
    """A repository as a dict of path -> bytes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.data = files

    def files(self, folder: str) -> list[str]:
        return sorted(p for p in self.data if p.startswith(folder.rstrip("/") + "/"))

    def read(self, path: str) -> bytes | None:
        return self.data.get(path)


def _src(**kw: object) -> Source:
    base = Source(
        name="t", repo="o/r", commit="0" * 40, paths=("d",), label_format="yolo", group="eu",
        licence="MIT", use="train", images_verified=0, note="",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


VOC = b"""<annotation><filename>car 1.jpg</filename><size><width>64</width><height>48</height></size>
<object><name>license-plate</name><bndbox><xmin>10.5</xmin><ymin>20</ymin><xmax>30.5</xmax><ymax>28</ymax></bndbox></object>
<object><name>car</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>60</xmax><ymax>40</ymax></bndbox></object>
<object><name>license-plate</name><text>ab-123</text><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object>
</annotation>"""


def test_voc_boxes_class_filter_and_degenerate() -> None:
    name, plates = parse_voc(VOC, ("license-plate",))
    assert name == "car 1.jpg"
    assert plates == [Plate(text="", box=Box(10.5, 20, 30.5, 28))]  # zero-width box dropped
    _, every = parse_voc(VOC)
    assert len(every) == 2


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0 0.5 0.5 0.25 0.5", Box(24, 12, 40, 36)),
        ("0 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4", Box(6.4, 4.8, 19.2, 19.2)),  # polygon
        ("0 0.0 0.5 0.5 0.5", Box(0, 12, 16, 36)),  # clipped at the left edge
    ],
)
def test_yolo_lines(line: str, expected: Box) -> None:
    (plate,) = parse_yolo(line, 64, 48)
    assert plate.box is not None
    for a, b in zip(
        (plate.box.x1, plate.box.y1, plate.box.x2, plate.box.y2),
        (expected.x1, expected.y1, expected.x2, expected.y2),
        strict=True,
    ):
        assert a == pytest.approx(b)


def test_yolo_class_filter_and_junk() -> None:
    text = "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.9 0.9\n\nbad\n"
    assert len(parse_yolo(text, 100, 100, ("0",))) == 1
    assert len(parse_yolo(text, 100, 100)) == 2


def test_coco_skips_roboflow_supercategory_and_keeps_negatives() -> None:
    doc = {
        "categories": [
            {"id": 0, "name": "plates", "supercategory": "none"},
            {"id": 1, "name": "plate", "supercategory": "plates"},
        ],
        "images": [
            {"id": 0, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 1, "file_name": "b.jpg", "width": 100, "height": 80},
        ],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "bbox": [10, 20, 30, 8], "text": "AB 12"},
            {"id": 1, "image_id": 0, "category_id": 0, "bbox": [0, 0, 100, 80]},
        ],
    }
    out = parse_coco(json.dumps(doc).encode())
    assert out == {"a.jpg": [Plate(text="AB12", box=Box(10, 20, 40, 28))], "b.jpg": []}
    assert parse_coco(json.dumps(doc).encode(), ("plates",))["a.jpg"][0].box == Box(0, 0, 100, 80)


def test_crops_csv_dedups_rows_and_cleans_text() -> None:
    text = "image_path,plate_text\nimgs/a.png,ab-123\nimgs/a.png,ab-123\nimgs/b.png,XY 9\n"
    assert parse_crops_csv(text) == [("imgs/a.png", "AB123"), ("imgs/b.png", "XY9")]


def test_text_from_chars_reads_left_to_right() -> None:
    classes = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    lines = "21 0.7 0.4 0.1 0.4\n5 0.2 0.6 0.1 0.4\n9 0.3 0.6 0.1 0.4\n99 0.9 0.5 0.1 0.1\n"
    assert text_from_chars(lines, classes) == "59L"


@pytest.mark.parametrize(
    ("path", "pattern", "text"),
    [
        ("img/NY/ABC1234.jpg", r"^[A-Z0-9]{2,8}$", "ABC1234"),
        ("img/NY/2021_01_04_14_16.jpg", r"^[A-Z0-9]{2,8}$", None),
        ("trainlps/0a_jpg.rf.1.jpg#FC3JZF.jpg", None, "FC3JZF"),
    ],
)
def test_text_from_name(path: str, pattern: str | None, text: str | None) -> None:
    assert text_from_name(path, pattern) == text


def test_image_kind_and_size_from_headers() -> None:
    jpg, png = _jpeg(64, 48), _png(30, 20)
    assert image_kind(jpg) == "jpg" and image_size(jpg) == (64, 48)
    assert image_kind(png) == "png" and image_size(png) == (30, 20)
    lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n"
    assert image_kind(lfs) is None and image_size(lfs) is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("x/abc_jpg.rf.0123456789abcdef.jpg", "y/abc_jpg.rf.fedcba9876543210.jpg", True),
        ("ride_001.mp4#t=1054.jpg", "ride_001.mp4#t=1057.jpg", True),
        ("ride_001.mp4#t=1054.jpg", "ride_001.mp4#t=1100.jpg", False),
        ("ride_001.mp4#t=1054.jpg", "ride_002.mp4#t=1054.jpg", False),
        ("001679a19bb6fd3f2_jpg.rf.aaaaaaaa.jpg", "001679a19bb6fd3f5_jpg.rf.aaaaaaaa.jpg", False),
    ],
)
def test_photo_key_groups_copies_and_frames(a: str, b: str, same: bool) -> None:
    assert (photo_key(a) == photo_key(b)) is same


def test_photo_id_strips_only_roboflow_suffix() -> None:
    assert photo_id("d/Abc_JPG.rf.0123456789abcdef.jpg") == "abc"
    assert photo_id("d/abc.png") == "abc"


def test_split_is_deterministic_and_about_80_10_10() -> None:
    splits = [split_for(f"k{i}", "train") for i in range(3000)]
    assert splits == [split_for(f"k{i}", "train") for i in range(3000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.76 < share["train"] < 0.84 and 0.07 < share["val"] < 0.13
    assert {split_for(f"k{i}", "eval-only") for i in range(50)} == {"test"}


def _yolo_repo() -> dict[str, bytes]:
    a, b = _jpeg(seed=1), _jpeg(seed=2)
    return {
        "d/images/p1_jpg.rf.00000000aa.jpg": a,
        "d/labels/p1_jpg.rf.00000000aa.txt": b"0 0.5 0.5 0.25 0.25\n",
        "d/images/p1_jpg.rf.00000000bb.jpg": _jpeg(seed=3),  # augmented copy of p1
        "d/labels/p1_jpg.rf.00000000bb.txt": b"0 0.5 0.5 0.25 0.25\n",
        "d/images/p2.jpg": b,
        "d/labels/p2.txt": b"0 0.2 0.2 0.1 0.1\n0 0.7 0.7 0.1 0.1\n",
        "d/images/same_as_p2.jpg": b,  # exact duplicate bytes
        "d/labels/same_as_p2.txt": b"0 0.2 0.2 0.1 0.1\n",
        "d/images/neg.jpg": _jpeg(seed=4),  # no label: a negative
        "d/images/lfs.jpg": b"version https://git-lfs.github.com/spec/v1\n",
        "d/labels/lfs.txt": b"0 0.5 0.5 0.1 0.1\n",
    }


def test_collect_dedups_bytes_and_roboflow_copies() -> None:
    src = _src(roboflow_keep_one=True)
    kept, stats = collect((src,), {"t": DictTree(_yolo_repo())})
    st = stats["t"]
    assert st.listed == 6 and st.not_image == 1
    assert st.duplicate_bytes == 1 and st.duplicate_photo == 1
    assert sorted(k.item.path for k in kept) == ["d/images/neg.jpg", "d/images/p1_jpg.rf.00000000aa.jpg", "d/images/p2.jpg"]  # fmt: skip
    assert st.no_plates == 1


def test_eval_only_sources_claim_shared_images() -> None:
    repo = _yolo_repo()
    train, held = _src(name="t"), _src(name="e", use="eval-only")
    kept, _ = collect((train, held), {"t": DictTree(repo), "e": DictTree(dict(repo))})
    assert {k.source.name for k in kept} == {"e"}
    assert {k.split for k in kept} == {"test"}


def test_write_manifests_yolo_and_summary(tmp_path: Path) -> None:
    repo = _yolo_repo()
    crops = {
        "c/x.csv": b"image_path,plate_text\nc/i/AB12.png,AB12\n",
        "c/i/AB12.png": _png(),
    }
    train = _src(name="romania-train")  # a real name so the summary finds its table row
    crop_src = _src(name="argentina-crops", label_format="csv", paths=("c/x.csv",), group="br", use="eval-only")  # fmt: skip
    kept, stats = collect(
        (train, crop_src), {"romania-train": DictTree(repo), "argentina-crops": DictTree(crops)}
    )
    summary = write(tmp_path, kept, stats)
    rows = []
    for split in ("train", "val", "test"):
        items = load_manifest(tmp_path / split / "manifest.csv")
        rows.extend(items)
        for it in items:
            assert it.path.is_file() and it.group in ("eu", "br")
            assert it.rel.startswith(f"{it.group}/")
    crop = [r for r in rows if r.group == "br"]
    assert len(crop) == 1 and not crop[0].boxes_known and crop[0].texts == ("AB12",)
    scenes = [r for r in rows if r.group == "eu"]
    assert sum(len(r.boxes) for r in scenes) == 4 and all(r.boxes_known for r in scenes)
    yolo_imgs = sorted((tmp_path / "yolo" / "images").rglob("*.jpg"))
    yolo_labels = sorted((tmp_path / "yolo" / "labels").rglob("*.txt"))
    n_yolo = sum(1 for k in kept if k.source.use == "train" and k.split != "test")
    assert len(yolo_imgs) == len(yolo_labels) == n_yolo
    assert not (tmp_path / "yolo" / "images" / "test").exists()
    on_disk = json.loads((tmp_path / "sources.json").read_text())
    assert on_disk == summary and summary["sources"]["argentina-crops"]["use"] == "eval-only"
    assert summary["per_group"]["br"] == {"train": 0, "val": 0, "test": 1}


def test_subset_manifest_caps_per_group(tmp_path: Path) -> None:
    man = tmp_path / "manifest.csv"
    with man.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "plate_text", "x", "y", "w", "h"])
        for i in range(10):
            w.writerow([f"eu/a/{i}.jpg", "", 1, 1, 5, 5])
            w.writerow([f"eu/a/{i}.jpg", "", 9, 9, 5, 5])  # second plate, same image
            w.writerow([f"eu/b/{i}.jpg", "X1", "", "", "", ""])
        w.writerow(["us/c/0.jpg", "AB1", "", "", "", ""])
    sub = subset_manifest(man, per_group=4, out_name="sub.csv")
    items = load_manifest(sub)
    eu = [i for i in items if i.group == "eu"]
    assert len(eu) == 4 and {Path(i.rel).parts[1] for i in eu} == {"a", "b"}
    assert all(len(i.boxes) == 2 for i in eu if i.rel.startswith("eu/a/"))
    assert [i.rel for i in items if i.group == "us"] == ["us/c/0.jpg"]
    assert sub == tmp_path / "sub.csv"


def test_missing_mirror_names_what_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(RebuildError, match="fetch github:o/r") as err:
        GitTree(tmp_path / "nope", "0" * 40, repo="o/r")
    assert err.value.repo == "o/r"
    assert open_trees((_src(),), tmp_path, allow_missing=True) == {}


def test_convert_dispatches_every_format() -> None:
    voc_repo = {"v/img/car 1.jpg": _jpeg(), "v/xml/car 1.xml": VOC}
    items = list(convert(_src(label_format="voc", paths=("v/img:v/xml",), classes=("license-plate",)), DictTree(voc_repo)))  # fmt: skip
    assert [len(i.plates) for i in items] == [1]
    named = {"n/NY/ABC123.jpg": _jpeg(), "n/NY/2021_01_01.jpg": _jpeg()}
    items = list(convert(_src(label_format="name_text", paths=("n",), text_pattern=r"^[A-Z0-9]{2,8}$"), DictTree(named)))  # fmt: skip
    assert items == [RawItem(path="n/NY/ABC123.jpg", plates=(Plate(text="ABC123", box=None),))]


def _simanno_db(rows: list[tuple[str, str, int, int]]) -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute(
        "CREATE TABLE annotations (filename TEXT, imheight INTEGER, imwidth INTEGER,"
        " isdeleted INTEGER DEFAULT 0, isbackground INTEGER DEFAULT 0, imgareas TEXT)"
    )
    con.executemany(
        "INSERT INTO annotations (filename, imgareas, isdeleted, isbackground) VALUES (?,?,?,?)",
        rows,
    )
    con.commit()
    data = bytes(con.serialize())
    con.close()
    return data


def test_simanno_databases_give_pixel_boxes_and_skip_deleted_rows() -> None:
    area = '[{"id":0,"x":10,"y":20.5,"width":30,"height":12,"lbltxt":"plate"}]'
    db = _simanno_db([
        ("a.jpg", area, 0, 0),
        ("gone.jpg", area, 1, 0),
        ("empty.jpg", "[]", 0, 1),
        ("two.jpg", area[:-1] + ',{"x":1,"y":1,"width":0.2,"height":5}]', 0, 0),
    ])  # fmt: skip
    got = parse_simanno(db)
    assert got == {
        "a.jpg": [Plate(text="", box=Box(10, 20.5, 40, 32.5))],
        "empty.jpg": [],
        "two.jpg": [Plate(text="", box=Box(10, 20.5, 40, 32.5))],  # a box under 1 px is dropped
    }
    repo = {"s/train/a.jpg": _jpeg(), "s/train/empty.jpg": _jpeg(), "s/train.db": db}
    src = _src(label_format="simanno", paths=("s/train:s/train.db",))
    items = list(convert(src, DictTree(repo)))  # images the database lists but the repo lacks: none
    assert [(i.path, len(i.plates)) for i in items] == [
        ("s/train/a.jpg", 1),
        ("s/train/empty.jpg", 0),
    ]


def test_sources_table_is_consistent() -> None:
    names = [s.name for s in SOURCES]
    assert len(names) == len(set(names))
    for s in SOURCES:
        assert len(s.commit) == 40 and s.use in ("train", "eval-only")
        if "none" in s.licence.lower() or "nc" in s.licence.lower().split("-"):
            assert s.use == "eval-only"


@pytest.mark.skipif(
    not all((MIRRORS / s.mirror_name / "repo").is_dir() for s in SOURCES),
    reason="the source mirrors are not fetched here",
)
def test_real_mirrors_match_the_verified_counts() -> None:
    for s in SOURCES:
        tree = GitTree(MIRRORS / s.mirror_name / "repo", s.commit, repo=s.repo)
        try:
            items = list(convert(s, tree))
            real = 0
            for it in items:
                data = it.data if it.data is not None else tree.read(it.path)
                real += data is not None and image_kind(data) is not None
        finally:
            tree.close()
        assert real == s.images_verified, s.name
