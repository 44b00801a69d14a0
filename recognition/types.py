"""Results that leave the recognition package.

Coordinates are pixels in the image that was passed in, origin top-left,
boxes as (x1, y1, x2, y2) with x2/y2 exclusive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR image, shape (height, width, 3), as OpenCV returns it."""


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels: (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def intersection(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        return ix * iy

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def share_inside(self, other: Box) -> float:
        """The share of this box's area that lies inside `other`."""
        return self.intersection(other) / self.area if self.area > 0 else 0.0

    def clip(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), float(width)),
            min(max(self.y1, 0.0), float(height)),
            min(max(self.x2, 0.0), float(width)),
            min(max(self.y2, 0.0), float(height)),
        )

    def crop(self, image: Image, pad: float = 0.0) -> Image:
        """The pixels under the box, grown by `pad` times its size on each side."""
        h, w = image.shape[:2]
        px, py = self.width * pad, self.height * pad
        b = Box(self.x1 - px, self.y1 - py, self.x2 + px, self.y2 + py).clip(w, h)
        return image[int(b.y1) : round(b.y2), int(b.x1) : round(b.x2)]


@dataclass(frozen=True)
class PlateDetection:
    """A plate found in one image, with the detector's confidence in [0, 1]."""

    box: Box
    score: float


@dataclass(frozen=True)
class PlateRead:
    """Text read from one plate crop: upper-case A-Z0-9, no spaces."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...] = ()
    region: str | None = None


FaceRole = Literal["driver", "passenger"]


Encode = Callable[[], npt.NDArray[np.float32]]


class FaceObservation:
    """A face found in one image, with its 128-d encoding and a quality in [0, 1].

    `reject_reason` is set (and `quality` is low) when the face is not usable
    for matching: too small, blurred, turned away, badly exposed.

    The encoding may be deferred: given `encode` instead of `encoding`, it is computed
    on first use of `.encoding` and kept. An encoder that defers lets the lane encode
    only the one face per vehicle that is kept, not every face of every frame.
    """

    __slots__ = ("_encode", "_encoding", "_lock", "box", "quality", "reject_reason")

    def __init__(
        self,
        box: Box,
        encoding: npt.NDArray[np.float32] | None,
        quality: float,
        reject_reason: str | None = None,
        *,
        encode: Encode | None = None,
    ) -> None:
        if encoding is None and encode is None:
            raise ValueError("a face observation needs an encoding or a way to compute it")
        self.box = box
        self.quality = quality
        self.reject_reason = reject_reason
        self._encoding = encoding
        self._encode = None if encoding is not None else encode
        self._lock = threading.Lock()

    @property
    def encoding(self) -> npt.NDArray[np.float32]:
        with self._lock:
            if self._encoding is None:
                assert self._encode is not None
                self._encoding = self._encode()
                self._encode = None
            return self._encoding

    @property
    def encoded(self) -> bool:
        """Whether the encoding has been computed (or was given)."""
        return self._encoding is not None

    def moved(self, dx: float, dy: float) -> FaceObservation:
        """The same face with its box shifted; a deferred encoding stays deferred and shared."""
        b = self.box
        return FaceObservation(
            Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy),
            self._encoding,
            self.quality,
            self.reject_reason,
            encode=None if self._encoding is not None else lambda: self.encoding,
        )

    def __repr__(self) -> str:
        return (
            f"FaceObservation(box={self.box!r}, quality={self.quality!r}, "
            f"reject_reason={self.reject_reason!r}, encoded={self.encoded})"
        )


class PlateDetector(Protocol):
    """Finds licence plates in a whole frame."""

    def detect(self, image: Image) -> list[PlateDetection]: ...


class PlateReader(Protocol):
    """Reads the text of one plate crop; None when nothing legible is there."""

    def read(self, crop: Image) -> PlateRead | None: ...


class FaceEncoder(Protocol):
    """Finds faces in an image and encodes each one."""

    def faces(self, image: Image) -> list[FaceObservation]: ...
