"""Live previews on the lane node: which plate tracks are announced, and when."""

from __future__ import annotations

import numpy as np

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import LanePipeline
from lanecap.preview import LiveAnnouncer
from recognition.types import Box, Image, PlateDetection, PlateRead

LANE = LaneConfig.model_validate(
    {
        "id": "pv-lane",
        "vehicle_gap_s": 1.0,
        "cameras": [{"id": "pv-front", "role": "front_plate", "source": "x.mp4"}],
    }
)


class BlobDetector:
    """A plate wherever the frame is bright: one box, fixed place."""

    def detect(self, image: Image) -> list[PlateDetection]:
        return [PlateDetection(Box(100, 100, 200, 130), 0.9)] if image.mean() > 10 else []


class ScriptedReader:
    """Reads the texts given, one per call, in order."""

    def __init__(self, texts: list[str | None]) -> None:
        self.texts = list(texts)

    def read(self, crop: Image) -> PlateRead | None:
        text = self.texts.pop(0)
        return None if text is None else PlateRead(text, 0.9, (0.9,) * len(text))


def _frame(t: float, *, car: bool) -> Frame:
    img = np.full((240, 320, 3), 200 if car else 0, dtype=np.uint8)
    return Frame(camera_id="pv-front", index=int(t * 5), timestamp=t, image=img)


def _run(texts: list[str | None], car_frames: int, after: int = 10) -> list[tuple[float, str]]:
    pipe = LanePipeline(LANE, detector=BlobDetector(), reader=ScriptedReader(texts), faces=None)
    live = LiveAnnouncer(pipe, min_reads=2)
    said: list[tuple[float, str]] = []
    t = 1000.0
    for i in range(car_frames + after):
        t = 1000.0 + 0.2 * i
        pipe.process(_frame(t, car=i < car_frames))
        said += [(t, r.vote.text) for r in live.poll()]
        pipe.poll(t)
    return said


def test_announced_once_the_second_read_agrees_and_never_repeated() -> None:
    said = _run(["AB123"] * 8, car_frames=8)
    # the second frame of the vehicle (t = 1000.2) gives the first preview; the same
    # vote is not announced again while the vehicle stays
    assert said == [(1000.2, "AB123")]


def test_a_changed_vote_is_announced_again() -> None:
    said = _run(["AB123", "AB123", "XY999", "XY999", "XY999", "XY999"], car_frames=6)
    assert [text for _, text in said] == ["AB123", "XY999"]


def test_nothing_is_announced_without_two_reads() -> None:
    assert _run(["AB123", None, None, None], car_frames=4) == []


def test_a_second_vehicle_gets_its_own_preview() -> None:
    pipe = LanePipeline(
        LANE, detector=BlobDetector(), reader=ScriptedReader(["AAA111"] * 3 + ["BBB222"] * 3),
        faces=None,
    )  # fmt: skip
    live = LiveAnnouncer(pipe)
    said = []
    frames = [True] * 3 + [False] * 10 + [True] * 3 + [False] * 10
    for i, car in enumerate(frames):
        t = 2000.0 + 0.2 * i
        pipe.process(_frame(t, car=car))
        said += [r for r in live.poll()]
        pipe.poll(t)
    assert [r.vote.text for r in said] == ["AAA111", "BBB222"]
    assert said[0].track_id != said[1].track_id
    assert said[0].crop.size > 0


def test_the_driver_face_joins_the_preview_once_it_is_seen() -> None:
    from lanecap.api.testing import CodeFaceEncoder, face_image

    lane = LaneConfig.model_validate(
        {
            "id": "pv-lane",
            "vehicle_gap_s": 1.0,
            "cameras": [
                {"id": "pv-front", "role": "front_plate", "source": "x.mp4"},
                {"id": "pv-driver", "role": "driver", "source": "y.mp4"},
            ],
        }
    )
    pipe = LanePipeline(
        lane, detector=BlobDetector(), reader=ScriptedReader(["AB123"] * 8),
        faces=CodeFaceEncoder(),
    )  # fmt: skip
    live = LiveAnnouncer(pipe)
    said = []
    for i in range(8):
        t = 3000.0 + 0.2 * i
        pipe.process(_frame(t, car=True))
        face = face_image(5) if i >= 3 else np.zeros((120, 120, 3), np.uint8)
        pipe.process(Frame(camera_id="pv-driver", index=i, timestamp=t, image=face))
        said += live.poll()
    # first the plate alone, then once more when the driver's face is in view; no more
    assert [(r.vote.text, r.face is not None) for r in said] == [("AB123", False), ("AB123", True)]
    face_read = said[1].face
    assert face_read is not None and face_read.camera_id == "pv-driver"


class CountingReader(ScriptedReader):
    def __init__(self, texts: list[str | None], confidence: float = 0.9) -> None:
        super().__init__(texts)
        self.calls = 0
        self.confidence = confidence

    def read(self, crop: Image) -> PlateRead | None:
        self.calls += 1
        text = self.texts.pop(0)
        return None if text is None else PlateRead(text, self.confidence, (0.9,) * len(text))


def _count_reads(reader: CountingReader, settle: int, frames: int = 10) -> tuple[int, list[str]]:
    pipe = LanePipeline(
        LANE, detector=BlobDetector(), reader=reader, faces=None, settle_reads=settle
    )
    for i in range(frames):
        pipe.process(_frame(5000.0 + 0.2 * i, car=True))
    return reader.calls, [c.plate.text for c in pipe.finish() if c.plate is not None]


def test_a_settled_plate_is_not_read_again() -> None:
    # three confident reads that agree settle the vehicle: its other frames are not read
    assert _count_reads(CountingReader(["AB123"] * 10), settle=3) == (3, ["AB123"])
    assert _count_reads(CountingReader(["AB123"] * 10), settle=0) == (10, ["AB123"])
    # reads that disagree, or are unsure, keep the reader going
    mixed = ["AB123", "AB128", "AB123"] + ["AB123"] * 7
    assert _count_reads(CountingReader(mixed), settle=3)[0] == 5
    # unsure reads go on for READS_BEFORE_GROWTH frames, then only while the plate grows
    assert _count_reads(CountingReader(["AB123"] * 10, confidence=0.6), settle=3)[0] == 6


class GrowingDetector:
    """A plate 10 % taller at each frame (a vehicle approaching)."""

    def __init__(self) -> None:
        self.h = 20.0

    def detect(self, image: Image) -> list[PlateDetection]:
        self.h *= 1.1
        return [PlateDetection(Box(100, 100, 100 + 3 * self.h, 100 + self.h), 0.9)]


def test_an_unsure_plate_is_read_again_only_when_it_has_grown() -> None:
    reader = CountingReader(["AB123"] * 12, confidence=0.6)
    pipe = LanePipeline(LANE, detector=GrowingDetector(), reader=reader, faces=None)
    for i in range(12):
        pipe.process(_frame(6000.0 + 0.2 * i, car=True))
    # six reads, then every third frame (three frames of 10 % growth pass the 25 % bar)
    assert reader.calls == 8
