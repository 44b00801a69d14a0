"""Load test: N lanes at F fps from a rendered clip, against one store, in one process.

Each lane has a camera thread that replays the clip in real time into a bounded
queue (a full queue drops the frame and counts it, as a live camera would) and
a worker that runs the lane pipeline and stores crossings. Reports sustained
throughput, frame-to-stored latency and the process's CPU and memory.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from capture.sources import open_source
from capture.types import Frame
from lanecap.config import LaneConfig
from lanecap.pipeline import Crossing, LanePipeline


@dataclass(frozen=True)
class LoadResult:
    lanes: int
    fps: float
    seconds: float
    frames_offered: int
    frames_processed: int
    frames_dropped: int
    crossings: int
    stored: int
    latency_p50_s: float
    latency_p95_s: float
    cpu_percent: float
    rss_mb: float

    @property
    def sustained(self) -> bool:
        """Every offered frame was analysed (at most 2% dropped)."""
        return self.frames_dropped <= 0.02 * max(self.frames_offered, 1)


def run_load(
    *,
    clip: Path,
    lanes: int,
    fps: float,
    make_pipeline: Callable[[LaneConfig], LanePipeline],
    store: Callable[[Crossing], bool],
    vehicle_gap_s: float = 1.0,
) -> LoadResult:
    configs = [
        LaneConfig.model_validate(
            {
                "id": f"load-{i}",
                "vehicle_gap_s": vehicle_gap_s,
                "cameras": [
                    {
                        "id": f"load-{i}-front",
                        "role": "front_plate",
                        "source": str(clip),
                        "sample_fps": fps,
                    }
                ],
            }
        )
        for i in range(lanes)
    ]
    proc = psutil.Process()
    proc.cpu_percent(None)
    offered = [0] * lanes
    dropped = [0] * lanes
    processed = [0] * lanes
    latencies: list[float] = []
    counts = {"crossings": 0, "stored": 0}
    lock = threading.Lock()
    start = time.time()

    def camera(i: int, q: queue.Queue[Frame | None]) -> None:
        cam = configs[i].cameras[0]
        with open_source(
            cam.source, camera_id=cam.id, sample_fps=fps, start_time=time.time(), realtime=True
        ) as src:
            for frame in src:
                offered[i] += 1
                try:
                    q.put_nowait(frame)
                except queue.Full:
                    dropped[i] += 1
        q.put(None)

    def worker(i: int, q: queue.Queue[Frame | None], pipeline: LanePipeline) -> None:
        def emit(found: list[Crossing]) -> None:
            for c in found:
                ok = store(c)
                done = time.time()
                with lock:
                    counts["crossings"] += 1
                    counts["stored"] += int(ok)
                    latencies.append(done - c.ended_at)

        while (frame := q.get()) is not None:
            pipeline.process(frame)
            processed[i] += 1
            emit(pipeline.poll(time.time()))
        emit(pipeline.finish())

    threads = []
    for i, cfg in enumerate(configs):
        q: queue.Queue[Frame | None] = queue.Queue(maxsize=max(2, int(fps)))
        threads.append(threading.Thread(target=camera, args=(i, q), daemon=True))
        threads.append(
            threading.Thread(target=worker, args=(i, q, make_pipeline(cfg)), daemon=True)
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - start
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    return LoadResult(
        lanes=lanes,
        fps=fps,
        seconds=seconds,
        frames_offered=sum(offered),
        frames_processed=sum(processed),
        frames_dropped=sum(dropped),
        crossings=counts["crossings"],
        stored=counts["stored"],
        latency_p50_s=float(np.percentile(lat, 50)),
        latency_p95_s=float(np.percentile(lat, 95)),
        cpu_percent=proc.cpu_percent(None),
        rss_mb=proc.memory_info().rss / 2**20,
    )
