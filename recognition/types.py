"""Results that leave the recognition package.

Coordinates are pixels in the image that was passed in, origin top-left,
boxes as (x1, y1, x2, y2) with x2/y2 exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

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


@dataclass(frozen=True)
class FaceObservation:
    """A face found in one image, with its 128-d encoding and a quality in [0, 1].

    `reject_reason` is set (and `quality` is low) when the face is not usable
    for matching: too small, blurred, turned away, badly exposed.
    """

    box: Box
    encoding: npt.NDArray[np.float32] = field(repr=False)
    quality: float
    reject_reason: str | None = None


class PlateDetector(Protocol):
    """Finds licence plates in a whole frame."""

    def detect(self, image: Image) -> list[PlateDetection]: ...


class PlateReader(Protocol):
    """Reads the text of one plate crop; None when nothing legible is there."""

    def read(self, crop: Image) -> PlateRead | None: ...


class FaceEncoder(Protocol):
    """Finds faces in an image and encodes each one."""

    def faces(self, image: Image) -> list[FaceObservation]: ...
