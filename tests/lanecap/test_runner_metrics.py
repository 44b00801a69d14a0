"""The runner with our own fakes for reading and storing: counts, metrics, one crossing per vehicle."""

from __future__ import annotations

from pathlib import Path

from lanecap.config import LaneConfig
from lanecap.demo import DemoVehicle, render_demo
from lanecap.metrics import NodeMetrics
from lanecap.pipeline import Crossing, LanePipeline
from lanecap.runner import run_lane
from recognition.plates.contour import ContourPlateDetector
from recognition.types import Image, PlateRead


class ConstantReader:
    """A PlateReader that says the same text for every crop (the reader is not under test)."""

    def read(self, crop: Image) -> PlateRead | None:
        return PlateRead("TEST123", 0.9, (0.9,) * 7)


def test_run_lane_counts_and_metrics(tmp_path: Path) -> None:
    clip = render_demo(
        tmp_path,
        vehicles=(DemoVehicle("AAA111", (40, 40, 160)), DemoVehicle("BBB222", (90, 90, 90))),
    )
    lane = LaneConfig.model_validate(
        {
            "id": "m",
            "vehicle_gap_s": 1.0,
            "cameras": [{"id": "m-front", "role": "front_plate", "source": str(clip["front"])}],
        }
    )
    stored: list[Crossing] = []

    def store(c: Crossing) -> bool:
        fresh = all(s.id != c.id for s in stored)
        stored.append(c)
        return fresh

    metrics = NodeMetrics()
    pipe = LanePipeline(lane, detector=ContourPlateDetector(), reader=ConstantReader(), faces=None)
    stats = run_lane(lane, pipe, store, metrics=metrics)
    assert stats.crossings == stats.stored == 2
    assert [c.plate.text for c in stored if c.plate] == ["TEST123", "TEST123"]
    assert all(c.face_status == "no_driver_camera" for c in stored)
    get = metrics.registry.get_sample_value
    assert get("lanecap_frames_analysed_total", {"camera": "m-front"}) == stats.frames
    assert get("lanecap_crossings_total", {"lane": "m", "outcome": "stored"}) == 2
    assert get("lanecap_store_seconds_count") == 2
    assert get("lanecap_camera_decode_errors", {"camera": "m-front"}) == 0
