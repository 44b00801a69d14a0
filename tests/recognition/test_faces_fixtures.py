"""Shared in-code fixtures for the face tests (imported by test_faces*.py)."""

from __future__ import annotations

import cv2
import numpy as np

from recognition.types import Box, FaceObservation, Image

ASTRO_FACE = Box(165.0, 70.0, 265.0, 170.0)
"""Roughly where the astronaut's face is (a locator for rendering; geometry only)."""


def astronaut() -> Image:
    """skimage's astronaut (public domain, ships with scikit-image), as BGR."""
    from skimage import data

    rgb = data.astronaut()  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def face_tile(scale: float = 1.0) -> Image:
    """The astronaut's head and shoulders, about 90 px face at scale 1."""
    tile = astronaut()[20:260, 120:330]
    if scale != 1.0:
        tile = np.asarray(
            cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8
        )
    return np.ascontiguousarray(tile)


def cabin(tiles: list[tuple[Image, int, int]], size: tuple[int, int] = (1280, 720)) -> Image:
    """A dark-grey 'windshield' frame with face tiles pasted at (x, y)."""
    w, h = size
    frame = np.full((h, w, 3), 60, np.uint8)
    for tile, x, y in tiles:
        th, tw = tile.shape[:2]
        frame[y : y + th, x : x + tw] = tile
    return frame


def obs(
    x1: float,
    y1: float,
    size: float,
    *,
    quality: float = 0.9,
    reason: str | None = None,
    seed: int = 0,
) -> FaceObservation:
    rng = np.random.default_rng(seed)
    enc = rng.normal(0, 0.1, 128).astype(np.float32)
    return FaceObservation(Box(x1, y1, x1 + size, y1 + size), enc, quality, reason)
