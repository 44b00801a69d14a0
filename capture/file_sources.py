"""Sources read from disk: a video file and a folder of images."""

from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

import cv2
import numpy as np

from capture.errors import CaptureError
from capture.frame_source import FrameSource, as_bgr
from capture.types import Frame, Image

logger = logging.getLogger(__name__)

DEFAULT_VIDEO_FPS = 25.0
"""Frame rate assumed for a video file whose container does not state one."""

DEFAULT_FOLDER_FPS = 10.0
"""Spacing of folder images in frames per second when no `sample_fps` is given."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

_MAX_READ_RETRIES = 3
_DIGITS = re.compile(r"(\d+)")


class _Pacer:
    """Sleeps so that positions in a file are emitted at wall-clock pace."""

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._origin: tuple[float, float] | None = None  # (position, monotonic)

    def wait(self, position: float) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if self._origin is None:
            self._origin = (position, now)
            return
        due = self._origin[1] + (position - self._origin[0])
        if due > now:
            time.sleep(due - now)


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded with OpenCV/FFmpeg.

    With `sample_fps`, keeps the first frame at or after every 1/sample_fps
    seconds of file position (frames in between are grabbed, not converted).
    A file that ends before the frame count in its header (truncated or
    corrupt) yields what it can; the loss is counted in `decode_errors` and
    described in `last_error`.
    """

    def __init__(
        self,
        *,
        path: Path,
        camera_id: str,
        sample_fps: float | None,
        start_time: float | None,
        realtime: bool,
    ) -> None:
        super().__init__(camera_id=camera_id, kind="file", source=str(path))
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise CaptureError(
                f"cannot open video file {path}: OpenCV/FFmpeg cannot decode it "
                "(not a video, unsupported codec, or truncated before its index, as an "
                "MP4 cut during recording is); check it with ffprobe or re-export it",
                camera_id=camera_id,
                source=str(path),
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
            logger.warning(
                "camera %s: video %s states no usable frame rate (%s); assuming %s fps",
                camera_id,
                self.source,
                fps,
                DEFAULT_VIDEO_FPS,
            )
            fps = DEFAULT_VIDEO_FPS
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self._capture: cv2.VideoCapture | None = capture
        self._fps = fps
        self._expected = int(count) if math.isfinite(count) and count > 0 else None
        self._sample_fps = sample_fps
        self._start_time = time.time() if start_time is None else start_time
        self._pacer = _Pacer(enabled=realtime)
        self._next_index = 0
        self._last_bucket = -1
        self._fail_streak = 0
        with self._state.lock:
            self._state.connected = True
        logger.info(
            "camera %s: opened video %s (%.3f fps, %s frames, sample_fps=%s)",
            camera_id,
            self.source,
            fps,
            self._expected,
            sample_fps,
        )

    @property
    def fps(self) -> float:
        """The file's frame rate (or `DEFAULT_VIDEO_FPS` when it states none)."""
        return self._fps

    @property
    def closed(self) -> bool:
        return self._capture is None

    def read(self, *, timeout: float | None = None) -> Frame | None:
        while self._capture is not None:
            capture = self._capture
            if not capture.grab():
                self._fail_streak += 1
                if self._expects_more() and self._fail_streak <= _MAX_READ_RETRIES:
                    continue
                self._end_of_file()
                return None
            index = self._frame_index(capture)
            self._count_losses(index)
            self._next_index = index + 1
            with self._state.lock:
                self._state.frame_read(time.time())
            position = index / self._fps
            if self._sample_fps is not None:
                bucket = math.floor(position * self._sample_fps + 1e-9)
                if bucket <= self._last_bucket:
                    continue
                self._last_bucket = bucket
            ok, raw = capture.retrieve()
            image = as_bgr(raw) if ok else None
            if image is None:
                self._record_error(f"frame {index} of {self.source} could not be decoded")
                continue
            self._pacer.wait(position)
            return Frame(
                camera_id=self.camera_id,
                index=index,
                timestamp=self._start_time + position,
                image=image,
            )
        return None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
            with self._state.lock:
                self._state.connected = False

    def _expects_more(self) -> bool:
        return self._expected is not None and self._next_index < self._expected

    def _frame_index(self, capture: cv2.VideoCapture) -> int:
        position = capture.get(cv2.CAP_PROP_POS_FRAMES)
        index = round(position) - 1 if math.isfinite(position) and position >= 1 else -1
        return max(index, self._next_index)

    def _count_losses(self, index: int) -> None:
        lost = index - self._next_index
        failures = self._fail_streak
        self._fail_streak = 0
        if lost > 0 or failures > 0:
            count = max(lost, 1)
            message = (
                f"{count} frame(s) of {self.source} lost or undecodable before frame "
                f"{index}; the file is partly corrupt"
            )
            with self._state.lock:
                self._state.error(message)
                self._state.decode_errors += count
            logger.warning("camera %s: %s", self.camera_id, message)

    def _end_of_file(self) -> None:
        expected = self._expected
        if expected is not None and expected - self._next_index > max(1, expected // 100):
            self._record_error(
                f"video {self.source} ended after {self._next_index} of {expected} frames; "
                "the file looks truncated or corrupt (re-copy or re-export it)"
            )
        logger.info(
            "camera %s: end of video %s after %d frames",
            self.camera_id,
            self.source,
            self._next_index,
        )
        self.close()

    def _record_error(self, message: str) -> None:
        with self._state.lock:
            self._state.error(message, decode_error=True)
        logger.warning("camera %s: %s", self.camera_id, message)


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key so that ``frame2.png`` comes before ``frame10.png``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in _DIGITS.split(path.name)
        if part
    )


class ImageFolderSource(FrameSource):
    """The images (.jpg, .jpeg, .png, .bmp, any case) of one folder, in natural
    name order (``f2`` before ``f10``); subfolders are not read.

    Images are spaced 1/sample_fps seconds apart (`DEFAULT_FOLDER_FPS` when
    `sample_fps` is None); `Frame.index` is the image's position in the
    listing. An undecodable image is skipped, counted in `decode_errors` and
    logged.
    """

    def __init__(
        self,
        *,
        path: Path,
        camera_id: str,
        sample_fps: float | None,
        start_time: float | None,
        realtime: bool,
    ) -> None:
        super().__init__(camera_id=camera_id, kind="folder", source=str(path))
        try:
            files = [
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            ]
        except OSError as exc:
            raise CaptureError(
                f"cannot list image folder {path}: {exc}; check that it exists and is readable",
                camera_id=camera_id,
                source=str(path),
            ) from exc
        if not files:
            raise CaptureError(
                f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {path}; "
                "point the source at the folder that holds the frames",
                camera_id=camera_id,
                source=str(path),
            )
        self._files: list[Path] | None = sorted(files, key=_natural_key)
        self._rate = sample_fps if sample_fps is not None else DEFAULT_FOLDER_FPS
        self._start_time = time.time() if start_time is None else start_time
        self._pacer = _Pacer(enabled=realtime)
        self._position = 0
        with self._state.lock:
            self._state.connected = True
        logger.info(
            "camera %s: opened image folder %s (%d images, %.3f fps)",
            camera_id,
            self.source,
            len(self._files),
            self._rate,
        )

    @property
    def closed(self) -> bool:
        return self._files is None

    def read(self, *, timeout: float | None = None) -> Frame | None:
        while self._files is not None and self._position < len(self._files):
            index = self._position
            path = self._files[index]
            self._position += 1
            image = self._load(path)
            if image is None:
                continue
            with self._state.lock:
                self._state.frame_read(time.time())
            position = index / self._rate
            self._pacer.wait(position)
            return Frame(
                camera_id=self.camera_id,
                index=index,
                timestamp=self._start_time + position,
                image=image,
            )
        if self._files is not None:
            logger.info(
                "camera %s: end of image folder %s (%d images)",
                self.camera_id,
                self.source,
                len(self._files),
            )
            self.close()
        return None

    def close(self) -> None:
        if self._files is not None:
            self._files = None
            with self._state.lock:
                self._state.connected = False

    def _load(self, path: Path) -> Image | None:
        try:
            data = np.fromfile(path, dtype=np.uint8)
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except (OSError, cv2.error) as exc:
            reason = f"cannot read image {path}: {exc}"
        else:
            image = as_bgr(decoded)
            if image is not None:
                return image
            reason = f"cannot decode image {path} (corrupt or not an image); skipped"
        with self._state.lock:
            self._state.error(reason, decode_error=True)
        logger.warning("camera %s: %s", self.camera_id, reason)
        return None
