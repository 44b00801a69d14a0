"""Frame capture for lanecap: video files, image folders, RTSP/HTTP streams and
local cameras, plus a generic IoU tracker and cross-camera grouping of tracks
into vehicles.

Never imports `recognition`, `storage` or `lanecap`: `lanecap` wires them together.
"""

from capture.errors import CaptureError
from capture.fusion import CrossingGrouper, GroupMember, VehicleGroup
from capture.sources import FrameSource, open_source
from capture.stream_source import StreamOptions
from capture.tracker import BoxTuple, IouTracker, Observation, Track
from capture.types import CameraRole, Frame, Image, SourceHealth, SourceKind
from capture.urls import scrub_url

__all__ = [
    "BoxTuple",
    "CameraRole",
    "CaptureError",
    "CrossingGrouper",
    "Frame",
    "FrameSource",
    "GroupMember",
    "Image",
    "IouTracker",
    "Observation",
    "SourceHealth",
    "SourceKind",
    "StreamOptions",
    "Track",
    "VehicleGroup",
    "open_source",
    "scrub_url",
]
