"""Face-size buckets, true face boxes in manifests, and when a detection hits one."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from recognition.types import Box

SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("30-36", 30.0, 36.0),
    ("36-60", 36.0, 60.0),
    ("60-110", 60.0, 110.0),
    ("110+", 110.0, math.inf),
)
"""Face-size buckets: face box width in pixels (HOG-like square box), lower bound
inclusive. Faces under 30 px fall in ``"<30"``."""

BUCKET_NAMES = ("<30", *(name for name, _, _ in SIZE_BUCKETS))


def size_bucket(width_px: float) -> str:
    """The bucket name of a face ``width_px`` wide."""
    for name, lo, hi in SIZE_BUCKETS:
        if lo <= width_px < hi:
            return name
    return "<30"


def read_boxes(manifest_path: Path | str) -> dict[Path, Box]:
    """True face boxes from a manifest's optional ``x,y,w,h`` columns (pixels,
    top-left corner), keyed by image path (relative to the manifest, as
    ``evaluate.read_manifest`` gives it). Rows without a box are left out."""
    path = Path(manifest_path)
    out: dict[Path, Box] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"x", "y", "w", "h"} <= set(reader.fieldnames):
            return out
        for row in reader:
            try:
                x, y, w, h = (float(row[k] or "") for k in ("x", "y", "w", "h"))
            except ValueError:
                continue
            if w > 0 and h > 0:
                out[path.parent / (row.get("file") or "").strip()] = Box(x, y, x + w, y + h)
    return out


def face_matches(found: Box, truth: Box, *, min_iou: float = 0.4) -> bool:
    """A detection counts for the true face when IoU >= ``min_iou`` or its centre
    lies inside the true box."""
    cx, cy = (found.x1 + found.x2) / 2.0, (found.y1 + found.y2) / 2.0
    inside = truth.x1 <= cx <= truth.x2 and truth.y1 <= cy <= truth.y2
    return inside or found.iou(truth) >= min_iou
