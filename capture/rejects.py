"""Boxes a camera has rejected lately, so a still object is not re-examined every frame."""

from __future__ import annotations

from capture.tracker import BoxTuple, iou

SAME_PLACE_IOU = 0.8
FORGET_AFTER_S = 2.0


class RejectedBoxes:
    """Remembers rejected boxes; a box in the same place is rejected again without a look.

    A remembered box is forgotten FORGET_AFTER_S after it was last matched, so an
    object that stays put stays skipped, and one that moves (IoU below
    SAME_PLACE_IOU) is looked at again.
    """

    def __init__(self) -> None:
        self._boxes: list[tuple[BoxTuple, float]] = []

    def add(self, box: BoxTuple, now: float) -> None:
        self._boxes.append((box, now))

    def covers(self, box: BoxTuple, now: float) -> bool:
        """Whether `box` is where a rejected box was; refreshes that memory."""
        self._boxes = [(b, t) for b, t in self._boxes if now - t <= FORGET_AFTER_S]
        for i, (b, _) in enumerate(self._boxes):
            if iou(b, box) >= SAME_PLACE_IOU:
                self._boxes[i] = (b, now)
                return True
        return False
