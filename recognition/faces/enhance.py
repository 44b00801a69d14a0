"""Contrast enhancement for faces behind windshields: CLAHE on lightness."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from recognition.types import Image

ClaheMode = Literal["off", "always", "auto"]
"""When CLAHE is applied (measured effect: ``calibration.md``).

- ``"off"``: never.
- ``"always"``: detect and encode on the enhanced frame.
- ``"auto"``: detect on the enhanced frame (then, if nothing is found, on the
  frame as given); encode a face from the enhanced frame only when it is dark.
  Detection gains from CLAHE in dark and glare-washed frames and loses nothing
  on good ones; encodings lose accuracy on well-exposed faces and gain on dark ones.
"""

DARK_FACE_BRIGHTNESS = 70.0
"""In ``"auto"`` mode a face whose inner-face mean grey level is below this is
encoded from the CLAHE-enhanced frame."""


def clahe(image: Image, *, clip_limit: float = 2.0, tiles: int = 8) -> Image:
    """Contrast-limited adaptive histogram equalisation of the L channel (Lab).

    Colour is kept; only lightness is equalised, tile by tile, so a dark cabin
    behind a bright windshield reflection gets local contrast back.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    lab[:, :, 0] = op.apply(np.ascontiguousarray(lab[:, :, 0]))
    out: Image = np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), dtype=np.uint8)
    return out
