"""Cameras with `vehicles = "motion"`: one crossing per vehicle, plate or no plate."""

from __future__ import annotations

import time
from itertools import combinations, pairwise

import numpy as np

from capture.sources import open_source
from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import Crossing, LanePipeline
from recognition.plates.calibrate import Calibration
from recognition.types import Box, Image, PlateDetection, PlateRead
from tests.conftest import shared_data

STREET_CARS = 4
"""Cars in the street clip, counted by eye on frames sampled every 5 (0.4 s): a white
car up the frame (about 4.4-9.2 s), a silver car down and a red car up side by side
(14-19 s), a white car down (25-28 s)."""


def _lane(camera: dict[str, object]) -> LaneConfig:
    return LaneConfig.model_validate(
        {"id": "m", "vehicle_gap_s": 1.5, "cameras": [{"id": "m-cam", "source": "x.mp4", **camera}]}
    )


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy / max(1.0, min(a.area, b.area))


def _same_vehicle_twice(crossings: list[Crossing]) -> list[tuple[int, int]]:
    """Pairs of crossings with a box each at one instant that overlap (one vehicle split)."""
    pairs = []
    for (i, a), (j, b) in combinations(enumerate(crossings), 2):
        boxes_b = {v.timestamp: v.box for v in b.vehicles}
        if any(
            v.timestamp in boxes_b and _overlap(v.box, boxes_b[v.timestamp]) > 0.1
            for v in a.vehicles
        ):
            pairs.append((i, j))
    return pairs


def test_street_clip_one_crossing_per_car() -> None:
    clip = shared_data("video", "car-detection.mp4")
    pipe = LanePipeline(
        _lane({"role": "overview", "vehicles": "motion", "sample_fps": 5}),
        detector=None,
        reader=None,
        faces=None,
    )
    crossings: list[Crossing] = []
    frames = 0
    spent = 0.0
    with open_source(str(clip), camera_id="m-cam", sample_fps=5, start_time=1000.0) as src:
        for frame in src:
            start = time.perf_counter()
            pipe.process(frame)
            spent += time.perf_counter() - start
            crossings += pipe.poll(frame.timestamp)
            frames += 1
    crossings += pipe.finish()
    print(f"street clip: {len(crossings)} crossings, {frames} frames, "
          f"{1000 * spent / frames:.1f} ms a frame")  # fmt: skip
    assert STREET_CARS - 1 <= len(crossings) <= STREET_CARS + 1
    assert _same_vehicle_twice(crossings) == []
    for c in crossings:
        assert c.plate_flags == ("no_plate_seen",) and c.plate is None
        assert len(c.vehicles) >= 3 and c.ended_at - c.started_at >= 1.0
    # the side-by-side pair overlaps in time and is still two crossings
    spans = sorted((c.started_at, c.ended_at) for c in crossings)
    assert any(b[0] < a[1] for a, b in pairwise(spans))
    assert len({c.id for c in crossings}) == len(crossings)


W, H = 640, 360
CAR = (70, 120)


def _frame(t: float, cars: list[tuple[float, float]], rng: np.random.Generator) -> Image:
    img = np.full((H, W), 90.0, np.float32) + rng.normal(0, 3, (H, W)).astype(np.float32)
    for x, y in cars:
        y1, x1 = max(0, round(y)), max(0, round(x))
        img[y1 : max(0, round(y) + CAR[1]), x1 : max(0, round(x) + CAR[0])] = 210.0
    grey = np.clip(img, 0, 255).astype(np.uint8)
    return np.asarray(np.repeat(grey[:, :, None], 3, axis=2), dtype=np.uint8)


class BrightPlate:
    """A fake detector: a plate at the bottom of each bright (car) column band."""

    def detect(self, image: Image) -> list[PlateDetection]:
        cols = np.where((image[:, :, 0] > 180).sum(axis=0) > 40)[0]
        if cols.size == 0:
            return []
        rows = np.where(image[:, cols[0], 0] > 180)[0]
        x1, y2 = float(cols[0]) + 10, float(rows[-1]) - 5
        return [PlateDetection(Box(x1, y2 - 20, x1 + 50, y2), 0.9)]


class FixedReader:
    def read(self, crop: Image) -> PlateRead | None:
        return PlateRead("ABC123", 0.9, (0.9,) * 6)


def _drive(pipe: LanePipeline, cars_at: list[float], xs: list[float]) -> list[Crossing]:
    rng = np.random.default_rng(0)
    out: list[Crossing] = []
    for k in range(60):
        t = 100.0 + k * 0.2
        cars = [(x, H - (t - 100.0 - s) * 150) for s, x in zip(cars_at, xs, strict=True)]
        visible = [(x, y) for x, y in cars if -CAR[1] < y < H]
        pipe.process(Frame("m-cam", k, t, _frame(t, visible, rng)))
        out += pipe.poll(t)
    return out + pipe.finish()


def test_two_cars_side_by_side_are_two_crossings() -> None:
    lane = _lane({"role": "overview", "vehicles": "motion"})
    pipe = LanePipeline(lane, detector=None, reader=None, faces=None)
    crossings = _drive(pipe, [1.0, 1.4], [150.0, 360.0])
    assert len(crossings) == 2
    assert all(c.plate_flags == ("no_plate_seen",) for c in crossings)
    assert _same_vehicle_twice(crossings) == []


def test_plate_and_motion_of_one_car_are_one_crossing() -> None:
    lane = _lane({"role": "overview", "vehicles": "motion"})
    pipe = LanePipeline(
        lane,
        detector=BrightPlate(),
        reader=FixedReader(),
        faces=None,
        calibration=Calibration.identity(),  # raw 0.9: no check_plate flag here
    )
    crossings = _drive(pipe, [1.0], [250.0])
    assert len(crossings) == 1
    c = crossings[0]
    assert c.plate is not None and c.plate.text == "ABC123" and c.plate_flags == ()
    assert c.vehicles and c.plates


def test_motion_off_is_the_default_and_keeps_plate_crossings() -> None:
    lane = _lane({"role": "overview"})
    assert lane.cameras[0].vehicles == "off"
    pipe = LanePipeline(
        lane,
        detector=BrightPlate(),
        reader=FixedReader(),
        faces=None,
        calibration=Calibration.identity(),  # raw 0.9: no check_plate flag here
    )
    crossings = _drive(pipe, [1.0], [250.0])
    assert len(crossings) == 1 and crossings[0].vehicles == ()
