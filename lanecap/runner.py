"""Runs one lane: opens its cameras, feeds the pipeline, stores each crossing as it closes."""

from __future__ import annotations

import heapq
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from capture.frame_source import FrameSource
from capture.sources import open_source
from capture.types import Frame, SourceHealth
from lanecap.config import LaneConfig
from lanecap.metrics import NodeMetrics
from lanecap.pipeline import Crossing, LanePipeline
from lanecap.preview import LiveAnnouncer, LiveRead

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    frames: int = 0
    crossings: int = 0
    stored: int = 0
    replays: int = 0
    previews: int = 0
    repeats: int = 0  # crossings dropped as the lane's previous vehicle seen again
    health: list[SourceHealth] = field(default_factory=list)


def _merged_files(sources: list[FrameSource]) -> Iterator[Frame]:
    """Frames of several file sources in timestamp order (deterministic)."""
    return heapq.merge(*sources, key=lambda f: f.timestamp)


def _threaded(sources: list[FrameSource], stop: threading.Event) -> Iterator[Frame]:
    """Frames of live sources as they arrive, through one bounded queue."""
    q: queue.Queue[Frame] = queue.Queue(maxsize=64)

    def pump(src: FrameSource) -> None:
        while not stop.is_set():
            frame = src.read(timeout=0.5)
            if frame is None:
                if src.closed:
                    return
                continue
            try:
                q.put(frame, timeout=1.0)
            except queue.Full:
                log.warning("camera %s: pipeline too slow, frame dropped", src.camera_id)

    threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in sources]
    for t in threads:
        t.start()
    while not stop.is_set():
        try:
            yield q.get(timeout=0.5)
        except queue.Empty:
            if not any(t.is_alive() for t in threads):
                return


def replay_start(lane: LaneConfig) -> float | None:
    """Recorded footage is timed from its files' earliest modification time.

    So replaying the same recording gives the same timestamps, hence the same
    crossing ids, and stores nothing twice. None when no source is a file.
    """
    times = []
    for c in lane.cameras:
        try:
            times.append(os.stat(c.source).st_mtime)
        except (OSError, ValueError):
            continue
    return min(times) if times else None


def run_lane(
    lane: LaneConfig,
    pipeline: LanePipeline,
    store: Callable[[Crossing], bool],
    *,
    max_seconds: float | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    metrics: NodeMetrics | None = None,
    on_health: Callable[[list[SourceHealth], LanePipeline], None] | None = None,
    health_every_s: float = 2.0,
    on_live: Callable[[list[LiveRead]], None] | None = None,
) -> RunStats:
    """Run until the sources end (files) or max_seconds pass (live); every crossing is stored.

    With `on_live`, plate reads of vehicles still in the lane are handed over as they
    settle (lanecap.preview), so the booth sees a vehicle before its crossing closes.
    """
    stats = RunStats()
    start = time.time()
    timeline = replay_start(lane) or start
    sources = [
        open_source(c.source, camera_id=c.id, sample_fps=c.sample_fps, start_time=timeline)
        for c in lane.cameras
    ]
    live = any(s.kind in ("stream", "device") for s in sources)
    stop = threading.Event()
    frames = _threaded(sources, stop) if live else _merged_files(sources)
    announcer = LiveAnnouncer(pipeline) if on_live is not None else None

    def emit(found: list[Crossing]) -> None:
        for c in found:
            stats.crossings += 1
            t0 = time.perf_counter()
            stored = store(c)
            if stored:
                stats.stored += 1
            else:
                stats.replays += 1
            if metrics is not None:
                metrics.store_seconds.observe(time.perf_counter() - t0)
                metrics.crossings.labels(lane.id, "stored" if stored else "replay").inc()

    try:
        last_poll = 0.0
        last_health = 0.0
        for frame in frames:
            pipeline.process(frame)
            stats.frames += 1
            if announcer is not None and on_live is not None:
                found = announcer.poll()
                if found:
                    stats.previews += len(found)
                    on_live(found)
            if on_frame is not None:
                on_frame(frame)
            if metrics is not None:
                metrics.frames.labels(frame.camera_id).inc()
            now = time.time() if live else frame.timestamp
            if now - last_poll >= 0.2:
                emit(pipeline.poll(now))
                last_poll = now
                if metrics is not None:
                    for src in sources:
                        metrics.camera(src.health())
            if on_health is not None and time.monotonic() - last_health >= health_every_s:
                on_health([src.health() for src in sources], pipeline)
                last_health = time.monotonic()
            if max_seconds is not None and time.time() - start > max_seconds:
                break
        emit(pipeline.finish())
    finally:
        stop.set()
        stats.health = [s.health() for s in sources]
        stats.repeats = pipeline.repeats_dropped
        for s in sources:
            s.close()
    return stats
