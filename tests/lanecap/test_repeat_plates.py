"""A plate seen again just after its crossing is the same vehicle, not a second crossing."""

from __future__ import annotations

import numpy as np

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import Crossing, LanePipeline
from recognition.types import Box, Image, PlateDetection, PlateRead


def _lane(window: float) -> LaneConfig:
    return LaneConfig.model_validate(
        {
            "id": "rp-lane",
            "vehicle_gap_s": 1.0,
            "repeat_window_s": window,
            "cameras": [{"id": "rp-front", "role": "front_plate", "source": "x.mp4"}],
        }
    )


class BlobDetector:
    def detect(self, image: Image) -> list[PlateDetection]:
        return [PlateDetection(Box(100, 100, 200, 130), 0.9)] if image.mean() > 10 else []


class TextReader:
    """Reads whatever text the test says the plate in view now shows."""

    text = ""

    def read(self, crop: Image) -> PlateRead | None:
        return PlateRead(self.text, 0.95, (0.95,) * len(self.text))


def _drive(window: float, script: list[tuple[str, int]]) -> tuple[list[Crossing], LanePipeline]:
    """script: (plate text, frames in view) per sighting, with 8 empty frames (1.6 s) after
    each; 5 fps."""
    reader = TextReader()
    pipe = LanePipeline(_lane(window), detector=BlobDetector(), reader=reader, faces=None)
    out: list[Crossing] = []
    i = 0
    for text, frames in script:
        reader.text = text
        for k in range(frames + 8):
            t = 1000.0 + 0.2 * i
            img = np.full((240, 320, 3), 200 if k < frames else 0, dtype=np.uint8)
            pipe.process(Frame(camera_id="rp-front", index=i, timestamp=t, image=img))
            out += pipe.poll(t)
            i += 1
    return out + pipe.finish(), pipe


def test_the_same_plate_again_within_the_window_is_not_a_second_crossing() -> None:
    found, pipe = _drive(10.0, [("AB1234", 6), ("AB1234", 2), ("XY9876", 5)])
    assert [c.plate.text for c in found if c.plate] == ["AB1234", "XY9876"]
    assert pipe.repeats_dropped == 1


def test_the_same_plate_after_the_window_or_with_it_off_is_a_new_crossing() -> None:
    found, _ = _drive(1.0, [("AB1234", 6), ("AB1234", 2)])  # 1.6 s apart > 1 s
    assert [c.plate.text for c in found if c.plate] == ["AB1234", "AB1234"]
    found, pipe = _drive(0.0, [("AB1234", 6), ("AB1234", 4)])
    assert len(found) == 2 and pipe.repeats_dropped == 0


def test_another_plate_in_between_ends_the_repeat() -> None:
    found, _ = _drive(30.0, [("AB1234", 5), ("XY9876", 5), ("AB1234", 5)])
    assert [c.plate.text for c in found if c.plate] == ["AB1234", "XY9876", "AB1234"]
