"""A second plate reader: the PP-OCR recogniser shipped inside the `rapidocr` wheel.

`RapidPlateReader` runs the wheel's `PP-OCRv6_rec_small.onnx` (Apache-2.0, PaddleOCR
weights converted by RapidOCR) with ONNX Runtime directly: only the file is taken from
the installed package, RapidOCR's own code (which can download models) is never run,
so nothing is fetched at run time. Pre-processing is PP-OCR's own (BGR, 48 px high,
width by aspect, at least 320, values to [-1, 1]). The network's 18,710 classes are
folded to the CTC blank and A-Z0-9 (lower case summed into upper case; every other
symbol's probability counts as blank, so a dash or a dot emits nothing), decoded
greedily with each character's probability, then through the region grammars as our
EasyOCR reader does.

`AgreementReader` reads a crop with two readers and merges the reads (`merge`: per
character with `agree`, or the more confident whole read, each either always or only
when the first read is not sure). The lane and `lanecap eval plates` use
`sure-or-confident` by default (`recognition.plate_second_reader`, wired in
`lanecap.components.with_second_reader`); the plate reader's model card ("Peers") has the
figures.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from recognition.ocr.decode import greedy
from recognition.ort_session import cpu_session
from recognition.plates.confirm import sure
from recognition.plates.grammar import REGIONS, Region, normalise
from recognition.plates.reader import geomean, plate_read
from recognition.types import Image, PlateRead, PlateReader

log = logging.getLogger(__name__)

PLATE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
Merge = Literal["per-char", "if-unsure", "more-confident", "sure-or-confident"]
"""How AgreementReader merges two reads: `agree` always (`per-char`), `agree` only when
the first read is not `confirm.sure` (`if-unsure`), the more confident whole read
(`more-confident`), or that only when the first read is not sure (`sure-or-confident`)."""
MERGES: tuple[Merge, ...] = get_args(Merge)
REC_MODEL = "PP-OCRv6_rec_small.onnx"
REC_HEIGHT = 48
REC_MIN_WIDTH = 320


def rapidocr_models_dir() -> Path:
    """The `models/` folder of the installed rapidocr package (nothing of it is imported)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise RuntimeError("the second plate reader needs the rapidocr wheel: pip install rapidocr")
    return Path(spec.origin).resolve().parent / "models"


class RapidPlateReader:
    """Reads one plate crop with PP-OCR's recogniser; implements recognition.types.PlateReader.

    `model_path` defaults to the rapidocr wheel's REC_MODEL. `regions` are the grammars
    tried (None: none); `min_confidence` drops reads whose confidence (geometric mean of
    the character probabilities) is lower.
    """

    def __init__(
        self,
        *,
        threads: int = 2,
        model_path: Path | None = None,
        regions: Sequence[Region] | None = REGIONS,
        min_confidence: float = 0.0,
    ) -> None:
        path = model_path or rapidocr_models_dir() / REC_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"PP-OCR recogniser not found: {path}")
        self._session: Any = cpu_session(path, threads=threads)
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise RuntimeError(f"{path} carries no character list")
        # PP-OCR's classes: blank, the model's characters, then a space
        classes = ["", *meta["character"].splitlines(), " "]
        # per plate character the network's classes for it (upper and lower case)
        cols = [[i for i, c in enumerate(classes) if c in (p, p.lower())] for p in PLATE_CHARS]
        self._cols = np.array([i for group in cols for i in group], np.int64)
        owner = [k for k, group in enumerate(cols) for _ in group]
        self._merge = np.eye(len(PLATE_CHARS), dtype=np.float32)[owner]  # (columns, 36)
        self.regions: tuple[Region, ...] | None = tuple(regions) if regions is not None else None
        self.min_confidence = min_confidence
        self.model_path = path
        log.debug("PP-OCR plate reader %s, %d classes", path.name, len(classes))

    @staticmethod
    def _line(crop: Image) -> npt.NDArray[np.float32]:
        """One crop as PP-OCR's input: (3, 48, W), W the crop's width at 48 px high."""
        h, w = crop.shape[:2]
        width = max(1, math.ceil(REC_HEIGHT * w / h))
        resized = cv2.resize(crop, (width, REC_HEIGHT)).astype(np.float32)
        return np.asarray((resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5, np.float32)

    def probabilities(self, crops: Sequence[Image]) -> list[npt.NDArray[np.float32]]:
        """(T, 37) probabilities (blank, then A-Z0-9) per crop, in one batch."""
        lines = [self._line(c) for c in crops]
        width = max([REC_MIN_WIDTH, *(line.shape[2] for line in lines)])
        batch = np.zeros((len(lines), 3, REC_HEIGHT, width), np.float32)
        for i, line in enumerate(lines):
            batch[i, :, :, : line.shape[2]] = line
        (out,) = self._session.run(None, {self._input: batch})[:1]
        picked = np.asarray(out, np.float32)[:, :, self._cols]
        chars = picked @ self._merge
        # everything that is not a plate character (blank, space, other symbols) is blank
        blank = np.clip(1.0 - chars.sum(axis=2, keepdims=True), 0.0, 1.0)
        return [np.asarray(p, np.float32) for p in np.concatenate([blank, chars], axis=2)]

    def read_many(self, crops: Sequence[Image]) -> list[PlateRead | None]:
        """Read several crops in one batch; unreadably small crops give None."""
        ok = [k for k, c in enumerate(crops) if c.size and min(c.shape[:2]) >= 4]
        reads: list[PlateRead | None] = [None] * len(crops)
        if ok:
            for k, probs in zip(ok, self.probabilities([crops[k] for k in ok]), strict=True):
                reads[k] = plate_read(greedy(probs, charset=PLATE_CHARS), self.regions)
        return [r if r is not None and r.confidence >= self.min_confidence else None for r in reads]

    def read(self, crop: Image) -> PlateRead | None:
        return self.read_many([crop])[0]


def agree(ours: PlateRead | None, other: PlateRead | None) -> PlateRead | None:
    """One read from two readers' reads of the same crop (`ours` is trusted more).

    * one side read nothing: the other's read;
    * same length: per position the character of the side more confident in it
      (texts that already agree keep ours' confidences);
    * different lengths: ours, unless only `other` fits a plate format
      (`region` not None) and ours fits none.
    """
    if ours is None or other is None:
        return ours if other is None else other
    if ours.text == other.text:
        return ours
    if len(ours.text) != len(other.text):
        return other if ours.region is None and other.region is not None else ours
    a = ours.char_confidences or (ours.confidence,) * len(ours.text)
    b = other.char_confidences or (other.confidence,) * len(other.text)
    picks = [
        (cb, pb) if pb > pa else (ca, pa)
        for ca, cb, pa, pb in zip(ours.text, other.text, a, b, strict=True)
    ]
    text = "".join(c for c, _ in picks)
    confs = tuple(p for _, p in picks)
    region = ours.region if text == ours.text else other.region if text == other.text else None
    if region is None:
        region = normalise(text, confs).region
    return PlateRead(text, geomean(confs), confs, region)


def more_confident(ours: PlateRead | None, other: PlateRead | None) -> PlateRead | None:
    """The whole read with the higher confidence (ours on a tie; the other when ours is None)."""
    if ours is None or other is None:
        return ours if other is None else other
    return other if other.confidence > ours.confidence else ours


def merge(ours: PlateRead | None, other: PlateRead | None, how: Merge) -> PlateRead | None:
    """`ours` and `other` merged as `how` says (see `Merge`)."""
    if how in ("if-unsure", "sure-or-confident") and sure(ours):
        return ours
    return agree(ours, other) if how in ("per-char", "if-unsure") else more_confident(ours, other)


def needs_second(first: PlateRead | None, how: Merge) -> bool:
    """Whether `how` needs the second reader at all after the first read `first`."""
    return how in ("per-char", "more-confident") or not sure(first)


class AgreementReader:
    """Reads with `primary` and, where `merge` needs it, `secondary`, and merges the two."""

    def __init__(
        self, primary: PlateReader, secondary: PlateReader, *, how: Merge = "per-char"
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self.how: Merge = how

    def read(self, crop: Image) -> PlateRead | None:
        first = self.primary.read(crop)
        if not needs_second(first, self.how):
            return first
        return merge(first, self.secondary.read(crop), self.how)
