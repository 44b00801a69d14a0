"""Pipeline face handling with our own fake encoder: driver chosen by seat, passengers dropped."""

from __future__ import annotations

import numpy as np
import pytest

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import LanePipeline
from recognition.types import Box, FaceObservation, Image


def _face(
    x1: float, size: float, *, quality: float = 0.9, reason: str | None = None, seed: int = 0
) -> FaceObservation:
    enc = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return FaceObservation(Box(x1, 100, x1 + size, 100 + size), enc, quality, reason)


class FakeFaces:
    """A FaceEncoder that returns the faces it was given, for every frame."""

    def __init__(self, faces: list[FaceObservation]) -> None:
        self.found = faces

    def faces(self, image: Image) -> list[FaceObservation]:
        return list(self.found)


def _lane(view: str, driving_side: str = "right") -> LaneConfig:
    return LaneConfig.model_validate(
        {
            "id": "f",
            "driving_side": driving_side,
            "vehicle_gap_s": 0.5,
            "cameras": [{"id": "f-drv", "role": "driver", "source": "x.mp4", "face_view": view}],
        }
    )


def _run(lane: LaneConfig, faces: list[FaceObservation]):  # type: ignore[no-untyped-def]
    pipe = LanePipeline(lane, detector=None, reader=None, faces=FakeFaces(faces))
    img = np.full((480, 640, 3), 128, np.uint8)
    for i in range(5):
        pipe.process(Frame("f-drv", i, 100.0 + 0.2 * i, img))
    return pipe.finish()


@pytest.mark.parametrize(
    ("view", "driving_side", "faces", "driver_x"),
    [
        # Booth camera at the driver's window: the nearest (largest) face is the driver.
        ("driver_side", "right", [_face(50, 150, seed=1), _face(400, 90, seed=2)], 50),
        # Windshield camera, right-hand traffic (left-hand drive): driver on the image's right.
        ("front", "right", [_face(60, 120, seed=1), _face(420, 120, seed=2)], 420),
        # Windshield camera, left-hand traffic (right-hand drive): driver on the image's left.
        ("front", "left", [_face(60, 120, seed=1), _face(420, 120, seed=2)], 60),
    ],
)
def test_driver_is_chosen_by_seat_and_passengers_are_dropped(
    view: str, driving_side: str, faces: list[FaceObservation], driver_x: float
) -> None:
    (crossing,) = _run(_lane(view, driving_side), faces)
    assert crossing.face_status == "captured"
    assert crossing.driver is not None
    assert crossing.driver.face.box.x1 == driver_x
    others = [f for f in faces if f.box.x1 != driver_x]
    assert not any(np.array_equal(crossing.driver.face.encoding, o.encoding) for o in others)


def test_unusable_driver_face_is_not_kept_and_the_crossing_says_why() -> None:
    (crossing,) = _run(_lane("driver_side"), [_face(50, 150, quality=0.2, reason="blurred")])
    assert crossing.driver is None
    assert crossing.face_status == "blurred"


def test_lone_face_in_passenger_seat_is_not_taken_as_driver() -> None:
    # Windshield camera, left-hand drive: a single face on the image's left is the passenger.
    crossings = _run(_lane("front", "right"), [_face(40, 120)])
    assert crossings == []  # no driver sighting, and no plate camera: no vehicle evidence at all
