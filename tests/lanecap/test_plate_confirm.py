"""Low-scoring plate candidates: kept only when the reader is sure, and not re-read when still."""

from __future__ import annotations

import numpy as np

from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import STALL_S, LanePipeline
from recognition.plates.confirm import confirms
from recognition.types import Box, Image, PlateDetection, PlateRead

LANE = LaneConfig.model_validate(
    {
        "id": "cf-lane",
        "vehicle_gap_s": 1.0,
        "cameras": [{"id": "cf-front", "role": "front_plate", "source": "x.mp4"}],
    }
)
SIGN = Box(10, 10, 60, 30)  # a road sign: low score, always in the same place


class TwoCandidates:
    """A sign at a low score in every frame, and a plate at `plate_score` that moves."""

    def __init__(self, plate_score: float) -> None:
        self.plate_score = plate_score
        self.n = 0

    def detect(self, image: Image) -> list[PlateDetection]:
        self.n += 1
        y = 100 + 4 * self.n
        plate = PlateDetection(Box(120, y, 240, y + 40), self.plate_score)
        return [PlateDetection(SIGN, 0.3), plate]


class ByWidth:
    """Reads the sign as TAXI and the plate as 7CID930, both sure."""

    def __init__(self) -> None:
        self.calls = {"TAXI": 0, "7CID930": 0}

    def read(self, crop: Image) -> PlateRead | None:
        text = "TAXI" if crop.shape[1] < 80 else "7CID930"
        self.calls[text] += 1
        return PlateRead(text, 0.97, (0.97,) * len(text), "us")


def _run(plate_score: float, frames: int = 8) -> tuple[list[str], dict[str, int]]:
    reader = ByWidth()
    pipe = LanePipeline(LANE, detector=TwoCandidates(plate_score), reader=reader, faces=None)
    img = np.full((240, 320, 3), 128, np.uint8)
    for i in range(frames):
        pipe.process(Frame("cf-front", i, 100.0 + 0.2 * i, img))
    return [c.plate.text for c in pipe.finish() if c.plate is not None], reader.calls


def test_a_sure_read_confirms_a_low_scoring_plate_and_a_sign_is_read_once() -> None:
    texts, calls = _run(plate_score=0.3)
    assert texts == ["7CID930"]  # one crossing: the sign made none
    assert calls["TAXI"] == 1  # rejected once, then remembered while it stays put
    assert calls["7CID930"] == 8  # a low candidate is read in every frame it is kept


def test_a_confident_detection_needs_no_confirmation() -> None:
    texts, calls = _run(plate_score=0.9)
    assert texts == ["7CID930"]
    assert calls["7CID930"] == 3  # read until settled


def test_what_confirms() -> None:
    def read(text: str, conf: float = 0.95, region: str | None = "us") -> PlateRead:
        return PlateRead(text, conf, (conf,) * len(text), region)

    assert confirms(read("08E6CK"))
    assert not confirms(read("08E6CK", conf=0.8))  # a character unsure
    assert not confirms(read("08E6CK", region=None))  # no format fits
    assert not confirms(read("TAXI"))  # too short
    assert not confirms(read("20140512"))  # digits only: a timestamp
    assert not confirms(read("EXITONLY"))  # letters only: a sign
    assert not confirms(None)


def test_a_node_behind_its_frames_does_not_split_a_vehicle() -> None:
    # the node polls with the wall clock 1.5 s ahead of the frame it is on (a backlog
    # longer than vehicle_gap_s): the vehicle is still in the queued frames
    reader = ByWidth()
    pipe = LanePipeline(LANE, detector=TwoCandidates(0.9), reader=reader, faces=None)
    img = np.full((240, 320, 3), 128, np.uint8)
    out = []
    for i in range(12):
        t = 100.0 + 0.2 * i
        pipe.process(Frame("cf-front", i, t, img))
        out += pipe.poll(t + 1.5)
    assert out == []  # still in view in the last frame analysed
    # the camera then stalls: by the wall clock, its vehicle has left
    out += pipe.poll(100.0 + 0.2 * 11 + STALL_S - 0.1)
    assert out == []
    out += pipe.poll(100.0 + 0.2 * 11 + STALL_S + 0.1)
    assert [c.plate.text for c in out if c.plate] == ["7CID930"]


def test_a_crossing_shows_the_calibrated_chance_and_flags_check_plate() -> None:
    from recognition.plates.calibrate import Calibration

    img = np.full((240, 320, 3), 128, np.uint8)
    results = {}
    for name, exact in (("sure", (0.5, 0.99)), ("unsure", (0.1, 0.6))):
        cal = Calibration(scores=(0.5, 1.0), exact=exact, fitted_on=name, n=100)
        pipe = LanePipeline(
            LANE, detector=TwoCandidates(0.9), reader=ByWidth(), faces=None, calibration=cal
        )
        for i in range(8):
            pipe.process(Frame("cf-front", i, 100.0 + 0.2 * i, img))
        (c,) = [c for c in pipe.finish() if c.plate is not None]
        assert c.plate is not None
        results[name] = (round(c.plate.confidence, 3), "check_plate" in c.plate_flags)
    # raw vote 0.97 (three agreeing sure reads) -> the table's chance at 0.97
    assert results["sure"][0] > 0.9 and not results["sure"][1]
    assert results["unsure"][0] < 0.6 and results["unsure"][1]
