"""Driver selection by seat position, passenger privacy, best face per vehicle.

Seat geometry: with a camera looking at the windshield (``camera="front"``)
the image is mirrored relative to the vehicle, so in a left-hand-drive vehicle
(``drive_side="left"``, driver in the vehicle's left seat) the driver appears
on the *right* of the image, and on the left for right-hand drive. With a
camera beside the lane on the driver's side (``camera="driver_side"``) the
driver is the nearest, i.e. the largest, face.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from recognition.faces.quality import RejectReason
from recognition.types import Box, FaceEncoder, FaceObservation, Image

log = logging.getLogger(__name__)

DriveSide = Literal["left", "right"]
"""The vehicle's side the driver sits on: "left" = left-hand drive (EU, US)."""

CameraView = Literal["front", "driver_side"]
"""Where the face camera looks from: "front" = through the windshield, facing
the vehicle; "driver_side" = through the driver's side window."""


@dataclass(frozen=True)
class SeatLayout:
    """Lane configuration for driver selection.

    ``front_row_ratio``: faces smaller than this fraction of the largest face's
    height are taken as rear-seat faces (never the driver). ``centre_margin``:
    with a front camera the driver's face must lie on the driver's half of the
    vehicle region, allowing this fraction of the region's width past the
    centre line; a lone face on the passenger side is not taken as the driver.
    """

    drive_side: DriveSide = "left"
    camera: CameraView = "front"
    front_row_ratio: float = 0.6
    centre_margin: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.front_row_ratio <= 1.0:
            raise ValueError("front_row_ratio must be in (0, 1]")
        if not 0.0 <= self.centre_margin < 0.5:
            raise ValueError("centre_margin must be in [0, 0.5)")

    @property
    def driver_direction(self) -> int:
        """+1 when the driver appears towards the image's right (front camera)."""
        return 1 if self.drive_side == "left" else -1


@dataclass(frozen=True)
class DriverSelection:
    """Faces of one frame split into the driver and the passengers.

    Passengers' encodings are dropped unless the site keeps them
    (``keep_passengers``): ``passenger_boxes`` always lists where they are (for
    blurring), ``passengers`` holds their observations only when kept.
    ``reason`` says why there is no usable driver face (None when there is).
    """

    driver: FaceObservation | None
    passenger_boxes: tuple[Box, ...]
    passengers: tuple[FaceObservation, ...]
    reason: RejectReason | None

    @property
    def usable(self) -> bool:
        return self.driver is not None and self.driver.reject_reason is None


@dataclass(frozen=True)
class DriverFace:
    """The best driver face over a vehicle's frames.

    ``face`` is the best usable driver face, or when none passed the quality
    gate the best rejected one (for audit; matching treats it as unknown), or
    None. ``reason`` is None exactly when ``face`` is usable.
    """

    face: FaceObservation | None
    frame_index: int | None
    reason: RejectReason | None
    n_frames: int

    @property
    def usable(self) -> bool:
        return self.reason is None


def select_driver(
    faces: Sequence[FaceObservation],
    *,
    region: Box,
    layout: SeatLayout,
    keep_passengers: bool = False,
) -> DriverSelection:
    """Pick the driver among ``faces`` found in the vehicle ``region``."""
    if not faces:
        return DriverSelection(None, (), (), RejectReason.NO_FACE)
    tallest = max(f.box.height for f in faces)
    front = [f for f in faces if f.box.height >= layout.front_row_ratio * tallest]
    driver: FaceObservation | None
    if layout.camera == "driver_side":
        driver = max(front, key=lambda f: f.box.area)
    else:
        mid = (region.x1 + region.x2) / 2.0
        sign = layout.driver_direction

        def towards_driver(f: FaceObservation) -> float:
            return sign * ((f.box.x1 + f.box.x2) / 2.0 - mid)

        best = max(front, key=towards_driver)
        driver = best if towards_driver(best) >= -layout.centre_margin * region.width else None
    others = tuple(f for f in faces if f is not driver)
    reason: RejectReason | None
    if driver is None:
        reason = RejectReason.DRIVER_NOT_FOUND
    elif driver.reject_reason is not None:
        reason = RejectReason(driver.reject_reason)
    else:
        reason = None
    log.debug("driver %s, %d passenger face(s)", "found" if driver else "not found", len(others))
    return DriverSelection(
        driver=driver,
        passenger_boxes=tuple(f.box for f in others),
        passengers=others if keep_passengers else (),
        reason=reason,
    )


def faces_in_region(
    encoder: FaceEncoder, image: Image, *, region: Box, pad: float = 0.05
) -> list[FaceObservation]:
    """Faces inside ``region`` (grown by ``pad`` of its size), in frame coordinates."""
    h, w = image.shape[:2]
    px, py = region.width * pad, region.height * pad
    r = Box(region.x1 - px, region.y1 - py, region.x2 + px, region.y2 + py).clip(w, h)
    x0, y0, x1, y1 = int(r.x1), int(r.y1), round(r.x2), round(r.y2)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    return [f.moved(x0, y0) for f in encoder.faces(crop)]


def best_driver_face(selections: Sequence[DriverSelection]) -> DriverFace:
    """The best driver face over one vehicle's frames, or why there is none.

    Usable faces win by quality (then size); without one the best rejected
    driver face is kept and its reject reason given; without any driver face
    the reason is ``driver_not_found`` when some frame had faces, else ``no_face``.
    """
    n = len(selections)
    if n == 0:
        return DriverFace(None, None, RejectReason.NO_FRAMES, 0)
    drivers = [(i, s.driver) for i, s in enumerate(selections) if s.driver is not None]
    if not drivers:
        any_faces = any(s.passenger_boxes for s in selections)
        reason = RejectReason.DRIVER_NOT_FOUND if any_faces else RejectReason.NO_FACE
        return DriverFace(None, None, reason, n)
    usable = [(i, f) for i, f in drivers if f.reject_reason is None]
    pool = usable or drivers
    i, face = max(pool, key=lambda t: (t[1].quality, t[1].box.area))
    if usable or face.reject_reason is None:
        return DriverFace(face, i, None, n)
    return DriverFace(face, i, RejectReason(face.reject_reason), n)


def driver_face(
    frames: Iterable[tuple[Image, Box]],
    *,
    encoder: FaceEncoder,
    layout: SeatLayout,
) -> DriverFace:
    """Detect, select and keep the best driver face over ``(frame, vehicle box)``
    pairs of one vehicle. Passengers' encodings are never kept here."""
    selections = [
        select_driver(faces_in_region(encoder, image, region=region), region=region, layout=layout)
        for image, region in frames
    ]
    return best_driver_face(selections)


def capture_rate(results: Sequence[DriverFace]) -> float | None:
    """Share of vehicles with a usable driver face (None for no vehicles)."""
    if not results:
        return None
    return sum(r.usable for r in results) / len(results)


def blur_faces(image: Image, boxes: Iterable[Box], *, pad: float = 0.15) -> Image:
    """A copy of ``image`` with every box made unrecognisable.

    Each (padded) box is pixelated to at most 6x6 blocks and then smoothed, so
    no detail that an encoder could use survives.
    """
    out = image.copy()
    h, w = out.shape[:2]
    for box in boxes:
        px, py = box.width * pad, box.height * pad
        b = Box(box.x1 - px, box.y1 - py, box.x2 + px, box.y2 + py).clip(w, h)
        x0, y0, x1, y1 = int(b.x1), int(b.y1), round(b.x2), round(b.y2)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        roi = out[y0:y1, x0:x1]
        small = cv2.resize(
            roi, (min(6, roi.shape[1]), min(6, roi.shape[0])), interpolation=cv2.INTER_AREA
        )
        block = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(roi.shape[:2]) // 4) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(block, (k, k), 0)
    return out


def blur_passengers(image: Image, selection: DriverSelection) -> Image:
    """A copy of ``image`` with every face but the driver's blurred."""
    return blur_faces(image, selection.passenger_boxes)
