"""Quality gate for one face: size, exposure, sharpness, frontal pose.

All measurements except size are taken on the aligned 150x150 face chip that
the encoder itself sees, so they describe what the encoding is computed from.

Each criterion maps to a score in [0, 1] that is exactly 0.5 at its reject
threshold and 1.0 at its "good" level; a face's quality is the lowest of its
scores, so ``quality < 0.5`` if and only if the face is rejected, and
``reject_reason`` names the criterion that failed first in the order
size, exposure, sharpness, pose.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.detect import Landmarks5
from recognition.types import Box


class RejectReason(enum.StrEnum):
    """Why no usable face is there. The first five are per-face quality
    failures; the others describe a frame or a vehicle as a whole."""

    TOO_SMALL = "too_small"
    UNDEREXPOSED = "underexposed"
    OVEREXPOSED = "overexposed"
    BLURRED = "blurred"
    NOT_FRONTAL = "not_frontal"
    NO_FACE = "no_face"
    """No face was detected at all."""
    DRIVER_NOT_FOUND = "driver_not_found"
    """Faces were found, but none in the driver's seat."""
    MULTIPLE_FACES = "multiple_faces"
    """More than one face where exactly one is required (enrolment photos)."""
    NO_FRAMES = "no_frames"
    LOW_QUALITY = "low_quality"
    """Passed the gate but below the stricter minimum quality a matcher asked for."""


@dataclass(frozen=True)
class QualityGate:
    """Thresholds of the quality gate (see ``calibration.md`` for how they were set).

    - size: shorter side of the detector box, pixels.
    - exposure: mean grey level of the inner face (chip centre, 0-255).
    - sharpness: mean absolute Laplacian of the chip divided by its grey-level
      standard deviation (so it does not depend on contrast).
    - pose: horizontal offset of the nose point from the eye midpoint, in
      units of the eye distance (0 frontal, ~0.5 and more near profile).
    """

    min_face_px: float = 40.0
    good_face_px: float = 72.0
    min_brightness: float = 30.0
    good_brightness_low: float = 70.0
    good_brightness_high: float = 190.0
    max_brightness: float = 230.0
    min_sharpness: float = 0.22
    good_sharpness: float = 0.40
    max_nose_offset: float = 0.30
    good_nose_offset: float = 0.15

    def __post_init__(self) -> None:
        if not 0 < self.min_face_px < self.good_face_px:
            raise ValueError("need 0 < min_face_px < good_face_px")
        if not (
            0
            <= self.min_brightness
            < self.good_brightness_low
            <= self.good_brightness_high
            < self.max_brightness
            <= 255
        ):
            raise ValueError("brightness thresholds must increase")
        if not 0 <= self.min_sharpness < self.good_sharpness:
            raise ValueError("need 0 <= min_sharpness < good_sharpness")
        if not 0 <= self.good_nose_offset < self.max_nose_offset:
            raise ValueError("need 0 <= good_nose_offset < max_nose_offset")


@dataclass(frozen=True)
class FaceMetrics:
    face_px: float
    brightness: float
    sharpness: float
    nose_offset: float


@dataclass(frozen=True)
class QualityReport:
    quality: float
    reject_reason: RejectReason | None
    metrics: FaceMetrics


def measure(chip_rgb: npt.NDArray[np.uint8], box: Box, landmarks: Landmarks5) -> FaceMetrics:
    """Raw measurements of one face (``chip_rgb``: the aligned face chip)."""
    grey = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = grey.shape
    inner = grey[int(h * 0.25) : int(h * 0.85), int(w * 0.2) : int(w * 0.8)]
    brightness = float(inner.mean())
    lap = cv2.Laplacian(inner, cv2.CV_32F, ksize=3)
    sharpness = float(np.abs(lap).mean() / (float(inner.std()) + 4.0))
    return FaceMetrics(
        face_px=min(box.width, box.height),
        brightness=brightness,
        sharpness=sharpness,
        nose_offset=nose_offset(landmarks),
    )


def nose_offset(lm: Landmarks5) -> float:
    """Offset of the nose from the eye midpoint along the eye line, / eye distance."""
    (lx, ly), (rx, ry) = lm.left_eye, lm.right_eye
    dx, dy = rx - lx, ry - ly
    iod = math.hypot(dx, dy)
    if iod < 1e-6:
        return 1.0
    mx, my = (lx + rx) / 2.0, (ly + ry) / 2.0
    nx, ny = lm.nose
    return abs((nx - mx) * dx + (ny - my) * dy) / (iod * iod)


def assess(
    chip_rgb: npt.NDArray[np.uint8], box: Box, landmarks: Landmarks5, gate: QualityGate
) -> QualityReport:
    """Quality in [0, 1] and the reject reason (None when usable)."""
    m = measure(chip_rgb, box, landmarks)
    return grade(m, gate)


def grade(m: FaceMetrics, gate: QualityGate) -> QualityReport:
    size = _rising(m.face_px, gate.min_face_px, gate.good_face_px)
    if m.brightness < gate.good_brightness_low:
        expo = _rising(m.brightness, gate.min_brightness, gate.good_brightness_low)
        expo_reason = RejectReason.UNDEREXPOSED
    else:
        expo = _rising(-m.brightness, -gate.max_brightness, -gate.good_brightness_high)
        expo_reason = RejectReason.OVEREXPOSED
    sharp = _rising(m.sharpness, gate.min_sharpness, gate.good_sharpness)
    pose = _rising(-m.nose_offset, -gate.max_nose_offset, -gate.good_nose_offset)
    scored = [
        (size, RejectReason.TOO_SMALL),
        (expo, expo_reason),
        (sharp, RejectReason.BLURRED),
        (pose, RejectReason.NOT_FRONTAL),
    ]
    reason = next((r for s, r in scored if s < 0.5), None)
    quality = min(s for s, _ in scored)
    return QualityReport(quality=quality, reject_reason=reason, metrics=m)


def _rising(x: float, bad: float, good: float) -> float:
    """0.5 at ``bad``, 1.0 at ``good`` and beyond, falling linearly to 0 below."""
    span = good - bad
    if x >= good:
        return 1.0
    if x >= bad:
        return 0.5 + 0.5 * (x - bad) / span
    return max(0.0, 0.5 - 0.5 * (bad - x) / span)
