"""Calibration previews without traveller data: every face and plate blurred before storing.

Two layers: the boxes the lane node's own detectors found (sent with the frame), and this
service's independent OpenCV Haar cascades (frontal and profile faces, plates), which
over-blur rather than miss. The frame is also capped at `max_side` pixels. Only the blurred
JPEG is kept; the uploaded bytes are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from lanecap.api.errors import BadRequest
from lanecap.api.images import check_upload
from recognition.types import Image

Box = tuple[float, float, float, float]
_CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_profileface.xml",
    "haarcascade_russian_plate_number.xml",
)


@dataclass(frozen=True)
class Blurred:
    jpeg: bytes
    width: int
    height: int
    regions: int


def _haar_dir() -> str:
    mod: Any = cv2  # cv2.data is untyped
    return str(mod.data.haarcascades)


@lru_cache(maxsize=1)
def _cascades() -> tuple[Any, ...]:
    return tuple(cv2.CascadeClassifier(_haar_dir() + n) for n in _CASCADES)


def _blur_box(img: Any, box: Box, pad: float = 0.2) -> None:
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box
    px, py = (x2 - x1) * pad, (y2 - y1) * pad
    a, b = max(0, int(x1 - px)), max(0, int(y1 - py))
    c, d = min(w, int(x2 + px)), min(h, int(y2 + py))
    if c <= a or d <= b:
        return
    roi = img[b:d, a:c]
    k = max(3, (max(c - a, d - b) // 3) | 1)
    small = cv2.resize(roi, (max(1, (c - a) // 12), max(1, (d - b) // 12)))
    img[b:d, a:c] = cv2.GaussianBlur(
        cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST), (k, k), 0
    )


def decode_image(data: bytes) -> Image | None:
    """A BGR uint8 image from JPEG/PNG bytes; None when it does not decode. The header is
    checked first (`lanecap.api.images`): empty, not JPEG/PNG, or over the pixel limit is
    refused before decoding."""
    if check_upload(data) is None:
        return None
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else np.asarray(img, dtype=np.uint8)


def blur_preview(data: bytes, *, boxes: Iterable[Box] = (), max_side: int = 960) -> Blurred:
    if check_upload(data) is None:
        raise BadRequest("the preview is not a decodable image")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise BadRequest("the preview is not a decodable image")
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    given = [tuple(v * scale for v in b) for b in boxes]
    if scale < 1.0:
        img = cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    found: list[Box] = [(b[0], b[1], b[2], b[3]) for b in given]
    for cascade in _cascades():
        for x, y, bw, bh in cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3):
            found.append((float(x), float(y), float(x + bw), float(y + bh)))
    for box in found:
        _blur_box(img, box)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise BadRequest("the preview could not be re-encoded")
    return Blurred(bytes(buf.tobytes()), img.shape[1], img.shape[0], len(found))
