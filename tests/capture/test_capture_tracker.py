"""IouTracker: matching, gaps, noise, determinism."""

from __future__ import annotations

import pytest

from capture.tracker import BoxTuple, IouTracker, iou


def _box(x: float, y: float = 0.0, w: float = 10.0, h: float = 10.0) -> BoxTuple:
    return (x, y, x + w, y + h)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_box(0), _box(0), 1.0),
        (_box(0), _box(5), 50 / 150),
        (_box(0), _box(10), 0.0),
        (_box(0), (0.0, 0.0, 0.0, 0.0), 0.0),
        ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), 0.0),
    ],
)
def test_iou(a: BoxTuple, b: BoxTuple, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)


# Each case: frames of (timestamp, [x of each 10x10 detection]) -> expected ids per frame.
CASES = {
    "one object moving slowly": (
        [(0.0, [0.0]), (0.1, [2.0]), (0.2, [4.0])],
        [[1], [1], [1]],
    ),
    "two objects keep their ids when listed in swapped order": (
        [(0.0, [0.0, 100.0]), (0.1, [102.0, 2.0])],
        [[1, 2], [2, 1]],
    ),
    "new object gets a new id": (
        [(0.0, [0.0]), (0.1, [1.0, 200.0])],
        [[1], [1, 2]],
    ),
    "big jump between sampled frames falls back to centre distance": (
        [(0.0, [0.0]), (0.5, [9.0])],  # IoU 1/19 < 0.3, centre moved 0.9 box
        [[1], [1]],
    ),
    "jump too far starts a new track": (
        [(0.0, [0.0]), (0.5, [25.0])],
        [[1], [2]],
    ),
    "after skipped frames a moving object is found where its velocity carries it": (
        [(0.0, [0.0]), (0.1, [6.0]), (0.5, [30.0])],  # 2.4 boxes from its last box
        [[1], [1], [1]],
    ),
    "velocity does not pull in an object that went the other way": (
        [(0.0, [0.0]), (0.1, [6.0]), (0.5, [-18.0])],
        [[1], [1], [2]],
    ),
    "gap longer than max_gap, with frames analysed in it, starts a new track": (
        [(0.0, [0.0]), (0.5, []), (1.5, [0.0])],
        [[1], [], [2]],
    ),
    "frames skipped (none analysed) keep the track up to max_hold": (
        [(0.0, [0.0]), (1.5, [0.0]), (6.0, [0.0])],
        [[1], [1], [1]],
    ),
    "a skip longer than max_hold starts a new track": (
        [(0.0, [0.0]), (5.5, [0.0])],
        [[1], [2]],
    ),
    "gap equal to max_gap still matches": (
        [(0.0, [0.0]), (1.0, [0.0])],
        [[1], [1]],
    ),
    "highest IoU wins when two detections compete": (
        [(0.0, [0.0]), (0.1, [4.0, 1.0])],
        [[1], [2, 1]],
    ),
    "one detection never takes two tracks": (
        [(0.0, [0.0, 5.0]), (0.1, [2.0])],
        [[1, 2], [1]],
    ),
}


@pytest.mark.parametrize(("frames", "expected"), list(CASES.values()), ids=list(CASES))
def test_track_ids(frames: list[tuple[float, list[float]]], expected: list[list[int]]) -> None:
    tracker: IouTracker[str] = IouTracker(iou_threshold=0.3, max_gap=1.0, min_hits=1)
    got = [tracker.update(t, [(_box(x), f"{t}:{x}") for x in xs]) for t, xs in frames]
    assert got == expected


def test_an_approaching_plate_that_grows_stays_one_track_across_a_skip() -> None:
    # A plate nearing the camera: it moves down and grows 1.5x a step; the node then skips
    # two frames. From its last box the next one is 5x the area and 1.6 sizes away.
    tracker: IouTracker[None] = IouTracker(min_hits=1)
    boxes = [(100.0, 100.0, 120.0, 106.0), (100.0, 112.0, 130.0, 121.0)]
    assert [tracker.update(0.2 * i, [(b, None)]) for i, b in enumerate(boxes)] == [[1], [1]]
    far = (100.0, 150.0, 168.0, 170.0)
    assert tracker.update(0.8, [(far, None)]) == [1]


def test_size_guard_blocks_centre_fallback() -> None:
    tracker: IouTracker[None] = IouTracker(min_hits=1)
    assert tracker.update(0.0, [(_box(0), None)]) == [1]
    # centre within one box size but 9x the area: a different object
    assert tracker.update(0.1, [((5.0, -10.0, 35.0, 20.0), None)]) == [2]


def test_centre_fallback_can_be_disabled() -> None:
    tracker: IouTracker[None] = IouTracker(min_hits=1, max_centre_distance=0.0)
    tracker.update(0.0, [(_box(0), None)])
    assert tracker.update(0.5, [(_box(9), None)]) == [2]


def test_pop_finished_and_min_hits() -> None:
    tracker: IouTracker[int] = IouTracker(max_gap=0.5, min_hits=3)
    for i in range(4):
        tracker.update(i * 0.1, [(_box(i), i)])
    tracker.update(0.1, [(_box(500), 99)])  # one-hit noise
    tracker.update(0.4, [])  # a frame analysed without either
    assert tracker.pop_finished(0.5) == []  # long track seen at 0.3, not yet finished
    finished = tracker.pop_finished(0.9)
    assert [t.id for t in finished] == [1]
    track = finished[0]
    assert track.first_seen == 0.0 and track.last_seen == pytest.approx(0.3) and track.hits == 4
    assert [o.payload for o in track.observations] == [0, 1, 2, 3]
    t, box, payload = track.observations[-1]
    assert box == _box(3) and payload == 3 and t == pytest.approx(0.3)
    assert tracker.discarded == 1 and tracker.active == []


def test_flush_ends_everything() -> None:
    tracker: IouTracker[str] = IouTracker(min_hits=2)
    tracker.update(0.0, [(_box(0), "a"), (_box(100), "b")])
    tracker.update(0.1, [(_box(1), "a"), (_box(300), "c")])
    assert [t.id for t in tracker.flush()] == [1]
    assert tracker.discarded == 2 and tracker.flush() == []


def test_finished_track_is_not_revived() -> None:
    tracker: IouTracker[None] = IouTracker(max_gap=0.2, min_hits=1)
    tracker.update(0.0, [(_box(0), None)])
    tracker.update(0.1, [])
    assert [t.id for t in tracker.pop_finished(0.5)] == [1]
    assert tracker.update(0.6, [(_box(0), None)]) == [2]


@pytest.mark.parametrize(
    "kwargs",
    [{"iou_threshold": 0.0}, {"iou_threshold": 1.5}, {"min_hits": 0}, {"max_gap": -1.0}],
)
def test_invalid_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        IouTracker(**kwargs)  # type: ignore[arg-type]


def test_an_object_that_stays_in_view_keeps_bounded_memory() -> None:
    tracker: IouTracker[int] = IouTracker(max_gap=1.0, max_observations=50)
    for i in range(2000):  # a sign in view for 400 s at 5 fps
        tracker.update(0.2 * i, [((10.0, 10.0, 60.0, 30.0), i)])
    (track,) = tracker.active
    payloads = [o.payload for o in track.observations]
    assert len(payloads) <= 50
    assert payloads[0] == 0 and payloads[-1] == 1999  # first and latest kept
    assert payloads[-20:] == list(range(1980, 2000))  # recent ones all kept
    assert payloads == sorted(payloads)


def test_a_track_seen_in_the_newest_frame_is_not_finished_while_no_frame_is_analysed() -> None:
    tracker: IouTracker[None] = IouTracker(max_gap=1.0, min_hits=1, max_hold=5.0)
    tracker.update(0.0, [(_box(0), None)])
    assert tracker.pop_finished(2.0) == []  # the node fell behind: no evidence it left
    (ended,) = tracker.pop_finished(5.5)  # beyond max_hold
    assert ended.id == 1
    tracker.update(10.0, [(_box(0), None)])
    tracker.update(10.5, [])  # an analysed frame without it
    (ended,) = tracker.pop_finished(11.5)
    assert ended.id == 2
    with pytest.raises(ValueError, match="max_hold"):
        IouTracker(max_gap=2.0, max_hold=1.0)
