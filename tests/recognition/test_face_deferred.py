"""Deferred face encodings: a lane encodes only the face it keeps per vehicle."""

from __future__ import annotations

import numpy as np
import pytest

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import LanePipeline
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.types import Box, FaceObservation, Image
from tests.recognition import test_faces_fixtures as fx


class Counted:
    """An encoding function that counts its calls."""

    def __init__(self, seed: int) -> None:
        self.calls = 0
        self.value = np.random.default_rng(seed).normal(size=128).astype(np.float32)

    def __call__(self) -> np.ndarray:  # type: ignore[type-arg]
        self.calls += 1
        return self.value


def test_an_observation_needs_an_encoding_or_a_way_to_compute_it() -> None:
    with pytest.raises(ValueError, match="encoding"):
        FaceObservation(Box(0, 0, 10, 10), None, 0.9)


def test_a_deferred_encoding_is_computed_once_on_first_use_and_shared_when_moved() -> None:
    enc = Counted(1)
    face = FaceObservation(Box(0, 0, 10, 10), None, 0.9, encode=enc)
    moved = face.moved(5, 7)
    assert (moved.box.x1, moved.box.y1, moved.box.x2, moved.box.y2) == (5, 7, 15, 17)
    assert not face.encoded and not moved.encoded and enc.calls == 0
    assert np.array_equal(moved.encoding, enc.value)
    assert np.array_equal(face.encoding, enc.value)
    assert enc.calls == 1 and face.encoded and moved.encoded
    assert "encoded=True" in repr(face)


class DeferringFaces:
    """A FaceEncoder whose faces are encoded only when asked, counting each encoding.

    Frame i shows the driver (windshield camera, left-hand drive: image right) with a
    quality growing over the frames, and a passenger on the left."""

    def __init__(self) -> None:
        self.frame = 0
        self.encodings: list[Counted] = []

    def faces(self, image: Image) -> list[FaceObservation]:
        self.frame += 1
        out = []
        for x1, quality in ((420.0, 0.5 + 0.05 * self.frame), (60.0, 0.9)):
            enc = Counted(len(self.encodings))
            self.encodings.append(enc)
            out.append(FaceObservation(Box(x1, 100, x1 + 120, 220), None, quality, encode=enc))
        return out


def test_the_lane_encodes_only_the_kept_driver_face_of_each_vehicle() -> None:
    lane = LaneConfig.model_validate(
        {
            "id": "f",
            "vehicle_gap_s": 0.5,
            "cameras": [{"id": "f-drv", "role": "driver", "source": "x.mp4", "face_view": "front"}],
        }
    )
    faces = DeferringFaces()
    pipe = LanePipeline(lane, detector=None, reader=None, faces=faces)
    img = np.full((480, 640, 3), 128, np.uint8)
    for i in range(6):
        pipe.process(Frame("f-drv", i, 100.0 + 0.2 * i, img))
    (crossing,) = pipe.finish()
    assert crossing.face_status == "captured" and crossing.driver is not None
    assert crossing.driver.face.box.x1 == 420.0  # the driver, from the best (last) frame
    # 12 faces were seen (6 drivers, 6 passengers); the kept face is encoded when it is
    # used, and no other face ever is.
    assert sum(e.calls for e in faces.encodings) == 0
    kept = crossing.driver.face.encoding
    assert [e.calls for e in faces.encodings] == [0] * 10 + [1, 0]
    assert np.array_equal(kept, faces.encodings[10].value)


def test_a_real_deferred_encoder_gives_the_same_encoding_later() -> None:
    img: Image = fx.astronaut()
    for kind in ("dlib", "sface"):
        eager = FaceRecognitionEncoder(detector="yunet", encoder=kind)  # type: ignore[arg-type]
        lazy = FaceRecognitionEncoder(detector="yunet", encoder=kind, defer=True)  # type: ignore[arg-type]
        (a,) = eager.faces(img)
        (b,) = lazy.faces(img)
        assert a.encoded and not b.encoded
        assert (a.box, a.quality, a.reject_reason) == (b.box, b.quality, b.reject_reason)
        assert np.allclose(a.encoding, b.encoding, atol=1e-5), kind
