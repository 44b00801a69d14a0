"""Contrast enhancement for faces behind windshields: CLAHE on lightness."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from recognition.types import Image

ClaheMode = Literal["off", "always", "fallback"]
"""When the detector applies CLAHE.

- ``"off"``: never.
- ``"always"``: detect on the enhanced frame only.
- ``"fallback"``: detect on the frame as given; only when that finds no face,
  detect again on the enhanced frame (costs nothing on frames that already work).
"""


def clahe(image: Image, *, clip_limit: float = 2.0, tiles: int = 8) -> Image:
    """Contrast-limited adaptive histogram equalisation of the L channel (Lab).

    Colour is kept; only lightness is equalised, tile by tile, so a dark cabin
    behind a bright windshield reflection gets local contrast back.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    lab[:, :, 0] = op.apply(np.ascontiguousarray(lab[:, :, 0]))
    out: Image = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    return out
