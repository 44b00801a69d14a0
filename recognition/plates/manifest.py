"""Plate manifests (`file,plate_text,x,y,w,h`) and the held-out split of real images."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recognition.types import Box

Split = Literal["train", "val"]
VAL_PERCENT = 20
FRAME_BUCKET = 20


@dataclass(frozen=True)
class LabelledImage:
    """One image of a manifest: its labelled plate boxes and texts ('' where unknown).

    `boxes_known` is False when the manifest gives texts but no boxes (plate crops);
    such images count for reading only, not for detection.
    """

    path: Path
    rel: str
    boxes: tuple[Box, ...]
    texts: tuple[str, ...]
    boxes_known: bool

    @property
    def group(self) -> str:
        """Top-level folder of the file inside the manifest's folder ('.' when none)."""
        parts = Path(self.rel).parts
        return parts[0] if len(parts) > 1 else "."


def _num(v: str | None) -> float | None:
    v = (v or "").strip()
    return float(v) if v else None


def load_manifest(manifest: Path) -> list[LabelledImage]:
    """Read a plates manifest; rows of the same file are merged into one image."""
    rows: dict[str, tuple[list[Box], list[str], bool]] = {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rel = (row.get("file") or "").strip()
            if not rel:
                continue
            boxes, texts, _known = rows.setdefault(rel, ([], [], True))
            x, y, w, h = (_num(row.get(k)) for k in ("x", "y", "w", "h"))
            text = re.sub(r"[^A-Z0-9]", "", (row.get("plate_text") or "").upper())
            if x is None or y is None or w is None or h is None:
                rows[rel] = (boxes, [*texts, text] if text else texts, False)
                continue
            boxes.append(Box(x, y, x + w, y + h))
            texts.append(text)
    base = manifest.parent
    return [
        LabelledImage(path=base / rel, rel=rel, boxes=tuple(b), texts=tuple(t), boxes_known=k)
        for rel, (b, t, k) in rows.items()
    ]


def split_key(rel: str) -> str:
    """Key that keeps near-duplicates together: a trailing frame number is bucketed by FRAME_BUCKET.

    `ride_001_t1055.jpg` and `ride_001_t1074.jpg` share a key, so consecutive
    video frames never straddle the train/validation split.
    """
    stem = Path(rel).with_suffix("").as_posix().lower()
    m = re.search(r"(\d+)$", stem)
    if m:
        stem = stem[: m.start()] + str(int(m.group(1)) // FRAME_BUCKET)
    return stem


def split_of(rel: str) -> Split:
    """Deterministic hash split of real images: about VAL_PERCENT % are validation."""
    digest = hashlib.sha256(split_key(rel).encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") % 100 < VAL_PERCENT else "train"
