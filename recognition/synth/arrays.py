"""Typed views of arrays that OpenCV and numpy arithmetic return loosely typed."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def u8(a: Any) -> npt.NDArray[np.uint8]:
    """`a` as a uint8 array (no copy when it already is one)."""
    return np.asarray(a, dtype=np.uint8)


def f32(a: Any) -> npt.NDArray[np.float32]:
    """`a` as a float32 array (no copy when it already is one)."""
    return np.asarray(a, dtype=np.float32)
