"""Fine-tune set for the plate detector: the rebuilt real data with loose boxes fitted.

Open Images and Roboflow boxes are drawn wider than the plate (often the whole plate
holder); a detector trained on them draws loose boxes too, and the reader, trained on
tight crops, then misreads (model card, "Tried 2026-12-07"). Each box of a LOOSE source
is refitted by the shipped detector looking at that box alone, at the scale it was
trained on: the region around the box is scaled so the box is `VIEW_WIDTH` px wide,
and the best detection lying inside the box replaces it. Boxes it cannot refit are
kept as drawn. A detection fits when most of it lies inside the drawn box or it
overlaps it at IoU >= 0.3 (some boxes are drawn off-centre). The shared dev sets' train splits (`manifest.split_of`) are added whole.

    python -m recognition.plates.tighten --data var/plates-real/yolo --out var/ft-tight
    lanecap train detector --finetune var/ft-tight --epochs 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.plates.convert import read_yolo_boxes, yolo_lines
from recognition.plates.manifest import load_manifest, split_of
from recognition.types import Box, Image, PlateDetector

log = logging.getLogger(__name__)

LOOSE_SOURCES = ("openimages-", "anpr-roboflow")
VIEW_WIDTH = 110  # px the box is scaled to: mid-range of the synthetic training plates
CONTEXT = 0.6  # region around the box, as a share of its width (each side)
MIN_INSIDE = 0.8  # share of a detection that must lie inside the drawn box
MIN_IOU = 0.3  # ... or overlap the drawn box this much (boxes drawn off-centre)
MIN_AREA = 0.2  # a refit box keeps 0.2 to 1.5 times the drawn box's area
MAX_AREA = 1.5
MIN_SCORE = 0.3
CANVAS = 640
PAD_VALUE = 114


@dataclass(frozen=True)
class Refit:
    box: Box
    refitted: bool


def refit(image: Image, box: Box, detector: PlateDetector) -> Refit:
    """`box` fitted to the plate inside it, or unchanged where no detection fits."""
    h, w = image.shape[:2]
    if box.width < 4 or box.height < 2:
        return Refit(box, False)
    pad = CONTEXT * box.width
    region = Box(box.x1 - pad, box.y1 - pad, box.x2 + pad, box.y2 + pad).clip(w, h)
    x0, y0 = int(region.x1), int(region.y1)
    crop = image[y0 : int(region.y2), x0 : int(region.x2)]
    scale = VIEW_WIDTH / box.width
    ch = max(1, round(crop.shape[0] * scale))
    cw = max(1, round(crop.shape[1] * scale))
    if max(ch, cw) > CANVAS:
        f = CANVAS / max(ch, cw)
        scale *= f
        ch, cw = min(CANVAS, max(1, round(ch * f))), min(CANVAS, max(1, round(cw * f)))
    small = cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_AREA)
    canvas = np.full((CANVAS, CANVAS, 3), PAD_VALUE, np.uint8)
    oy, ox = (CANVAS - ch) // 2, (CANVAS - cw) // 2
    canvas[oy : oy + ch, ox : ox + cw] = small
    best: tuple[float, Box] | None = None
    for det in detector.detect(canvas):
        b = det.box
        back = Box(
            (b.x1 - ox) / scale + x0,
            (b.y1 - oy) / scale + y0,
            (b.x2 - ox) / scale + x0,
            (b.y2 - oy) / scale + y0,
        ).clip(w, h)
        if det.score < MIN_SCORE or not MIN_AREA * box.area <= back.area <= MAX_AREA * box.area:
            continue
        if back.share_inside(box) < MIN_INSIDE and back.iou(box) < MIN_IOU:
            continue
        if best is None or det.score > best[0]:
            best = (det.score, back)
    return Refit(best[1], True) if best else Refit(box, False)


def link_file(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (a copy across file systems), replacing `dst`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@dataclass
class Counts:
    images: int = 0
    boxes: int = 0
    refitted: int = 0
    area_ratio_sum: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "images": self.images,
            "boxes": self.boxes,
            "refitted": self.refitted,
            "mean_area_ratio": round(self.area_ratio_sum / self.refitted, 3)
            if self.refitted
            else 1.0,
        }


def tighten_folder(
    data: Path, out: Path, detector: PlateDetector, *, loose: Sequence[str] = LOOSE_SOURCES
) -> dict[str, dict[str, float]]:
    """Copy a YOLO folder (images/, labels/) to `out`, refitting boxes of `loose` sources."""
    counts: dict[str, Counts] = {}
    for img in sorted((data / "images").glob("*/*")):
        split = img.parent.name
        label = data / "labels" / split / (img.stem + ".txt")
        source = img.name.split("__", 1)[0]
        c = counts.setdefault(source, Counts())
        c.images += 1
        link_file(img, out / "images" / split / img.name)
        dst = out / "labels" / split / label.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not label.is_file():
            dst.write_text("")
            continue
        if not source.startswith(tuple(loose)):
            shutil.copyfile(label, dst)
            c.boxes += len(label.read_text().splitlines())
            continue
        raw = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if raw is None:
            log.warning("cannot read %s; labels copied as drawn", img)
            shutil.copyfile(label, dst)
            continue
        image: Image = np.asarray(raw, dtype=np.uint8)
        h, w = image.shape[:2]
        fitted = []
        for box in read_yolo_boxes(label, w, h):
            r = refit(image, box, detector)
            c.boxes += 1
            if r.refitted:
                c.refitted += 1
                c.area_ratio_sum += r.box.area / box.area
            fitted.append(r.box)
        dst.write_text(yolo_lines(fitted, w, h))
    return {k: v.as_dict() for k, v in sorted(counts.items())}


def add_dev_sets(manifests: Sequence[Path], out: Path) -> dict[str, dict[str, float]]:
    """The train split of each labelled dev set as whole images (val split to images/val)."""
    counts: dict[str, dict[str, float]] = {}
    for manifest in manifests:
        name = manifest.parent.name
        c = counts.setdefault(name, {"train": 0, "val": 0})
        for item in load_manifest(manifest):
            if not item.boxes_known or not item.path.is_file():
                continue
            raw = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
            if raw is None:
                continue
            h, w = raw.shape[:2]
            split = split_of(item.rel)
            stem = f"dev-{name}__{item.rel.replace('/', '_')}"
            link_file(item.path, out / "images" / split / stem)
            lab = out / "labels" / split / (Path(stem).stem + ".txt")
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text(yolo_lines(item.boxes, w, h))
            c[split] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    from recognition.plates.detector import YoloPlateDetector
    from recognition.plates.train import DATA_ROOT

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("var/plates-real/yolo"))
    p.add_argument("--out", type=Path, default=Path("var/ft-tight"))
    p.add_argument("--shared", type=Path, default=DATA_ROOT, help="../shared/data")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (a.data / "images").is_dir():
        raise SystemExit(f"{a.data}: no images/ (run python -m recognition.plates.rebuild first)")
    detector = YoloPlateDetector(None, threads=a.threads, conf=MIN_SCORE)
    report = {"refit": tighten_folder(a.data, a.out, detector)}
    dev = [a.shared / "plates" / n / "manifest.csv" for n in ("openalpr-us-dev", "romania-detect")]
    report["dev"] = add_dev_sets([m for m in dev if m.is_file()], a.out)
    (a.out / "tighten.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
