"""Motion vehicles: rendered cars over a textured road -> exactly one track per car."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from capture.motion import MotionDetector, MotionSettings, merge_boxes, vehicle_tracker
from capture.tracker import IouTracker
from capture.types import Image

W, H = 640, 360
FPS = 5.0
CAR_W, CAR_H = 70, 120  # 3.6 % of the frame, like a car seen from above

Car = tuple[float, float]
"""(x, y) of a car's top-left corner in one frame."""


def _road(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(0, 12, (H, W)).astype(np.float32), (0, 0), 3)
    return np.float32(95) + texture + np.linspace(-10, 10, W, dtype=np.float32)[None, :]


def _render(road: np.ndarray, cars: list[Car], *, light: float, rng: np.random.Generator) -> Image:
    img = road.copy()
    for x, y in cars:
        x1, y1 = round(x), round(y)
        img[max(0, y1) : max(0, y1 + CAR_H), max(0, x1) : max(0, x1 + CAR_W)] = 205
        # a windscreen about as dark as the road splits the body in two
        wy = y1 + CAR_H // 3
        img[max(0, wy) : max(0, wy + 14), max(0, x1 + 6) : max(0, x1 + CAR_W - 6)] = 85
    img = img * light + rng.normal(0, 4, img.shape).astype(np.float32)
    grey = np.clip(img, 0, 255).astype(np.uint8)
    return np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def _run(
    seconds: float,
    cars_at: Callable[[float], list[Car]],
    light_at: Callable[[float], float] = lambda t: 1.0,
) -> tuple[int, list[list[float]]]:
    """Track a rendered scene; returns (tracks kept, each track's observation times)."""
    rng = np.random.default_rng(1)
    road = _road()
    detector = MotionDetector()
    tracker: IouTracker[None] = vehicle_tracker(max_gap=1.5)
    for k in range(int(seconds * FPS)):
        t = k / FPS
        frame = _render(road, cars_at(t), light=light_at(t), rng=rng)
        tracker.update(t, [(b, None) for b in detector.detect(frame, t)])
    tracks = tracker.flush()
    return len(tracks), [[o.timestamp for o in tr.observations] for tr in tracks]


def _driving(start: float, *, x: float, speed: float = 150.0) -> Callable[[float], list[Car]]:
    """A car driving up the frame from below the bottom edge, entering at `start`."""

    def at(t: float) -> list[Car]:
        y = H - (t - start) * speed
        return [(x, y)] if t >= start and y > -CAR_H else []

    return at


def _scene(*parts: Callable[[float], list[Car]]) -> Callable[[float], list[Car]]:
    return lambda t: [c for p in parts for c in p(t)]


def test_cars_one_after_another() -> None:
    cars = _scene(_driving(1.0, x=200), _driving(6.0, x=300), _driving(11.0, x=250))
    n, _ = _run(16, cars)
    assert n == 3


def test_two_cars_close_behind_each_other() -> None:
    # the second car follows 45 pixels (0.07 of the frame width) behind the first
    gap_s = (CAR_H + 45) / 150.0
    n, _ = _run(8, _scene(_driving(1.0, x=280), _driving(1.0 + gap_s, x=280)))
    assert n == 2


def test_two_cars_side_by_side() -> None:
    n, _ = _run(8, _scene(_driving(1.0, x=150), _driving(1.3, x=150 + CAR_W + 40)))
    assert n == 2


def test_car_that_stops_then_leaves_is_one_track() -> None:
    def cars(t: float) -> list[Car]:
        if t < 1.0:
            return []
        stop_y = 150.0
        y = H - (t - 1.0) * 150.0
        if y <= stop_y:  # reached the booth: waits 12 s (3x the background time), then goes
            waited = t - 1.0 - (H - stop_y) / 150.0
            y = stop_y if waited < 12.0 else stop_y - (waited - 12.0) * 150.0
        return [(260.0, y)] if y > -CAR_H else []

    n, times = _run(20, cars)
    assert n == 1
    assert times[0][-1] - times[0][0] > 12.0  # the stop is inside the one track


@pytest.mark.parametrize(
    "light",
    [lambda t: 1.0, lambda t: 1.0 if t < 3 else 0.7, lambda t: 1.0 + 0.04 * t,
     lambda t: 1.0 if int(t) % 4 < 2 else 1.3],
    ids=["noise", "step-darker", "slow-brighter", "flicker"],
)  # fmt: skip
def test_noise_and_lighting_make_no_track(light: Callable[[float], float]) -> None:
    n, _ = _run(10, lambda t: [], light)
    assert n == 0


def test_lighting_step_while_a_car_passes() -> None:
    n, _ = _run(8, _driving(1.0, x=250), lambda t: 1.0 if t < 2.0 else 0.6)
    assert n == 1


def test_boxes_are_in_full_frame_pixels() -> None:
    rng = np.random.default_rng(0)
    road = _road()
    detector = MotionDetector()
    assert detector.detect(_render(road, [], light=1.0, rng=rng), 0.0) == []
    boxes = detector.detect(_render(road, [(300.0, 100.0)], light=1.0, rng=rng), 0.2)
    assert len(boxes) == 1
    x1, y1, x2, y2 = boxes[0]
    assert abs(x1 - 300) <= 8 and abs(y1 - 100) <= 8
    assert abs(x2 - (300 + CAR_W)) <= 8 and abs(y2 - (100 + CAR_H)) <= 8


def test_merge_boxes() -> None:
    near = [(0.0, 0.0, 10.0, 10.0), (12.0, 0.0, 20.0, 10.0), (50.0, 0.0, 60.0, 10.0)]
    assert merge_boxes(near, 3.0) == [(0.0, 0.0, 20.0, 10.0), (50.0, 0.0, 60.0, 10.0)]
    assert len(merge_boxes(near, 1.0)) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"work_width": 8}, {"min_area": 0.0}, {"merge_gap": 1.0}, {"background_s": 0.0},
     {"hold_s": 1.0}, {"max_foreground": 0.0}],
)  # fmt: skip
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        MotionSettings(**kwargs)  # type: ignore[arg-type]


def test_grouper_keeps_concurrent_exclusive_tracks_of_one_camera_apart() -> None:
    from capture.fusion import CrossingGrouper
    from capture.tracker import Observation, Track

    def track(tid: int, start: float, end: float) -> Track[None]:
        return Track(
            tid, [Observation(start, (0, 0, 1, 1), None), Observation(end, (0, 0, 1, 1), None)]
        )

    g: CrossingGrouper[None] = CrossingGrouper(window=2.0)
    a = g.add("cam", "overview", track(1, 0.0, 5.0), exclusive=True)
    b = g.add("cam", "overview", track(2, 1.0, 6.0), exclusive=True)
    plate = g.add("cam", "overview", track(3, 1.5, 5.5))  # not exclusive: joins by time
    other_cam = g.add("cam-2", "overview", track(4, 1.0, 6.0), exclusive=True)
    assert a != b and plate in (a, b) and other_cam in (a, b)
    plain: CrossingGrouper[None] = CrossingGrouper(window=2.0)
    assert plain.add("cam", "overview", track(1, 0.0, 5.0)) == plain.add(
        "cam", "overview", track(2, 1.0, 6.0)
    )
