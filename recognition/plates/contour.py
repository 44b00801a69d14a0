"""A classical plate finder: bright, plate-shaped rectangles that hold dark strokes.

A baseline and a fallback when no trained model is available; the YOLO
detector (recognition.plates.detector) is the one to use in lanes.
"""

from __future__ import annotations

import cv2
import numpy as np

from recognition.types import Box, Image, PlateDetection


class ContourPlateDetector:
    """Implements recognition.types.PlateDetector."""

    def __init__(
        self,
        *,
        min_width: int = 30,
        aspect: tuple[float, float] = (1.8, 6.5),
        ink: tuple[float, float] = (0.08, 0.6),
    ) -> None:
        self.min_width = min_width
        self.aspect = aspect
        self.ink = ink

    def detect(self, image: Image) -> list[PlateDetection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        _, bright = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        # Close the plate's dark characters so the plate is one bright blob.
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 5))
        closed = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(closed, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        found: list[PlateDetection] = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w < self.min_width or h < 8:
                continue
            ratio = w / h
            if not self.aspect[0] <= ratio <= self.aspect[1]:
                continue
            fill = cv2.contourArea(c) / float(w * h)
            if fill < 0.75:
                continue
            inner = bright[y + h // 6 : y + h - h // 6, x + w // 12 : x + w - w // 12]
            if inner.size == 0:
                continue
            ink = 1.0 - float(np.count_nonzero(inner)) / inner.size
            if not self.ink[0] <= ink <= self.ink[1]:
                continue
            score = min(1.0, fill) * (1.0 - abs(ink - 0.3))
            found.append(PlateDetection(Box(x, y, x + w, y + h), float(score)))
        found.sort(key=lambda d: -d.score)
        kept: list[PlateDetection] = []
        for d in found:
            if all(d.box.iou(k.box) < 0.3 for k in kept):
                kept.append(d)
        return kept
