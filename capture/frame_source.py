"""The `FrameSource` interface shared by every kind of source, and the
bookkeeping behind its health."""

from __future__ import annotations

import abc
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType

import cv2
import numpy as np

from capture.types import Frame, Image, SourceHealth, SourceKind
from capture.urls import scrub_url

_RATE_WINDOW_S = 5.0
_RATE_MAX_SAMPLES = 256


class HealthState:
    """Thread-safe counters behind `SourceHealth` (internal)."""

    def __init__(self, *, camera_id: str, kind: SourceKind, source: str) -> None:
        self.lock = threading.Lock()
        self.camera_id = camera_id
        self.kind: SourceKind = kind
        self.source = scrub_url(source)
        self.connected = False
        self.frames_read = 0
        self.frames_dropped = 0
        self.decode_errors = 0
        self.reconnects = 0
        self.last_error: str | None = None
        self.last_frame_at: float | None = None
        self._arrivals: deque[float] = deque(maxlen=_RATE_MAX_SAMPLES)

    def frame_read(self, wall_time: float) -> None:
        """Count one frame read; call with `lock` held."""
        self.frames_read += 1
        self.last_frame_at = wall_time
        self._arrivals.append(time.monotonic())

    def error(self, message: str, *, decode_error: bool = False) -> None:
        """Record an error (scrubbed); call with `lock` held."""
        self.last_error = scrub_url(message)
        if decode_error:
            self.decode_errors += 1

    def snapshot(self) -> SourceHealth:
        with self.lock:
            now = time.monotonic()
            recent = [t for t in self._arrivals if now - t <= _RATE_WINDOW_S]
            fps = 0.0
            if len(recent) >= 2 and recent[-1] > recent[0]:
                fps = (len(recent) - 1) / (recent[-1] - recent[0])
            return SourceHealth(
                camera_id=self.camera_id,
                kind=self.kind,
                source=self.source,
                connected=self.connected,
                frames_read=self.frames_read,
                frames_dropped=self.frames_dropped,
                decode_errors=self.decode_errors,
                reconnects=self.reconnects,
                fps=fps,
                last_error=self.last_error,
                last_frame_at=self.last_frame_at,
            )


def as_bgr(image: object) -> Image | None:
    """`image` as a contiguous uint8 BGR (H, W, 3) array, or None if it is not an image."""
    if image is None:
        return None
    array = np.asarray(image)
    if array.size == 0 or array.ndim not in (2, 3):
        return None
    if array.dtype != np.uint8:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            return None
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    elif array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    elif array.shape[2] == 1:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    elif array.shape[2] != 3:
        return None
    return np.ascontiguousarray(array, dtype=np.uint8)


class FrameSource(abc.ABC):
    """An iterator of `Frame` from one camera or file.

    Iterating ends when a file or folder is exhausted or when the source is
    closed; a live source keeps waiting (and reconnecting) until `close()`.
    Use it as a context manager, or call `close()`, to release it.
    """

    def __init__(self, *, camera_id: str, kind: SourceKind, source: str) -> None:
        self._state = HealthState(camera_id=camera_id, kind=kind, source=source)

    @property
    def camera_id(self) -> str:
        return self._state.camera_id

    @property
    def kind(self) -> SourceKind:
        return self._state.kind

    @property
    def source(self) -> str:
        """The source string with credentials scrubbed."""
        return self._state.source

    def health(self) -> SourceHealth:
        """A snapshot of the source's counters and state."""
        return self._state.snapshot()

    @abc.abstractmethod
    def read(self, *, timeout: float | None = None) -> Frame | None:
        """The next frame, or None.

        Files and folders return None once exhausted or closed (`timeout` is
        ignored). Live sources return None when no frame arrives within
        `timeout` seconds (None waits until a frame comes or the source is
        closed).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the source; safe to call more than once."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """True once `close()` was called (or a file/folder is exhausted)."""

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        while True:
            frame = self.read(timeout=0.5)
            if frame is not None:
                return frame
            if self.closed:
                raise StopIteration

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
