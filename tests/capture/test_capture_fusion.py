"""CrossingGrouper: front/rear views join, consecutive cars stay apart."""

from __future__ import annotations

import pytest

from capture.fusion import CrossingGrouper, VehicleGroup
from capture.tracker import Observation, Track
from capture.types import CameraRole

_next_id = iter(range(1, 10_000))


def _track(start: float, end: float, label: str = "") -> Track[str]:
    steps = 4
    return Track(
        id=next(_next_id),
        observations=[
            Observation(start + (end - start) * i / steps, (0.0, 0.0, 10.0, 10.0), label)
            for i in range(steps + 1)
        ],
    )


def _labels(groups: list[VehicleGroup[str]]) -> list[list[str]]:
    return [sorted(m.track.observations[0].payload for m in g.members) for g in groups]


def test_front_and_late_rear_make_one_vehicle() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0, settle=1.0)
    gid = grouper.add("cam-front", "front_plate", _track(10.0, 12.0, "front"))
    assert grouper.pop_ready(13.0) == []
    # the rear camera sees the car 1.5 s after the front one stopped seeing it
    assert grouper.add("cam-rear", "rear_plate", _track(13.5, 15.0, "rear")) == gid
    assert grouper.add("cam-driver", "driver", _track(11.0, 12.5, "face")) == gid
    assert grouper.pop_ready(17.9) == []  # 15.0 + window 2 + settle 1 = 18.0
    (group,) = grouper.pop_ready(18.1)
    assert (group.id, group.first_seen, group.last_seen) == (gid, 10.0, 15.0)
    assert [m.role for m in group.members] == ["front_plate", "driver", "rear_plate"]
    assert [m.track.observations[0].payload for m in group.by_role("rear_plate")] == ["rear"]
    assert grouper.open_groups == 0


def test_two_consecutive_cars_stay_apart() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0)
    # tracks arrive roughly in order of their end, as trackers finish them
    grouper.add("front", "front_plate", _track(0.0, 2.0, "A-front"))
    grouper.add("rear", "rear_plate", _track(2.5, 4.0, "A-rear"))
    grouper.add("front", "front_plate", _track(3.0, 5.0, "B-front"))
    grouper.add("rear", "rear_plate", _track(5.5, 7.0, "B-rear"))
    groups = grouper.flush()
    assert _labels(groups) == [["A-front", "A-rear"], ["B-front", "B-rear"]]
    assert [g.id for g in groups] == [1, 2]


def test_role_offset_lines_up_out_of_order_arrivals() -> None:
    # B-front arrives before A-rear; A-rear overlaps B-front in raw time
    tracks: list[tuple[str, CameraRole, Track[str]]] = [
        ("front", "front_plate", _track(0.0, 2.0, "A-front")),
        ("front", "front_plate", _track(3.0, 5.0, "B-front")),
        ("rear", "rear_plate", _track(2.5, 4.0, "A-rear")),
        ("rear", "rear_plate", _track(5.5, 7.0, "B-rear")),
    ]
    plain: CrossingGrouper[str] = CrossingGrouper(window=2.0)
    shifted: CrossingGrouper[str] = CrossingGrouper(window=2.0, role_offsets={"rear_plate": -2.5})
    for grouper in (plain, shifted):
        for camera_id, role, track in tracks:
            grouper.add(camera_id, role, track)
    assert _labels(plain.flush()) == [["A-front"], ["A-rear", "B-front"], ["B-rear"]]
    assert _labels(shifted.flush()) == [["A-front", "A-rear"], ["B-front", "B-rear"]]


def test_same_camera_overlapping_tracks_share_a_vehicle() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=1.0)
    grouper.add("cab", "driver", _track(0.0, 2.0, "driver"))
    grouper.add("cab", "driver", _track(0.5, 1.5, "passenger"))
    grouper.add("cab", "driver", _track(2.5, 3.0, "next car"))
    assert _labels(grouper.flush()) == [["driver", "passenger"], ["next car"]]


@pytest.mark.parametrize(
    ("gap", "joined"),
    [(0.5, True), (2.0, True), (2.5, False)],
)
def test_window_decides_between_cameras(gap: float, joined: bool) -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0)
    first = grouper.add("a", "front_plate", _track(0.0, 1.0))
    second = grouper.add("b", "overview", _track(1.0 + gap, 3.0 + gap))
    assert (first == second) is joined


def test_track_after_emitted_group_starts_a_new_one() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=1.0)
    grouper.add("a", "front_plate", _track(0.0, 1.0, "front"))
    assert _labels(grouper.pop_ready(2.5)) == [["front"]]
    assert grouper.add("b", "rear_plate", _track(1.5, 2.0, "rear")) == 2


def test_empty_track_rejected() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper()
    with pytest.raises(ValueError, match="no observations"):
        grouper.add("a", "front_plate", Track(id=1))


LANE_CAMERAS = ("cam-front", "cam-driver")


def test_a_vehicle_every_camera_has_finished_closes_at_once() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0, settle=1.5)
    grouper.add("cam-front", "front_plate", _track(10.0, 12.0, "front"))
    # only one of the lane's two cameras is done: wait the window as before
    assert grouper.pop_ready(13.0, complete_with=LANE_CAMERAS) == []
    grouper.add("cam-driver", "driver", _track(10.5, 12.2, "face"))
    # without the early rule it would wait until 12.2 + 3.5
    assert grouper.pop_ready(13.3) == []
    (group,) = grouper.pop_ready(13.3, complete_with=LANE_CAMERAS)
    assert _labels([group]) == [["face", "front"]]


def test_a_track_still_in_view_that_could_join_holds_the_vehicle() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0, settle=1.5)
    grouper.add("cam-front", "front_plate", _track(10.0, 12.0, "front"))
    grouper.add("cam-driver", "driver", _track(10.5, 12.2, "driver"))
    # a passenger's face track of the same camera, overlapping in time, is still open
    busy = [("cam-driver", "driver", 11.0, 13.0)]
    assert grouper.pop_ready(13.3, complete_with=LANE_CAMERAS, busy=busy) == []  # type: ignore[arg-type]
    grouper.add("cam-driver", "driver", _track(11.0, 13.0, "passenger"))
    (group,) = grouper.pop_ready(14.1, complete_with=LANE_CAMERAS)
    assert _labels([group]) == [["driver", "front", "passenger"]]


def test_the_next_car_in_view_does_not_hold_the_one_that_left() -> None:
    grouper: CrossingGrouper[str] = CrossingGrouper(window=2.0, settle=1.5)
    grouper.add("cam-front", "front_plate", _track(10.0, 12.0, "car1"))
    grouper.add("cam-driver", "driver", _track(10.5, 12.2, "face1"))
    # the next car is already seen by both cameras, within the window: it cannot be the
    # same vehicle, since each camera's track of car 1 ended before it began
    busy = [("cam-front", "front_plate", 12.8, 13.6), ("cam-driver", "driver", 13.0, 13.6)]
    (group,) = grouper.pop_ready(13.6, complete_with=LANE_CAMERAS, busy=busy)  # type: ignore[arg-type]
    assert _labels([group]) == [["car1", "face1"]]
