"""Label converters: VOC xml, YOLO txt, COCO json, CSV and file names to plates.

Each reads a `Tree` (files of one repository at one commit: a bare git mirror in
`recognition.plates.rebuild`, a dict in the tests) and yields `RawItem`s: a source image
path and its plates, boxes in pixels `Box(x1, y1, x2, y2)` (top-left, bottom-right),
`box=None` for plate crops (the whole image is the plate), `text=""` where unknown.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

from recognition.plates.manifest import FRAME_BUCKET
from recognition.plates.sources import Source
from recognition.types import Box

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
ImageKind = Literal["jpg", "png"]
_ROBOFLOW = re.compile(r"_(?:jpe?g|png)\.rf\.[0-9a-f]{8,}$", re.IGNORECASE)


class Tree(Protocol):
    """Read-only files of one repository at one commit (paths are repository-relative)."""

    def files(self, folder: str) -> list[str]: ...

    def read(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Plate:
    """One labelled plate: text ('' when unknown) and box (None for a crop)."""

    text: str
    box: Box | None


@dataclass(frozen=True)
class RawItem:
    """One source image: its path in the repository and its plates (maybe none)."""

    path: str
    plates: tuple[Plate, ...]
    data: bytes | None = None  # the image bytes when a converter already read them


def yolo_lines(boxes: Iterable[Box], width: int, height: int) -> str:
    """YOLO label lines (class 0, centre and size as fractions of the image) for `boxes`."""
    return "".join(
        f"0 {(b.x1 + b.x2) / 2 / width:.6f} {(b.y1 + b.y2) / 2 / height:.6f} "
        f"{(b.x2 - b.x1) / width:.6f} {(b.y2 - b.y1) / height:.6f}\n"
        for b in boxes
    )


def clean_text(text: str) -> str:
    """Plate text as the manifests hold it: A-Z and 0-9 only."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def image_kind(data: bytes) -> ImageKind | None:
    """'jpg' or 'png' from the leading bytes; None for anything else (LFS pointers...)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header, without decoding; None if unknown."""
    kind = image_kind(data)
    if kind == "png" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if kind != "jpg":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def photo_id(path: str) -> str:
    """The photo an image file is a copy of: its stem, lower case, without a Roboflow
    copy suffix (`x_jpg.rf.<hash>.jpg` -> `x`)."""
    stem = PurePosixPath(path).name
    for ext in IMAGE_EXTS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return _ROBOFLOW.sub("", stem).lower()


def photo_key(path: str) -> str:
    """Near-duplicate key of an image path: same key, same split.

    The `photo_id` with a trailing frame number bucketed by FRAME_BUCKET (as
    `recognition.plates.manifest.split_key` does), so neighbouring video frames such as
    `ride_001.mp4#t=1054` and `#t=1057` share a key. Digits right after a-f are part of
    a hex id (Open Images, Roboflow) and are not bucketed.
    """
    stem = re.sub(r"[^a-z0-9]+", "_", photo_id(path))
    m = re.search(r"(?<![a-f0-9])(\d+)$", stem)
    if m:
        stem = stem[: m.start()] + f"{int(m.group(1)) // FRAME_BUCKET}"
    return stem


def _box(x1: float, y1: float, x2: float, y2: float) -> Box | None:
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return Box(x1, y1, x2, y2)


def parse_voc(xml: bytes, classes: tuple[str, ...] | None = None) -> tuple[str, list[Plate]]:
    """(image file name, plates) of one Pascal VOC annotation; `<text>` is kept if present."""
    root = ET.fromstring(xml)
    filename = (root.findtext("filename") or "").strip()
    plates: list[Plate] = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if classes is not None and name not in classes:
            continue
        bb = obj.find("bndbox")
        if bb is None:
            continue
        coords = [float(bb.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
        box = _box(*coords)
        if box is not None:
            text = clean_text(obj.findtext("text") or obj.findtext("plate") or "")
            plates.append(Plate(text=text, box=box))
    return filename, plates


def read_yolo_boxes(path: Path, width: int, height: int) -> list[Box]:
    """The boxes of a YOLO label file in pixels; none when the file does not exist."""
    text = path.read_text() if path.is_file() else ""
    return [p.box for p in parse_yolo(text, width, height) if p.box is not None]


def parse_yolo(
    text: str, width: int, height: int, classes: tuple[str, ...] | None = None
) -> list[Plate]:
    """Plates of one YOLO label file (`cls cx cy w h` or `cls x1 y1 x2 y2 ...` polygons)."""
    plates: list[Plate] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or (classes is not None and parts[0] not in classes):
            continue
        v = [float(p) for p in parts[1:]]
        if len(v) == 4:
            cx, cy, bw, bh = v
            x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        else:
            xs, ys = v[0::2], v[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        box = _box(
            max(0.0, x1) * width,
            max(0.0, y1) * height,
            min(1.0, x2) * width,
            min(1.0, y2) * height,
        )
        if box is not None:
            plates.append(Plate(text="", box=box))
    return plates


def text_from_chars(text: str, char_classes: tuple[str, ...]) -> str:
    """Plate text from YOLO character boxes: the classes sorted by box centre x."""
    chars: list[tuple[float, str]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        cls = int(parts[0])
        if 0 <= cls < len(char_classes):
            chars.append((float(parts[1]), char_classes[cls]))
    return clean_text("".join(c for _, c in sorted(chars)))


def parse_coco(data: bytes, classes: tuple[str, ...] | None = None) -> dict[str, list[Plate]]:
    """File name -> plates of a COCO json (`bbox` x, y, w, h; Roboflow's supercategory skipped).

    Every image is listed, also those without annotations (negatives). A `text`,
    `plate` or `attributes.text` field of an annotation is kept as the plate text.
    """
    doc: dict[str, Any] = json.loads(data)
    cats = {c["id"]: c for c in doc.get("categories", [])}
    parents = {
        str(c.get("supercategory"))
        for c in cats.values()
        if c.get("supercategory") not in (None, "none") and c.get("supercategory") != c["name"]
    }
    keep = {
        cid
        for cid, c in cats.items()
        if (str(c["name"]) in classes if classes is not None else str(c["name"]) not in parents)
    }
    names = {img["id"]: str(img["file_name"]) for img in doc.get("images", [])}
    out: dict[str, list[Plate]] = {n: [] for n in names.values()}
    for ann in doc.get("annotations", []):
        if ann.get("category_id") not in keep or ann.get("image_id") not in names:
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = _box(x, y, x + w, y + h)
        attrs = ann.get("attributes") or {}
        text = clean_text(str(ann.get("text") or ann.get("plate") or attrs.get("text") or ""))
        if box is not None:
            out[names[ann["image_id"]]].append(Plate(text=text, box=box))
    return out


def parse_simanno(data: bytes) -> dict[str, list[Plate]]:
    """File name -> plates of a simanno SQLite database (table `annotations`: one row per
    image, `imgareas` a JSON list of boxes `x, y, width, height` in pixels). Deleted rows
    are skipped; background rows are kept as images without plates."""
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        rows = con.execute(
            "SELECT filename, imgareas, isbackground FROM annotations WHERE NOT isdeleted"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[Plate]] = {}
    for name, areas, background in rows:
        plates = out.setdefault(str(name), [])
        for a in [] if background else json.loads(areas or "[]"):
            x, y, w, h = (float(a[k]) for k in ("x", "y", "width", "height"))
            box = _box(x, y, x + w, y + h)
            if box is not None:
                plates.append(Plate(text="", box=box))
    return out


def parse_crops_csv(text: str) -> list[tuple[str, str]]:
    """(image path, plate text) rows of a crops CSV (`image_path` or `file`, `plate_text`)."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for row in csv.DictReader(io.StringIO(text)):
        path = (row.get("image_path") or row.get("file") or "").strip()
        if not path or path in seen:
            continue
        seen.add(path)
        rows.append((path, clean_text(row.get("plate_text") or row.get("text") or "")))
    return rows


def text_from_name(path: str, pattern: str | None) -> str | None:
    """Plate text from a crop's file stem, or None when the stem is no plate (pattern)."""
    stem = PurePosixPath(path).stem.split("#")[-1].upper()
    if pattern is not None and not re.match(pattern, stem):
        return None
    text = clean_text(stem)
    return text or None


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTS)


def _pairs(source: Source) -> Iterator[tuple[str, str]]:
    """(images folder, labels folder) of each of the source's paths."""
    for p in source.paths:
        if ":" in p:
            images, labels = p.split(":", 1)
            yield images, labels
        else:
            yield f"{p}/images", f"{p}/labels"


def convert(source: Source, tree: Tree) -> Iterator[RawItem]:
    """Every image of a source with its plates (in repository order, deterministic)."""
    fmt = source.label_format
    if fmt in ("yolo", "yolo_chars", "voc"):
        yield from _convert_paired(source, tree)
    elif fmt == "coco":
        for folder in source.paths:
            for js in (f for f in tree.files(folder) if f.endswith(".json")):
                data = tree.read(js)
                if data is None:
                    continue
                base = str(PurePosixPath(js).parent)
                for name, plates in sorted(parse_coco(data, source.classes).items()):
                    yield RawItem(path=f"{base}/{name}", plates=tuple(plates))
    elif fmt == "simanno":
        for images, db in _pairs(source):
            data = tree.read(db)
            if data is None:
                continue
            present = {PurePosixPath(f).name: f for f in tree.files(images) if _is_image(f)}
            for name, plates in sorted(parse_simanno(data).items()):
                if name in present:
                    yield RawItem(path=present[name], plates=tuple(plates))
    elif fmt == "csv":
        for csv_path in source.paths:
            data = tree.read(csv_path)
            if data is None:
                continue
            parent = PurePosixPath(csv_path).parent
            for rel, text in parse_crops_csv(data.decode("utf-8-sig")):
                # paths may be relative to the csv's folder or to its parent
                cands = [str(parent / rel), str(parent.parent / rel)]
                path = next((c for c in cands if tree.read(c) is not None), cands[0])
                yield RawItem(path=path, plates=(Plate(text=text, box=None),))
    elif fmt == "name_text":
        for folder in source.paths:
            for f in tree.files(folder):
                if not _is_image(f):
                    continue
                named = text_from_name(f, source.text_pattern)
                if named is not None:
                    yield RawItem(path=f, plates=(Plate(text=named, box=None),))


def _convert_paired(source: Source, tree: Tree) -> Iterator[RawItem]:
    for images, labels in _pairs(source):
        imgs = sorted(f for f in tree.files(images) if _is_image(f))
        if source.label_format == "voc":
            by_name = {PurePosixPath(f).name: f for f in imgs}
            by_stem = {PurePosixPath(f).stem: f for f in imgs}
            for xml in sorted(f for f in tree.files(labels) if f.endswith(".xml")):
                data = tree.read(xml)
                if data is None:
                    continue
                filename, plates = parse_voc(data, source.classes)
                img = by_name.get(filename) or by_stem.get(PurePosixPath(xml).stem)
                if img is not None:
                    yield RawItem(path=img, plates=tuple(plates))
            continue
        for img in imgs:
            label = f"{labels}/{PurePosixPath(img).stem}.txt"
            raw = tree.read(label)
            txt = raw.decode("utf-8", "replace") if raw is not None else ""
            if source.label_format == "yolo_chars":
                text = text_from_chars(txt, source.char_classes)
                if text:
                    yield RawItem(path=img, plates=(Plate(text=text, box=None),))
                continue
            data = tree.read(img)
            size = image_size(data) if data is not None else None
            if size is None:
                yield RawItem(path=img, plates=())  # rebuild counts it as not an image
                continue
            boxes = tuple(parse_yolo(txt, *size, source.classes))
            yield RawItem(path=img, plates=boxes, data=data)
