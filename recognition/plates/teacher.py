"""A teacher detector's sure plates added to a YOLO folder's labels (issue 17, step 2).

Real training photos often hold plates nobody labelled: openalpr-style sources label one
plate a photo, Open Images and Roboflow skip far or partial plates. Training on them
teaches the detector that those plates are background. `add_teacher_boxes` runs a
stronger, slower detector (the teacher: `platedet`, optional, never a lane dependency)
on each image and adds every plate it is sure of (score >= `min_score`) that overlaps
no labelled plate; labelled boxes are never moved or dropped. Images without a label
file (unlabelled frames) are labelled by the teacher alone. The report counts, per
source, images, labelled boxes, boxes added, and labelled boxes the teacher missed.

    pip install --no-deps platedet
    python -m recognition.plates.teacher --data var/ft-tight --out var/ft-teacher
    lanecap train detector --finetune var/ft-teacher --base var/ft-run/plate_yolo.pt
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recognition.plates.convert import read_yolo_boxes, yolo_lines
from recognition.plates.tighten import link_file
from recognition.types import Box, Image, PlateDetection, PlateDetector

log = logging.getLogger(__name__)

MIN_SCORE = 0.6  # a teacher plate this sure is added
NEW_IOU = 0.1  # ... when it overlaps every labelled plate less than this
MAX_INSIDE = 0.5  # ... and lies at most this much inside one (a part of a labelled plate)
HIT_IOU = 0.5  # a labelled plate the teacher finds at this IoU counts as agreed


@dataclass
class Counts:
    images: int = 0
    unlabelled_images: int = 0
    labelled: int = 0
    added: int = 0
    missed_by_teacher: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def new_plates(
    labelled: Sequence[Box], taught: Sequence[PlateDetection], *, min_score: float = MIN_SCORE
) -> list[Box]:
    """The teacher's sure plates that are not one of (or part of) the labelled ones."""
    out: list[Box] = []
    for det in taught:
        b = det.box
        if det.score < min_score or b.width < 2 or b.height < 2:
            continue
        if any(b.iou(lab) >= NEW_IOU or b.share_inside(lab) > MAX_INSIDE for lab in labelled):
            continue
        if any(b.iou(o) >= NEW_IOU for o in out):
            continue
        out.append(b)
    return out


def add_teacher_boxes(
    data: Path, out: Path, teacher: PlateDetector, *, min_score: float = MIN_SCORE
) -> dict[str, dict[str, int]]:
    """Copy a YOLO folder (images/, labels/) to `out` with the teacher's new plates added."""
    counts: dict[str, Counts] = {}
    for img in sorted((data / "images").glob("*/*")):
        split = img.parent.name
        label = data / "labels" / split / (img.stem + ".txt")
        c = counts.setdefault(img.name.split("__", 1)[0], Counts())
        raw = cv2.imread(str(img), cv2.IMREAD_COLOR)
        if raw is None:
            log.warning("cannot read %s; left out", img)
            continue
        image: Image = np.asarray(raw, dtype=np.uint8)
        h, w = image.shape[:2]
        c.images += 1
        labelled = read_yolo_boxes(label, w, h)
        c.unlabelled_images += not label.is_file()
        taught = teacher.detect(image)
        added = new_plates(labelled, taught, min_score=min_score)
        c.labelled += len(labelled)
        c.added += len(added)
        c.missed_by_teacher += sum(
            not any(t.box.iou(lab) >= HIT_IOU for t in taught) for lab in labelled
        )
        link_file(img, out / "images" / split / img.name)
        dst = out / "labels" / split / (img.stem + ".txt")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(yolo_lines([*labelled, *added], w, h))
    return {k: v.as_dict() for k, v in sorted(counts.items())}


class PlatedetTeacher:
    """platedet's YOLOv8s-seg ONNX (PyPI `platedet`, AGPL-3.0) through its own pre/post-processing."""

    def __init__(self, *, threads: int = 2, conf: float = 0.25) -> None:
        import onnxruntime as ort
        from platedet import Platedet  # type: ignore[import-untyped,import-not-found,unused-ignore]

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.model: Any = Platedet(sess_options=opts)
        self.conf = conf

    def detect(self, image: Image) -> list[PlateDetection]:
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        res = self.model.inference(
            rgb, conf_threshold=self.conf, iou_threshold=0.5, return_types=["boxes"]
        )
        if "boxes" not in res:
            return []
        boxes, scores = res["boxes"]["boxes"], res["boxes"]["confidences"]
        return [
            PlateDetection(Box(float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s))
            for b, s in zip(boxes, scores, strict=True)
        ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="YOLO folder: images/, labels/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--min-score", type=float, default=MIN_SCORE)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (a.data / "images").is_dir():
        raise SystemExit(f"{a.data}: no images/ folder (a YOLO folder: images/, labels/)")
    try:
        teacher = PlatedetTeacher(threads=a.threads)
    except ImportError as err:
        raise SystemExit(
            f"the teacher needs platedet ({err}): pip install --no-deps platedet"
        ) from None
    report = add_teacher_boxes(a.data, a.out, teacher, min_score=a.min_score)
    (a.out / "teacher.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
