"""Two plate detectors as one: one decides where plates are, the other frames them.

The reader was trained on the framing of the shipped detector's boxes, and reads
worse on boxes of a detector that finds more plates but frames them a little
differently (MODEL_CARD_plate_detector.md). `PairedPlateDetector(framer, finder)`
runs both on the frame and, wherever the two overlap (IoU >= `iou`), keeps the
framer's box:

* `how="finder"`: the finder's plates only (its scores), each in the framer's box
  where the framer has one there;
* `how="union"`: the framer's plates, raised to the finder's score where it is
  higher, plus the finder's plates the framer has no box for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal, get_args

from recognition.plates.detector import (
    CLOSEUP_FINDER_PATH,
    DEFAULT_IMGSZ,
    FINDER_PATH,
    YoloPlateDetector,
)
from recognition.types import Image, PlateDetection, PlateDetector

FRAMER_CONF = 0.01
"""The framer's score floor: its box is borrowed wherever the finder has a plate, even
one the framer itself scores low."""
How = Literal["finder", "union"]
HOWS: tuple[How, ...] = get_args(How)


class PairedPlateDetector:
    """Implements `recognition.types.PlateDetector` over two detectors."""

    def __init__(
        self,
        framer: PlateDetector,
        finder: PlateDetector,
        *,
        how: How = "finder",
        iou: float = 0.5,
    ) -> None:
        if how not in HOWS:
            raise ValueError(f"how must be one of {HOWS}, not {how!r}")
        self.framer = framer
        self.finder = finder
        self.how: How = how
        self.iou = iou

    def detect(self, image: Image) -> list[PlateDetection]:
        framed, found = self.framer.detect(image), self.finder.detect(image)
        if self.how == "union":
            return union(framed, found, iou=self.iou)
        return reframe(found, framed, iou=self.iou)


class FinderUnion:
    """Two finders as one: the plates of both (`union`), highest score first."""

    def __init__(self, first: PlateDetector, second: PlateDetector, *, iou: float = 0.5) -> None:
        self.first, self.second, self.iou = first, second, iou

    def detect(self, image: Image) -> list[PlateDetection]:
        both = union(self.first.detect(image), self.second.detect(image), iou=self.iou)
        return sorted(both, key=lambda d: -d.score)


def paired_yolo(
    *,
    threads: int,
    conf: float,
    framer_path: Path | None = None,
    finder_path: Path | None = None,
    imgsz: int = DEFAULT_IMGSZ,
    how: How = "finder",
) -> PairedPlateDetector:
    """The shipped pair (or other ONNX files): the finder down to `conf`, the framer down
    to FRAMER_CONF (or `conf` if lower). The shipped finder is the union of the general
    finder and the close-up one (MODEL_CARD_plate_detector.md, session 9); a
    `finder_path` given replaces both."""
    framer = YoloPlateDetector(
        framer_path, threads=threads, conf=min(conf, FRAMER_CONF), imgsz=imgsz
    )
    finder: PlateDetector = YoloPlateDetector(
        finder_path or FINDER_PATH, threads=threads, conf=conf, imgsz=imgsz
    )
    if finder_path is None:
        closeup = YoloPlateDetector(CLOSEUP_FINDER_PATH, threads=threads, conf=conf, imgsz=imgsz)
        finder = FinderUnion(finder, closeup)
    return PairedPlateDetector(framer, finder, how=how)


def _best_overlap(det: PlateDetection, others: Sequence[PlateDetection], iou: float) -> int | None:
    """Index of the detection in `others` overlapping `det` most, if at least `iou`."""
    ious = [o.box.iou(det.box) for o in others]
    best = max(range(len(others)), key=ious.__getitem__, default=None)
    return best if best is not None and ious[best] >= iou else None


def reframe(
    found: Sequence[PlateDetection], framed: Sequence[PlateDetection], *, iou: float = 0.5
) -> list[PlateDetection]:
    """Each of `found` with its score, in the box of `framed` overlapping it, if any."""
    out: list[PlateDetection] = []
    for det in found:
        i = _best_overlap(det, framed, iou)
        moved = det if i is None else replace(det, box=framed[i].box)
        if _best_overlap(moved, out, iou) is None:  # two found boxes, one framed box
            out.append(moved)
    return sorted(out, key=lambda d: -d.score)


def union(
    framed: Sequence[PlateDetection], found: Sequence[PlateDetection], *, iou: float = 0.5
) -> list[PlateDetection]:
    """`framed`, each raised to the best overlapping score of `found`, plus the rest of it."""
    out = list(framed)
    extra: list[PlateDetection] = []
    for det in found:
        i = _best_overlap(det, out, iou)
        if i is not None:
            if det.score > out[i].score:
                out[i] = replace(out[i], score=det.score)
        elif _best_overlap(det, extra, iou) is None:
            extra.append(det)
    return sorted(out + extra, key=lambda d: -d.score)
