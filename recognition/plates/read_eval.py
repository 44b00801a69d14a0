"""Reader-only accuracy on ground-truth plates: the reader gets the labelled crop, no detector.

For a manifest with boxes, each labelled box with a text is cut out (optionally
grown by `pad`); for a crop manifest (no boxes) the whole image is the crop.
Metrics, overall and per top-level folder of the manifest's files:

* `exact`: reads equal to the label (A-Z0-9, no spaces); a missing read is wrong;
* `cer`: character error rate, Levenshtein edits / label characters (a missing read
  counts as deleting every character);
* `no_read`: crops the reader returned None for;
* `ms_p50`, `ms_p95`: reader time per crop (decoding the image file excluded).

`split` restricts to the hash split of `recognition.plates.manifest.split_of`
("val" is the part the shipped reader network never trained on).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from recognition.plates.manifest import LabelledImage, load_manifest, split_of
from recognition.types import Image, PlateReader

SplitFilter = Literal["all", "train", "val"]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def labelled_crops(
    items: list[LabelledImage], *, pad: float = 0.0
) -> Iterator[tuple[LabelledImage, Image, str]]:
    """(image entry, crop, text) for every plate with a known text."""
    for item in items:
        if not any(item.texts):
            continue
        loaded = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if loaded is None:
            continue
        image = np.asarray(loaded, dtype=np.uint8)
        if not item.boxes_known:
            yield item, image, item.texts[0]
            continue
        for box, text in zip(item.boxes, item.texts, strict=True):
            if text:
                yield item, box.crop(image, pad=pad), text


def _summary(rows: list[tuple[bool, int, int, bool, float]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0, "exact": None, "cer": None, "no_read": 0, "ms_p50": None, "ms_p95": None}
    ms = np.array([r[4] for r in rows])
    return {
        "n": len(rows),
        "exact": sum(r[0] for r in rows) / len(rows),
        "cer": sum(r[1] for r in rows) / max(1, sum(r[2] for r in rows)),
        "no_read": sum(r[3] for r in rows),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p95": float(np.percentile(ms, 95)),
    }


def evaluate_reader(
    manifest: Path,
    *,
    reader: PlateReader,
    split: SplitFilter = "all",
    pad: float = 0.0,
    limit: int | None = None,
) -> dict[str, Any]:
    """Reader accuracy and speed on a manifest's labelled plates (see the module docstring).

    Returns `{"overall": {...}, "groups": {folder: {...}}, "split": split, "errors": [...]}`
    where `errors` lists (file, expected, read) of the wrong reads, for inspection
    only (never log them at INFO or above: they are plate texts).
    """
    items = load_manifest(manifest)
    if split != "all":
        items = [i for i in items if split_of(i.rel) == split]
    rows: dict[str, list[tuple[bool, int, int, bool, float]]] = defaultdict(list)
    errors: list[tuple[str, str, str]] = []
    for count, (item, crop, text) in enumerate(labelled_crops(items, pad=pad)):
        if limit is not None and count >= limit:
            break
        start = time.perf_counter()
        read = reader.read(crop) if crop.size else None
        ms = (time.perf_counter() - start) * 1000
        got = read.text if read is not None else ""
        ok = got == text
        if not ok:
            errors.append((item.rel, text, got))
        rows[item.group].append((ok, edit_distance(got, text), len(text), read is None, ms))
    everything = [r for group in rows.values() for r in group]
    return {
        "manifest": str(manifest),
        "split": split,
        "overall": _summary(everything),
        "groups": {g: _summary(r) for g, r in sorted(rows.items())},
        "errors": errors,
    }
