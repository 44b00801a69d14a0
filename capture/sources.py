"""Opening a source string as a `FrameSource`."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from capture.errors import CaptureError
from capture.file_sources import ImageFolderSource, VideoFileSource
from capture.frame_source import FrameSource
from capture.stream_source import StreamOptions, StreamSource, device_opener, ffmpeg_opener
from capture.urls import device_index, has_scheme, is_stream_url, scrub_url

logger = logging.getLogger(__name__)

__all__ = ["FrameSource", "open_source"]


def open_source(
    source: str,
    *,
    camera_id: str,
    sample_fps: float | None = None,
    start_time: float | None = None,
    realtime: bool = False,
    stream_options: StreamOptions | None = None,
) -> FrameSource:
    """Open `source` as an iterator of frames for camera `camera_id`.

    `source` is one of:

    - ``rtsp://``, ``rtsps://``, ``http://``, ``https://`` URL: read by
      OpenCV/FFmpeg in a background thread, reconnecting on failure
      (`stream_options` tunes it). Connection problems never raise; they show
      in ``health()``.
    - ``device:N`` or a bare integer ``N``: local camera N, read like a stream.
    - a folder: its .jpg/.jpeg/.png/.bmp images in natural name order, spaced
      1/sample_fps seconds apart (10 fps when `sample_fps` is None).
    - any other path: a video file.

    `sample_fps` keeps at most that many frames per second (by position in a
    video file, by arrival time for live sources). `start_time` (epoch
    seconds, default: now) is the timestamp of position 0 of a file or
    folder. `realtime` makes files and folders deliver frames at the pace of
    their timestamps instead of as fast as they decode.

    Raises CaptureError when a file or folder is missing or cannot be opened,
    or when the arguments are invalid.
    """
    shown = scrub_url(source)
    if not camera_id:
        raise CaptureError("camera_id is empty; give every source a camera id", source=source)
    if sample_fps is not None and not (math.isfinite(sample_fps) and sample_fps > 0):
        raise CaptureError(
            f"sample_fps must be a positive number of frames per second, not {sample_fps}",
            camera_id=camera_id,
            source=source,
        )
    text = source.strip()
    if is_stream_url(text):
        logger.info("camera %s: opening stream %s", camera_id, shown)
        options = stream_options or StreamOptions()
        return StreamSource(
            source=text,
            camera_id=camera_id,
            kind="stream",
            opener=ffmpeg_opener(text, options),
            sample_fps=sample_fps,
            options=options,
        )
    index = device_index(text)
    if index is not None:
        logger.info("camera %s: opening local camera %d", camera_id, index)
        return StreamSource(
            source=f"device:{index}",
            camera_id=camera_id,
            kind="device",
            opener=device_opener(index),
            sample_fps=sample_fps,
            options=stream_options,
        )
    if has_scheme(text):
        raise CaptureError(
            f"unsupported source {shown}: use rtsp://, rtsps://, http(s)://, device:N, "
            "a video file path or an image folder",
            camera_id=camera_id,
            source=source,
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(
            path=path,
            camera_id=camera_id,
            sample_fps=sample_fps,
            start_time=start_time,
            realtime=realtime,
        )
    if path.is_file():
        return VideoFileSource(
            path=path,
            camera_id=camera_id,
            sample_fps=sample_fps,
            start_time=start_time,
            realtime=realtime,
        )
    raise CaptureError(
        f"no such video file or image folder: {path}; check the path (and that its "
        "disk or share is mounted), or give an rtsp://, http(s):// URL or device:N",
        camera_id=camera_id,
        source=source,
    )
