"""What leaves the capture package: frames and source health.

Images are BGR uint8 arrays of shape (height, width, 3) as OpenCV returns
them; pixel coordinates have their origin at the top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""A BGR image, shape (height, width, 3), dtype uint8."""

SourceKind = Literal["file", "folder", "stream", "device"]
"""`file`: a video file; `folder`: a folder of images; `stream`: an
rtsp(s)/http(s) URL; `device`: a local camera (``device:0``)."""

CameraRole = Literal["front_plate", "rear_plate", "driver", "overview"]
"""What a lane camera looks at."""


@dataclass(frozen=True)
class Frame:
    """One image from a source.

    `index` is the frame number in the source: the position in a video file
    (0-based; frames lost to corruption leave gaps), the position of the image
    in the sorted folder listing, or a running count of frames received from a
    live source. `timestamp` is in seconds since the epoch: wall-clock
    ``time.time()`` at reception for live sources; for files and folders the
    caller's start time plus the frame's position in the file, so a file
    replays with realistic timing.
    """

    camera_id: str
    index: int
    timestamp: float
    image: Image = field(repr=False, compare=False)


@dataclass(frozen=True)
class SourceHealth:
    """A snapshot of how a source is doing.

    `source` and `last_error` never contain credentials. `frames_read` counts
    frames decoded from the source (before `sample_fps` subsampling);
    `frames_dropped` counts frames a live source discarded because the
    consumer was too slow; `decode_errors` counts unreadable images, failed
    reads and frames lost in a corrupt file; `reconnects` counts reconnection
    attempts of a live source. `fps` is the measured rate of frames read over
    the last few seconds (0.0 before two frames). `last_frame_at` is the
    wall-clock ``time.time()`` of the last frame read, None before the first.
    """

    camera_id: str
    kind: SourceKind
    source: str
    connected: bool
    frames_read: int
    frames_dropped: int
    decode_errors: int
    reconnects: int
    fps: float
    last_error: str | None
    last_frame_at: float | None
