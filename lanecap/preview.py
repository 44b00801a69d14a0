"""Live previews: the booth sees a vehicle's plate while the vehicle is still in the lane.

A crossing is stored only once its vehicle has left (the tracker's gap plus the fusion
window, seconds after the last frame). A vehicle that stops at the booth would otherwise
not be shown until it drove off. So as soon as a plate track has `min_reads` reads, the
node seals the current vote (text, confidence, best crop) as a preview; the officer
service opens it (audited) and pushes it to the booth with any hot-list hit. When the
vote changes, a new preview follows. The stored crossing, when it comes, replaces it.

Node side: `LiveAnnouncer` (what to announce) and `PreviewSealer` (seal it: a fresh data
key wrapped to the agency public key; the node cannot read it back).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from capture.tracker import Track
from capture.types import CameraRole
from lanecap.keys import LaneKeys
from lanecap.pipeline import PLATE_ROLES, FaceSighting, LanePipeline, PlateSighting, Sighting
from recognition.plates.vote import Vote, vote
from recognition.types import Image
from storage.crypto import DataKey
from storage.previews import PreviewRecord, preview_slot

CROP_MAX_WIDTH = 320  # previews carry a small crop inline


@dataclass(frozen=True)
class LiveRead:
    """A plate track's vote so far, for a vehicle still in view."""

    lane_id: str
    camera_id: str
    role: CameraRole
    track_id: int
    first_seen: float
    seen_at: float
    vote: Vote
    crop: Image = field(repr=False)
    face: FaceSighting | None = None  # the best usable driver face in view at the same time


def _best_face(tracks: list[Track[Sighting]], start: float, end: float) -> FaceSighting | None:
    """The best usable driver face seen between start and end (with a second's slack)."""
    faces = [
        o.payload
        for t in tracks
        for o in t.observations
        if isinstance(o.payload, FaceSighting)
        and o.payload.face.reject_reason is None
        and start - 1.0 <= o.timestamp <= end + 1.0
    ]
    return max(faces, key=lambda f: f.face.quality, default=None)


class LiveAnnouncer:
    """Picks the plate tracks to announce: enough reads, and a vote (or a driver face)
    not announced yet."""

    def __init__(self, pipeline: LanePipeline, *, min_reads: int = 2) -> None:
        if min_reads < 1:
            raise ValueError(f"min_reads must be at least 1, not {min_reads}")
        self.pipeline = pipeline
        self.min_reads = min_reads
        self._announced: dict[tuple[str, int], tuple[str, bool]] = {}

    def poll(self) -> list[LiveRead]:
        out: list[LiveRead] = []
        live: dict[tuple[str, int], tuple[str, bool]] = {}
        face_tracks = [t for _, t in self.pipeline.active_tracks({"driver"})]
        for cam_id, track in self.pipeline.active_tracks(PLATE_ROLES):
            key = (cam_id, track.id)
            plates = [o.payload for o in track.observations if isinstance(o.payload, PlateSighting)]
            reads = [p.read for p in plates if p.read is not None]
            fused = vote(reads) if len(reads) >= self.min_reads else None
            if fused is not None:  # the same calibrated confidence as the crossing's
                cal = self.pipeline.calibration.apply(fused.confidence)
                fused = replace(fused, confidence=round(cal, 4))
            if fused is None:
                if key in self._announced:
                    live[key] = self._announced[key]
                continue
            face = _best_face(face_tracks, track.first_seen, track.last_seen)
            said = self._announced.get(key)
            # a face found later is announced once; a better face of the same driver is not
            has_face = face is not None or (said is not None and said[1])
            live[key] = (fused.text, has_face)
            if said == live[key]:
                continue
            best = max(plates, key=lambda p: p.detection.score * p.detection.box.width)
            out.append(
                LiveRead(
                    lane_id=self.pipeline.lane.id,
                    camera_id=cam_id,
                    role=plates[0].role,
                    track_id=track.id,
                    first_seen=track.first_seen,
                    seen_at=track.last_seen,
                    vote=fused,
                    crop=best.crop,
                    face=face,
                )
            )
        self._announced = live  # tracks that ended are forgotten
        return out


def _small_jpeg(image: Image) -> bytes:
    h, w = image.shape[:2]
    small: np.ndarray[Any, Any] = image
    if w > CROP_MAX_WIDTH:
        small = cv2.resize(image, (CROP_MAX_WIDTH, max(1, round(h * CROP_MAX_WIDTH / w))))
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("could not encode the preview crop as JPEG")
    return bytes(buf.tobytes())


def _b64_jpeg(image: Image) -> str | None:
    return base64.b64encode(_small_jpeg(image)).decode("ascii") if image.size else None


@dataclass(frozen=True)
class PreviewSealer:
    keys: LaneKeys = field(repr=False)
    # The id names the vote it shows, under a namespace only this process knows: an id
    # derived from the plate under a public namespace would let anyone test plate guesses.
    namespace: uuid.UUID = field(default_factory=uuid.uuid4, repr=False)

    def seal(self, r: LiveRead) -> PreviewRecord:
        face = r.face
        pid = uuid.uuid5(
            self.namespace,
            f"{r.lane_id}:{r.camera_id}:{r.first_seen:.3f}:{r.vote.text}:{face is not None}",
        )
        data_key = DataKey.generate()
        payload = {
            "v": 1,
            "plate_text": r.vote.text,
            "confidence": r.vote.confidence,
            "char_conf": list(r.vote.char_confidences),
            "n_reads": r.vote.n_reads,
            "role": r.role,
            "crop_jpeg": _b64_jpeg(r.crop),
            "face_jpeg": None if face is None else _b64_jpeg(face.crop),
            "face_encoding": None
            if face is None
            else [float(v) for v in np.asarray(face.face.encoding, dtype=np.float32)],
        }
        return PreviewRecord(
            id=pid,
            lane_id=r.lane_id,
            camera_id=r.camera_id,
            first_seen=datetime.fromtimestamp(r.first_seen, tz=UTC),
            seen_at=datetime.fromtimestamp(r.seen_at, tz=UTC),
            key=self.keys.sealer.wrap(data_key, purpose="plates"),
            sealed=data_key.encrypt(
                json.dumps(payload, separators=(",", ":")).encode("utf-8"), slot=preview_slot(pid)
            ),
            face_quality=None if face is None else face.face.quality,
        )
