"""Live sources (rtsp/http streams, local cameras) read in a background thread.

A reader thread opens the capture and pushes frames into a bounded buffer;
when the buffer is full the oldest frame is dropped (counted in
`frames_dropped`) so the consumer always gets recent frames. A supervisor
thread acts as watchdog: when the reader dies (open failed, stream ended,
read error) or stalls (no frame for `stall_timeout` seconds) it starts a new
reader after an exponential backoff capped at `backoff_max`. A stalled reader
cannot be interrupted safely, so it is abandoned: it exits and releases its
capture when its blocking read returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2

from capture.frame_source import FrameSource, as_bgr
from capture.types import Frame, Image, SourceKind
from capture.urls import scrub_url

logger = logging.getLogger(__name__)


class VideoCaptureLike(Protocol):
    """The part of `cv2.VideoCapture` a live source uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, object]: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class StreamOptions:
    """Tuning of a live source; times in seconds.

    `queue_size`: frames buffered for the consumer. `open_timeout` and
    `read_timeout`: FFmpeg's own limits for connecting and for one read.
    `stall_timeout`: the watchdog restarts a connection that delivered no
    frame for this long (connecting gets `open_timeout` + `stall_timeout`).
    `backoff_initial`/`backoff_max`: wait before reconnecting, doubled after
    every failed attempt and reset once a connection delivers frames.
    `poll_interval`: how often the watchdog looks.
    """

    queue_size: int = 8
    open_timeout: float = 5.0
    read_timeout: float = 5.0
    stall_timeout: float = 3.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    poll_interval: float = 0.1


def ffmpeg_opener(url: str, options: StreamOptions) -> Callable[[], VideoCaptureLike]:
    """Opens `url` with OpenCV's FFmpeg backend and the options' timeouts."""

    def open_url() -> VideoCaptureLike:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(options.open_timeout * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(options.read_timeout * 1000),
        ]
        return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)

    return open_url


def device_opener(index: int) -> Callable[[], VideoCaptureLike]:
    """Opens local camera `index` with OpenCV's default backend."""

    def open_device() -> VideoCaptureLike:
        return cv2.VideoCapture(index)

    return open_device


class StreamSource(FrameSource):
    """Frames of a live source, timestamped with wall-clock ``time.time()``.

    With `sample_fps`, frames are thinned by arrival time (at most one per
    1/sample_fps seconds); thinned frames are not counted as dropped.
    Never raises for connection problems: they show in `health()`.
    """

    def __init__(
        self,
        *,
        source: str,
        camera_id: str,
        kind: SourceKind,
        opener: Callable[[], VideoCaptureLike],
        sample_fps: float | None = None,
        options: StreamOptions | None = None,
    ) -> None:
        super().__init__(camera_id=camera_id, kind=kind, source=source)
        self._options = options or StreamOptions()
        self._opener = opener
        self._sample_period = 1.0 / sample_fps if sample_fps else 0.0
        self._next_due = 0.0
        self._buffer: deque[Frame] = deque()
        self._ready = threading.Condition(self._state.lock)
        self._stop = threading.Event()
        self._generation = 0
        self._next_index = 0
        self._activity = time.monotonic()
        self._readers: list[threading.Thread] = []
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"capture-{camera_id}", daemon=True
        )
        self._supervisor.start()

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def read(self, *, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._buffer:
                if self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(0.5 if remaining is None else min(remaining, 0.5))
            return self._buffer.popleft()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with self._ready:
            self._generation += 1
            self._state.connected = False
            self._buffer.clear()
            self._ready.notify_all()
        self._supervisor.join(timeout=2.0)
        for reader in self._readers:
            reader.join(timeout=0.5)
        logger.info("camera %s: closed %s", self.camera_id, self.source)

    # -- supervisor (watchdog) -------------------------------------------------

    def _supervise(self) -> None:
        options = self._options
        backoff = options.backoff_initial
        attempt = 0
        while not self._stop.is_set():
            if attempt > 0:
                with self._state.lock:
                    self._state.reconnects += 1
                    reconnects = self._state.reconnects
                logger.info(
                    "camera %s: reconnecting to %s in %.2f s (attempt %d)",
                    self.camera_id,
                    self.source,
                    backoff,
                    reconnects,
                )
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2.0, options.backoff_max)
            attempt += 1
            with self._state.lock:
                self._generation += 1
                generation = self._generation
                frames_before = self._state.frames_read
                self._activity = time.monotonic()
            reader = threading.Thread(
                target=self._read_loop,
                args=(generation,),
                name=f"capture-{self.camera_id}-{generation}",
                daemon=True,
            )
            self._readers = [r for r in self._readers if r.is_alive()] + [reader]
            reader.start()
            self._watch(reader, generation)
            with self._state.lock:
                if self._state.frames_read > frames_before:
                    backoff = options.backoff_initial

    def _watch(self, reader: threading.Thread, generation: int) -> None:
        """Returns when `reader` ended, stalled (then abandoned) or the source closed."""
        options = self._options
        while not self._stop.wait(options.poll_interval):
            if not reader.is_alive():
                return
            with self._state.lock:
                limit = options.stall_timeout
                if not self._state.connected:
                    limit += options.open_timeout
                silent = time.monotonic() - self._activity
                if silent <= limit:
                    continue
                message = (
                    f"no frame from {self.source} for {silent:.1f} s; stream stalled, "
                    "reconnecting (check the camera and network)"
                )
                self._generation += 1  # abandon the stuck reader
                self._state.connected = False
                self._state.error(message)
            logger.warning("camera %s: %s", self.camera_id, message)
            return

    # -- reader thread ---------------------------------------------------------

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _read_loop(self, generation: int) -> None:
        try:
            capture = self._opener()
        except Exception as exc:
            self._reader_failed(generation, f"cannot open {self.source}: {exc}")
            return
        try:
            if not capture.isOpened():
                self._reader_failed(
                    generation,
                    f"cannot open {self.source} (unreachable, refused, wrong path or "
                    "credentials); check the URL and that the camera is up",
                )
                return
            with self._state.lock:
                if not self._current(generation):
                    return
                self._state.connected = True
                self._activity = time.monotonic()
            logger.info("camera %s: connected to %s", self.camera_id, self.source)
            while self._current(generation):
                ok, raw = capture.read()
                if not self._current(generation):
                    return
                if not ok:
                    self._reader_failed(
                        generation,
                        f"{self.source} stopped delivering frames (stream ended or read timed out)",
                    )
                    return
                image = as_bgr(raw)
                if image is None:
                    with self._state.lock:
                        self._state.error(
                            f"undecodable frame from {self.source}", decode_error=True
                        )
                        self._activity = time.monotonic()
                    continue
                self._deliver(generation, image)
        except Exception as exc:
            self._reader_failed(generation, f"reading {self.source} failed: {exc}")
        finally:
            capture.release()

    def _reader_failed(self, generation: int, message: str) -> None:
        message = scrub_url(message)
        with self._state.lock:
            if not self._current(generation):
                return
            self._state.connected = False
            self._state.error(message)
        logger.warning("camera %s: %s", self.camera_id, message)

    def _deliver(self, generation: int, image: Image) -> None:
        now = time.time()
        with self._ready:
            if not self._current(generation):
                return
            self._state.frame_read(now)
            self._activity = time.monotonic()
            index = self._next_index
            self._next_index += 1
            if self._sample_period:
                if now < self._next_due:
                    return
                self._next_due += self._sample_period
                if self._next_due <= now:
                    self._next_due = now + self._sample_period
            frame = Frame(camera_id=self.camera_id, index=index, timestamp=now, image=image)
            if len(self._buffer) >= self._options.queue_size:
                self._buffer.popleft()
                self._state.frames_dropped += 1
            self._buffer.append(frame)
            self._ready.notify()
