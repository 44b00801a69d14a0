"""Moving vehicles seen by a fixed camera, found by background subtraction.

`MotionDetector.detect` turns one frame into vehicle boxes (`BoxTuple`, full-frame
pixels, x2/y2 exclusive) to feed a `capture.tracker.IouTracker`. Per frame:

1. grey, shrunk to `work_width` pixels wide, blurred;
2. gain: the frame is scaled so its median matches the background's, so a camera's
   auto exposure or a cloud darkening the whole view is not motion;
3. foreground: pixels farther from the background than `k_noise` times the frame's
   robust noise level (median absolute difference, at least `min_diff` grey levels);
4. morphology: an opening drops speckle, a closing joins a vehicle's parts;
5. blobs: connected parts of at least `min_area` of the frame; boxes closer than
   `merge_gap` (a share of the frame width) are merged, since one vehicle often
   splits where its windows are as dark as the road;
6. background update, time-based (so any sample rate behaves alike): pixels of
   the background follow the scene with time constant `background_s`; pixels under
   a blob with `hold_s`, so a vehicle that stops stays foreground for about that
   long and leaves no ghost behind when it drives off.

When more than `max_foreground` of the frame differs at once (a camera moved,
lights switched), the background is reset to that frame and nothing is returned.
The first frame only starts the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from capture.tracker import BoxTuple, IouTracker
from capture.types import Image

Grey = npt.NDArray[np.float32]
T = TypeVar("T")

VEHICLE_MIN_HITS = 3
"""Vehicle tracks seen in fewer sampled frames are noise (a shadow, a flicker)."""


def vehicle_tracker(*, max_gap: float) -> IouTracker[T]:
    """The IoU tracker settings for motion boxes: whole vehicles, at least 3 hits."""
    return IouTracker(iou_threshold=0.3, max_gap=max_gap, min_hits=VEHICLE_MIN_HITS)


@dataclass(frozen=True)
class MotionSettings:
    """Tuning of `MotionDetector` (see the module docstring for each step)."""

    work_width: int = 320
    min_area: float = 0.01
    merge_gap: float = 0.02
    k_noise: float = 4.0
    min_diff: float = 12.0
    background_s: float = 4.0
    hold_s: float = 120.0
    max_foreground: float = 0.6

    def __post_init__(self) -> None:
        if self.work_width < 32:
            raise ValueError(f"work_width must be at least 32 pixels, not {self.work_width}")
        if not 0 < self.min_area < 1 or not 0 <= self.merge_gap < 1:
            raise ValueError("min_area must be in (0, 1) and merge_gap in [0, 1)")
        if self.background_s <= 0 or self.hold_s < self.background_s:
            raise ValueError("need background_s > 0 and hold_s >= background_s")
        if not 0 < self.max_foreground <= 1 or self.k_noise <= 0 or self.min_diff < 0:
            raise ValueError("need 0 < max_foreground <= 1, k_noise > 0 and min_diff >= 0")


def merge_boxes(boxes: list[BoxTuple], gap: float) -> list[BoxTuple]:
    """Union boxes that overlap or lie within `gap` pixels of each other, until none do."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                dx = max(a[0], b[0]) - min(a[2], b[2])
                dy = max(a[1], b[1]) - min(a[3], b[3])
                if dx <= gap and dy <= gap:
                    merged[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(merged)


class MotionDetector:
    """Vehicle boxes of one fixed camera from frame differences to a learnt background."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._background: Grey | None = None
        self._last_time = 0.0
        self._scale = 1.0
        self.resets = 0

    def _grey(self, image: Image) -> Grey:
        h, w = image.shape[:2]
        self._scale = w / self.settings.work_width if w > self.settings.work_width else 1.0
        size = (round(w / self._scale), max(1, round(h / self._scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.float32)

    def detect(self, image: Image, timestamp: float) -> list[BoxTuple]:
        """Boxes of the moving vehicles in `image` (seconds `timestamp`, increasing)."""
        s = self.settings
        grey = self._grey(image)
        bg = self._background
        if bg is None or bg.shape != grey.shape:
            self._background, self._last_time = grey, timestamp
            return []
        gain = float(np.median(bg)) / max(float(np.median(grey)), 1.0)
        grey = grey * gain
        diff = np.abs(grey - bg)
        noise = 1.4826 * float(np.median(diff))
        mask = (diff > max(s.min_diff, s.k_noise * noise)).astype(np.uint8)
        if mask.mean() > s.max_foreground:
            self._background, self._last_time = grey, timestamp
            self.resets += 1
            return []
        w = grey.shape[1]
        small = max(3, round(w * 0.01) | 1)
        large = max(5, round(w * 0.03) | 1)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((small, small), np.uint8))
        mask = np.asarray(
            cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((large, large), np.uint8)), np.uint8
        )
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_pixels = s.min_area * mask.size
        boxes: list[BoxTuple] = []
        for x, y, bw, bh, area in stats[1:n]:
            if area * 4 >= min_pixels:  # small parts may still merge into a vehicle
                boxes.append((float(x), float(y), float(x + bw), float(y + bh)))
        boxes = [
            b
            for b in merge_boxes(boxes, s.merge_gap * w)
            if int(mask[int(b[1]) : int(b[3]), int(b[0]) : int(b[2])].sum()) >= min_pixels
        ]
        self._update(grey, mask, timestamp)
        k = self._scale
        return [(x1 * k, y1 * k, x2 * k, y2 * k) for x1, y1, x2, y2 in boxes]

    def _update(self, grey: Grey, mask: npt.NDArray[np.uint8], timestamp: float) -> None:
        s = self.settings
        dt = max(0.0, timestamp - self._last_time)
        self._last_time = timestamp
        fast = 1.0 - math.exp(-dt / s.background_s)
        slow = 1.0 - math.exp(-dt / s.hold_s)
        rate = np.where(mask > 0, np.float32(slow), np.float32(fast))
        bg = self._background
        if bg is not None:
            bg += rate * (grey - bg)
