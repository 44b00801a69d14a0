"""Faults against real services: storage outages mid-run, kill -9, a full spool, corrupt video.

Each ends with a count: crossings produced = crossings stored, none duplicated.
Uses its own PostgreSQL + SeaweedFS pair so stopping them disturbs no other test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lanecap.archive import Archive, CrossingSealer
from lanecap.config import LaneConfig, Settings, settings_from_dict
from lanecap.demo import DemoVehicle, render_demo
from lanecap.forward import StoreAndForward
from lanecap.keys import lane_keys
from lanecap.pipeline import Crossing, PlateSighting
from lanecap.services.runtime import Endpoints, embedded_pair, storage_endpoints
from lanecap.spool import Spool, SpoolFull
from recognition.plates.vote import Vote
from recognition.types import Box, PlateDetection, PlateRead

LANE = LaneConfig.model_validate(
    {"id": "fault-lane", "cameras": [{"id": "fc", "role": "front_plate", "source": "x"}]}
)


@pytest.fixture(scope="module")
def own_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data = tmp_path_factory.mktemp("faults")
    settings = settings_from_dict(
        {"data_dir": str(data), "object_store": {"bucket_prefix": "faults"}}, env={}
    )
    yield settings
    pg, s3, _ = embedded_pair(settings)
    s3.stop()
    pg.stop()


def _crossing(i: int) -> Crossing:
    crop = np.full((40, 160, 3), 200, np.uint8)
    crop[10:30, 10 + 10 * (i % 10) : 30 + 10 * (i % 10)] = 0
    det = PlateDetection(Box(10, 10, 170, 50), 0.9)
    read = PlateRead(f"FLT{i:04d}", 0.9, (0.9,) * 7)
    sighting = PlateSighting("fc", "front_plate", 1000.0 + i, det, read, crop)
    return Crossing(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"fault-{i}"),
        lane_id="fault-lane",
        started_at=1000.0 + i,
        ended_at=1000.5 + i,
        plate=Vote(read.text, 0.9, read.char_confidences, 1),
        plate_flags=(),
        plates=(sighting,),
        best_plate=sighting,
        driver=None,
        face_status="no_driver_camera",
        n_frames=1,
    )


def _count(archive: Archive, ids: list[uuid.UUID]) -> tuple[int, int]:
    with archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM crossings WHERE id = ANY(%s)", (ids,)
        ).fetchone()
    assert rows is not None
    return int(rows[0]), int(rows[1])


def _node(
    settings: Settings, ep: Endpoints, spool: Spool, *, background: bool = False
) -> StoreAndForward:
    """A lane node of LANE on the embedded pair, retrying every 0.1 s."""
    keys = lane_keys(settings, embedded=True)

    def connect() -> Archive:
        a = Archive(settings, ep, keys=keys)
        a.register_lane(LANE)
        return a

    return StoreAndForward(
        sealer=CrossingSealer(keys, bucket_prefix="faults"),
        spool=spool,
        connect=connect,
        retry_s=0.1,
        background=background,
    )


@pytest.mark.parametrize("outage", ["seaweedfs", "postgres"])
def test_storage_outage_mid_run_loses_nothing(
    own_settings: Settings, tmp_path: Path, outage: str
) -> None:
    with storage_endpoints(own_settings, keep_running=True) as ep:
        keys = lane_keys(own_settings, embedded=True)
        pg, s3, _ = embedded_pair(own_settings)

        node = _node(own_settings, ep, Spool(tmp_path / "spool"))
        base = 100 if outage == "seaweedfs" else 200
        produced = [_crossing(base + i) for i in range(6)]
        assert node.store(produced[0]) is True
        service = s3 if outage == "seaweedfs" else pg
        service.stop()
        try:
            for c in produced[1:4]:
                assert node.store(c) is True  # accepted into the spool
            assert len(node.spool) == 3 and node.spooled == 3
        finally:
            service.start()
        time.sleep(0.2)
        for c in produced[4:]:
            node.store(c)
        assert node.finish(timeout_s=30) == 0
        node.close()
        check = Archive(own_settings, ep, keys=keys)
        try:
            assert _count(check, [c.id for c in produced]) == (6, 6)
            with check.pool.connection() as conn:
                n_obj = conn.execute(
                    "SELECT count(*) FROM objects WHERE crossing_id = ANY(%s)",
                    ([c.id for c in produced],),
                ).fetchone()
            assert n_obj == (6,)
        finally:
            check.close()


def test_a_frozen_store_never_stalls_a_background_node(
    own_settings: Settings, tmp_path: Path
) -> None:
    # S3 stopped with SIGSTOP: connections hang instead of failing. A lane node forwarding in
    # the background keeps accepting crossings at disk speed and forwards them all afterwards.
    with storage_endpoints(own_settings, keep_running=True) as ep:
        keys = lane_keys(own_settings, embedded=True)

        node = _node(own_settings, ep, Spool(tmp_path / "spool"), background=True)
        produced = [_crossing(400 + i) for i in range(8)]
        assert node.store(produced[0]) is True
        group = int((own_settings.data_dir.resolve() / "seaweedfs.pid").read_text().strip())
        os.killpg(group, signal.SIGSTOP)
        try:
            time.sleep(0.3)  # the forwarder is now stuck in a commit
            took = []
            for c in produced[1:6]:
                t0 = time.monotonic()
                assert node.store(c) is True
                took.append(time.monotonic() - t0)
            assert max(took) < 1.0, took  # sealed and spooled, not waiting on S3
            assert len(node.spool) >= 4
        finally:
            os.killpg(group, signal.SIGCONT)
        for c in produced[6:]:
            node.store(c)
        assert node.finish(timeout_s=60) == 0
        node.close()
        check = Archive(own_settings, ep, keys=keys)
        try:
            assert _count(check, [c.id for c in produced]) == (8, 8)
        finally:
            check.close()
    assert node.replayed == 8 and node.spooled >= 5


def test_a_spooled_file_storage_refuses_is_set_aside_and_the_rest_goes_on(
    own_settings: Settings, tmp_path: Path
) -> None:
    with storage_endpoints(own_settings, keep_running=True) as ep:
        keys = lane_keys(own_settings, embedded=True)
        spool = Spool(tmp_path / "spool")
        (spool.directory / f"{1:012d}-{uuid.uuid4()}.lcs").write_bytes(b'{"v": 1, "record"')

        node = _node(own_settings, ep, spool, background=True)
        good = [_crossing(500 + i) for i in range(3)]
        for c in good:
            node.store(c)
        assert node.finish(timeout_s=30) == 0
        node.close()
        check = Archive(own_settings, ep, keys=keys)
        try:
            assert _count(check, [c.id for c in good]) == (3, 3)
        finally:
            check.close()
    assert node.rejected == 1
    kept = list((spool.directory / "rejected").glob("*.lcs"))
    assert len(kept) == 1 and "JSONDecodeError" in kept[0].with_suffix(".why").read_text()


def test_full_spool_refuses_with_a_clear_message(tmp_path: Path, own_settings: Settings) -> None:
    keys = lane_keys(own_settings, embedded=True)
    spool = Spool(tmp_path / "small", max_bytes=20_000)
    sealer = CrossingSealer(keys, bucket_prefix="faults")
    with pytest.raises(SpoolFull, match="restore PostgreSQL/S3 or raise spool_max_mb"):
        for i in range(100):
            spool.put(sealer.seal(_crossing(300 + i)))
    assert 0 < len(spool) < 100
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in spool.files())


def test_kill_9_mid_run_then_rerun_stores_each_vehicle_once(
    own_settings: Settings, tmp_path: Path
) -> None:
    vehicles = tuple(
        DemoVehicle(p, (40, 40, 160)) for p in ("KIL1111", "KIL2222", "KIL3333", "KIL4444")
    )
    render_demo(tmp_path, vehicles=vehicles)
    cfg = tmp_path / "lane.toml"
    cfg.write_text(
        f'data_dir = "{own_settings.data_dir}"\n[object_store]\nbucket_prefix = "faults"\n'
        '[recognition]\nplate_detector = "contour"\n'
        '[[lanes]]\nid = "kill-lane"\nvehicle_gap_s = 1.0\n'
        '[[lanes.cameras]]\nid = "kill-front"\nrole = "front_plate"\nsource = "front.mp4"\n'
    )
    cmd = [sys.executable, "-m", "lanecap.cli", "-c", str(cfg), "run", "--lane", "kill-lane", "-q"]
    with storage_endpoints(own_settings, keep_running=True) as ep:
        keys = lane_keys(own_settings, embedded=True)
        probe = Archive(own_settings, ep, keys=keys)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 300
            while time.time() < deadline and proc.poll() is None:
                with probe.pool.connection() as conn:
                    n = conn.execute(
                        "SELECT count(*) FROM crossings WHERE lane_id = 'kill-lane'"
                    ).fetchone()
                if n is not None and n[0] >= 1:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed mid-way"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
            rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
            with probe.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT c.id, (SELECT count(*) FROM objects o WHERE o.crossing_id = c.id),"
                    " (SELECT count(*) FROM crossing_keys k WHERE k.crossing_id = c.id)"
                    " FROM crossings c WHERE lane_id = 'kill-lane'"
                ).fetchall()
        finally:
            probe.close()
    assert len(rows) == len(vehicles)  # each vehicle once: none lost, none duplicated
    assert all(r[1] == 1 and r[2] >= 1 for r in rows)  # never half-written: crop and key with each


def test_truncated_video_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    from lanecap.pipeline import LanePipeline
    from lanecap.runner import run_lane
    from recognition.plates.contour import ContourPlateDetector

    clip = render_demo(
        tmp_path,
        vehicles=(DemoVehicle("TRN1111", (40, 40, 160)), DemoVehicle("TRN2222", (90, 90, 90))),
    )
    avi = tmp_path / "cut.avi"
    import cv2

    cap = cv2.VideoCapture(str(clip["front"]))
    out = cv2.VideoWriter(str(avi), cv2.VideoWriter.fourcc(*"MJPG"), 10, (960, 540))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(frame)
    out.release()
    data = avi.read_bytes()
    avi.write_bytes(data[: int(len(data) * 0.6)])  # the second vehicle is cut off
    lane = LaneConfig.model_validate(
        {
            "id": "cut",
            "vehicle_gap_s": 1.0,
            "cameras": [{"id": "cut-f", "role": "front_plate", "source": str(avi)}],
        }
    )

    class Reader:
        def read(self, crop: object) -> PlateRead | None:
            return PlateRead("TRN0000", 0.9, (0.9,) * 7)

    stored: list[Crossing] = []
    stats = run_lane(
        lane,
        LanePipeline(lane, detector=ContourPlateDetector(), reader=Reader(), faces=None),
        lambda c: stored.append(c) or True,
    )
    assert stats.health[0].decode_errors >= 1
    assert stats.health[0].last_error
    assert len(stored) == stats.crossings >= 1
