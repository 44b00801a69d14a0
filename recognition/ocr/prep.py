"""Crop preprocessing shared by training and reading, so both see the same pixels.

A plate crop (BGR or grey, any size) becomes one network input line:

1. grey, percentile contrast stretch (low-contrast and night plates);
2. deskew: the median angle of long near-horizontal edges (plate borders,
   character tops and bottoms) is rotated away when it is 2-20 degrees;
   deslant: the horizontal shear of a plate seen from beside the lane (strokes
   leaning) is undone when a shear of 0.1-0.6 makes the strokes clearly more
   vertical (together an affine rectification of the crop);
3. for two-row layouts (`split_rows`) the crop is cut at the emptiest row band
   between 30 % and 70 % of its height and the rows are put side by side;
4. resize to IMG_H x IMG_W (small plates are upscaled, wide ones squeezed),
   scaled to [-1, 1] as EasyOCR's NormalizePAD does.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from recognition.synth.arrays import u8

IMG_H = 64
IMG_W = 192
TWO_ROW_ASPECT = 1.6
"""Crops narrower than this (width / height) are also read as two stacked rows."""

Gray = npt.NDArray[np.uint8]
Line = npt.NDArray[np.float32]


def to_gray(crop: npt.NDArray[np.uint8]) -> Gray:
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return np.ascontiguousarray(gray, dtype=np.uint8)


def stretch(gray: Gray) -> Gray:
    """Map the 2nd..98th percentile to 0..255 (no change when the range is tiny)."""
    lo, hi = np.percentile(gray, (2, 98))
    if hi - lo < 8:
        return gray
    out = (gray.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return u8(np.clip(out, 0, 255))


def skew_angle(gray: Gray) -> float:
    """Degrees to rotate (counter-clockwise positive, as cv2) to level the text; 0 if unsure."""
    h, w = gray.shape[:2]
    if h < 12 or w < 24:
        return 0.0
    edges = cv2.Canny(gray, 60, 160)
    lines = cv2.HoughLinesP(
        edges, 1, np.pi / 180, threshold=max(10, w // 5), minLineLength=w * 0.4, maxLineGap=w // 20
    )
    if lines is None:
        return 0.0
    angles = []
    for x1, y1, x2, y2 in lines[:, 0, :]:
        a = math.degrees(math.atan2(float(y2 - y1), float(x2 - x1)))
        if abs(a) < 20:
            angles.append(a)
    if len(angles) < 2:
        return 0.0
    a = float(np.median(angles))
    return a if 2.0 <= abs(a) <= 20.0 else 0.0


def deskew(gray: Gray) -> Gray:
    angle = skew_angle(gray)
    if angle == 0.0:
        return gray
    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(out, dtype=np.uint8)


SHEARS = np.round(np.arange(-0.6, 0.601, 0.05), 2)
MIN_SHEAR = 0.1
MIN_GAIN = 1.15
SLANT_H = 64


def _sheared(img: npt.NDArray[np.float32] | Gray, s: float) -> npt.NDArray[np.float32]:
    h, w = img.shape[:2]
    m = np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.float32)


def slant(gray: Gray) -> float:
    """Horizontal shear (x shift per row, about the middle row) that makes character
    strokes vertical, as a camera beside the lane slants them; 0 if unsure.

    Vertical strokes stack into sharp peaks of the column profile of horizontal
    gradients; the shear whose profile has the most energy wins when it beats no
    shear by MIN_GAIN and is at least MIN_SHEAR.
    """
    h, w = gray.shape[:2]
    if h < 16 or w < 32:
        return 0.0
    if h > SLANT_H:  # a shear is the same at any scale: measure it small
        gray = np.asarray(
            cv2.resize(
                gray, (max(32, round(w * SLANT_H / h)), SLANT_H), interpolation=cv2.INTER_AREA
            ),
            np.uint8,
        )
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    energy = {float(s): float(np.square(_sheared(grad, s).sum(axis=0)).sum()) for s in SHEARS}
    best = max(energy, key=lambda s: energy[s])
    if abs(best) < MIN_SHEAR or energy[best] < MIN_GAIN * energy[0.0]:
        return 0.0
    return best


def deslant(gray: Gray) -> Gray:
    s = slant(gray)
    if s == 0.0:
        return gray
    return np.ascontiguousarray(np.clip(_sheared(gray, s), 0, 255), dtype=np.uint8)


def split_rows(gray: Gray) -> Gray:
    """Two stacked text rows side by side: cut at the quietest band in 30-70 % of the height."""
    h = gray.shape[0]
    if h < 8:
        return gray
    energy = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)).mean(axis=1)
    k = max(1, h // 12)
    energy = np.convolve(energy, np.ones(k, np.float32) / k, mode="same")
    lo, hi = int(h * 0.3), max(int(h * 0.7), int(h * 0.3) + 1)
    cut = lo + int(np.argmin(energy[lo:hi]))
    top, bottom = gray[:cut], gray[cut:]
    rh = max(top.shape[0], bottom.shape[0], 1)

    def fit(part: Gray) -> Gray:
        ph, pw = part.shape[:2]
        nw = max(1, round(pw * rh / max(ph, 1)))
        return np.asarray(cv2.resize(part, (nw, rh), interpolation=cv2.INTER_LINEAR), np.uint8)

    return np.ascontiguousarray(np.hstack([fit(top), fit(bottom)]), dtype=np.uint8)


def to_line(gray: Gray, *, width: int = IMG_W) -> Line:
    """Resize to IMG_H x width and scale to [-1, 1]."""
    h = gray.shape[0]
    interp = cv2.INTER_AREA if h > IMG_H else cv2.INTER_CUBIC
    img = cv2.resize(gray, (width, IMG_H), interpolation=interp)
    return (img.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def prepare(crop: npt.NDArray[np.uint8], *, two_rows: bool = False) -> Line:
    """One network input line from a plate crop (see the module docstring)."""
    gray = deslant(deskew(stretch(to_gray(crop))))
    if two_rows:
        gray = split_rows(gray)
    return to_line(gray)
