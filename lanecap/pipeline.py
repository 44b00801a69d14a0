"""The lane pipeline: frames -> detections -> per-camera tracks -> one crossing per vehicle.

Plate cameras (front, rear, overview) run the plate detector and reader; the
driver camera runs the face encoder. Each camera's sightings are tracked; the
finished tracks of all cameras are grouped by time into vehicles, and each
vehicle becomes one Crossing with its reads fused by vote.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from capture.fusion import CrossingGrouper, VehicleGroup
from capture.motion import MotionDetector, vehicle_tracker
from capture.rejects import RejectedBoxes
from capture.tracker import BoxTuple, IouTracker, Track, centre_distance
from capture.types import CameraRole, Frame
from lanecap.config import LaneConfig
from lanecap.errors import PipelineError
from recognition.faces.driver import DriveSide, SeatLayout, blur_passengers, select_driver
from recognition.plates.calibrate import DEFAULT_FILE as CALIBRATION_FILE
from recognition.plates.calibrate import Calibration
from recognition.plates.confirm import CONFIRM_FLOOR, confirms
from recognition.plates.vote import Vote, vote
from recognition.types import (
    Box,
    FaceEncoder,
    FaceObservation,
    Image,
    PlateDetection,
    PlateDetector,
    PlateRead,
    PlateReader,
)

log = logging.getLogger(__name__)
CHECK_BELOW = 0.9
"""A crossing whose plate is less likely than this to be exactly right is flagged check_plate."""


def shipped_calibration() -> Calibration:
    """recognition/models/plate_confidence.json (raw scores when it is absent)."""
    if CALIBRATION_FILE.exists():
        return Calibration.load(CALIBRATION_FILE)
    log.warning("no plate confidence calibration at %s: raw scores", CALIBRATION_FILE)
    return Calibration.identity()


CROSSING_NS = uuid.UUID("6f1c1f9e-6a8f-4c51-9f3e-2f3a1f0c7b11")
SETTLED_CONFIDENCE = 0.8
READS_BEFORE_GROWTH = 6
"""After this many reads of a plate that has not settled, a frame is read only when the
plate is at least GROWTH times taller than at every read so far (a vehicle waiting at
the booth with an ambiguous plate is not read at every frame)."""
GROWTH = 1.25
STALL_S = 5.0
"""A camera whose newest analysed frame is older than this (by `poll`'s clock) is stalled:
its tracks end by that clock. Otherwise they end by its frames' own time, so a node
working through a backlog of frames does not end a vehicle that is still in them."""
PLATE_ROLES: frozenset[CameraRole] = frozenset({"front_plate", "rear_plate", "overview"})


@dataclass(frozen=True)
class PlateSighting:
    """A plate seen in one frame; the box is in full-frame pixels (x1, y1, x2, y2)."""

    camera_id: str
    role: CameraRole
    timestamp: float
    detection: PlateDetection
    read: PlateRead | None
    crop: Image = field(repr=False)
    read_tried: bool = False


@dataclass(frozen=True)
class FaceSighting:
    """A face seen in one frame of a driver camera; a driver's sighting carries the
    passengers' faces of the same frame only when the site keeps them."""

    camera_id: str
    timestamp: float
    face: FaceObservation
    crop: Image = field(repr=False)
    passengers: tuple[FaceSighting, ...] = ()


@dataclass(frozen=True)
class VehicleSighting:
    """A moving vehicle seen in one frame by a camera with `vehicles = "motion"`;
    the box is in full-frame pixels (x1, y1, x2, y2)."""

    camera_id: str
    role: CameraRole
    timestamp: float
    box: Box


Sighting = PlateSighting | FaceSighting | VehicleSighting


@dataclass(frozen=True)
class Crossing:
    """One vehicle's pass through a lane; times are epoch seconds.

    face_status: `captured`, `no_driver_camera`, `no_face_found`, or why the best driver
    face was unusable (recognition.faces.quality.RejectReason: too_small, blurred, ...).
    Only a usable driver face is kept. `passengers` (the faces beside the driver in the
    kept frame) is empty unless the site's policy keeps passengers' faces.
    plate_flags: `front_rear_disagree`, `no_plate_read`, `no_plate_seen`, `check_plate`
    (the plate's calibrated confidence, the chance the read is exactly right, is below
    `check_below`: the booth and search show it as "check plate", never as certain).
    `n_frames` counts the frames kept: a vehicle in view for minutes is thinned to the
    tracker's `max_observations` per camera.
    `vehicles`: the vehicle's motion boxes from cameras with `vehicles = "motion"`; such a
    vehicle is one crossing even when no plate was seen (flag `no_plate_seen`).
    """

    id: uuid.UUID
    lane_id: str
    started_at: float
    ended_at: float
    plate: Vote | None
    plate_flags: tuple[str, ...]
    plates: tuple[PlateSighting, ...]
    best_plate: PlateSighting | None
    driver: FaceSighting | None
    face_status: str
    n_frames: int
    passengers: tuple[FaceSighting, ...] = ()
    vehicles: tuple[VehicleSighting, ...] = ()


def _offset(det: PlateDetection, dx: int, dy: int) -> PlateDetection:
    b = det.box
    return PlateDetection(Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy), det.score)


def _moved(f: FaceObservation, dx: int, dy: int) -> FaceObservation:
    return f.moved(dx, dy) if dx or dy else f


class LanePipeline:
    def __init__(
        self,
        lane: LaneConfig,
        *,
        detector: PlateDetector | None,
        reader: PlateReader | None,
        faces: FaceEncoder | None,
        min_score: float = 0.35,
        keep_passengers: bool = False,
        settle_reads: int = 3,
        confirm_floor: float = CONFIRM_FLOOR,
        calibration: Calibration | None = None,
        check_below: float = CHECK_BELOW,
    ) -> None:
        self.lane = lane
        # the crossing's plate confidence is the calibrated chance that it is exactly right
        self.calibration = calibration if calibration is not None else shipped_calibration()
        self.check_below = check_below
        self.confirm_floor = min(confirm_floor, min_score)
        self._rejected = {c.id: RejectedBoxes() for c in lane.cameras}
        self._clock: dict[str, float] = {}  # newest analysed frame's time, per camera
        self._last_plate: Tail | None = None  # where the previous crossing's plate was last seen
        self.repeats_dropped = 0
        self.keep_passengers = keep_passengers
        self.settle_reads = settle_reads
        self.detector = detector
        self.reader = reader
        self.faces = faces
        self.min_score = min_score
        self.cameras = {c.id: c for c in lane.cameras}
        gap = lane.vehicle_gap_s
        self._trackers: dict[str, IouTracker[Sighting]] = {
            c.id: IouTracker(max_gap=gap, min_hits=2) for c in lane.cameras
        }
        # cameras with vehicles = "motion": whole vehicles, tracked apart from plates and faces
        self._motion = {c.id: MotionDetector() for c in lane.cameras if c.vehicles == "motion"}
        self._vehicle_trackers: dict[str, IouTracker[Sighting]] = {
            cam_id: vehicle_tracker(max_gap=gap) for cam_id in self._motion
        }
        self._grouper: CrossingGrouper[Sighting] = CrossingGrouper(
            window=lane.fusion_window_s, settle=gap + 0.5
        )
        self.frames_seen = 0
        self.frames_with_detection: dict[str, int] = {c.id: 0 for c in lane.cameras}
        self.frames_per_camera: dict[str, int] = {c.id: 0 for c in lane.cameras}
        self.driver_not_found = 0
        # Right-hand traffic means left-hand-drive vehicles: the driver sits on the left.
        self._drive_side: DriveSide = "left" if lane.driving_side == "right" else "right"

    def process(self, frame: Frame) -> None:
        cam = self.cameras[frame.camera_id]
        image: Image = frame.image
        dx = dy = 0
        if cam.roi is not None:
            x1, y1, x2, y2 = cam.roi
            image = image[y1:y2, x1:x2]
            dx, dy = x1, y1
        self.frames_seen += 1
        self._clock[cam.id] = max(self._clock.get(cam.id, frame.timestamp), frame.timestamp)
        items: list[tuple[BoxTuple, Sighting]] = []
        motion = self._motion.get(cam.id)
        plates_off = motion is not None and (self.detector is None or self.reader is None)
        if cam.role in PLATE_ROLES and not plates_off:  # a motion camera may track vehicles only
            if self.detector is None or self.reader is None:
                raise PipelineError(
                    "a plate camera needs a detector and a reader", lane=self.lane.id
                )
            for det in self.detector.detect(image):
                if det.score < self.confirm_floor:
                    continue
                crop = det.box.crop(image, pad=0.05)  # +2.7 points exact on real plates
                full = _offset(det, dx, dy)
                b = full.box
                where = (b.x1, b.y1, b.x2, b.y2)
                seen = PlateSighting(cam.id, cam.role, frame.timestamp, full, None, crop.copy())
                kept = self._confirmed(seen, where) if det.score < self.min_score else seen
                if kept is not None:  # an unsure candidate is kept only if read surely
                    items.append((where, kept))
        elif cam.role == "driver" and self.faces is not None:
            found = self.faces.faces(image)
            h, w = image.shape[:2]
            layout = SeatLayout(drive_side=self._drive_side, camera=cam.face_view)
            keep = self.keep_passengers
            sel = select_driver(found, region=Box(0, 0, w, h), layout=layout, keep_passengers=keep)
            if sel.driver is not None:
                # Passengers' encodings are dropped and their faces blurred in what is kept,
                # unless the site's policy keeps them: then they are kept like the driver's.
                shown = blur_passengers(image, sel) if sel.passenger_boxes and not keep else image
                b = sel.driver.box
                crop = b.crop(shown, pad=0.2).copy()
                moved = _moved(sel.driver, dx, dy)
                riders = tuple(
                    FaceSighting(
                        cam.id,
                        frame.timestamp,
                        _moved(p, dx, dy),
                        p.box.crop(image, pad=0.2).copy(),
                    )
                    for p in sel.passengers
                )
                items.append(
                    (
                        (moved.box.x1, moved.box.y1, moved.box.x2, moved.box.y2),
                        FaceSighting(cam.id, frame.timestamp, moved, crop, riders),
                    )
                )
            elif found:
                self.driver_not_found += 1
        self.frames_per_camera[cam.id] += 1
        if items:
            self.frames_with_detection[cam.id] += 1
        ids = self._trackers[cam.id].update(frame.timestamp, items)
        if cam.role in PLATE_ROLES and items:
            self._read_plates(cam.id, ids)
        if motion is not None:
            moving: list[tuple[BoxTuple, Sighting]] = []
            for vx1, vy1, vx2, vy2 in motion.detect(image, frame.timestamp):
                box = Box(vx1 + dx, vy1 + dy, vx2 + dx, vy2 + dy)
                vehicle = VehicleSighting(cam.id, cam.role, frame.timestamp, box)
                moving.append(((box.x1, box.y1, box.x2, box.y2), vehicle))
            self._vehicle_trackers[cam.id].update(frame.timestamp, moving)

    def _confirmed(self, sighting: PlateSighting, box: BoxTuple) -> PlateSighting | None:
        """Read a low-scoring candidate now; None unless the read confirms a plate."""
        assert self.reader is not None
        rejected = self._rejected[sighting.camera_id]
        if rejected.covers(box, sighting.timestamp):
            return None
        read = self.reader.read(sighting.crop) if sighting.crop.size else None
        if not confirms(read):
            rejected.add(box, sighting.timestamp)
            return None
        return replace(sighting, read=read, read_tried=True)

    def _read_plates(self, camera_id: str, track_ids: list[int]) -> None:
        """Read this frame's plate crops, except on tracks whose reading has settled
        and, after READS_BEFORE_GROWTH reads, where the plate has not grown."""
        assert self.reader is not None
        tracks = {t.id: t for t in self._trackers[camera_id].active}
        for tid in track_ids:
            track = tracks[tid]
            obs = track.observations[-1]
            sighting = obs.payload
            if not isinstance(sighting, PlateSighting) or not self._wants_read(track, sighting):
                continue
            read = self.reader.read(sighting.crop) if sighting.crop.size else None
            track.observations[-1] = obs._replace(
                payload=replace(sighting, read=read, read_tried=True)
            )

    def _wants_read(self, track: Track[Sighting], sighting: PlateSighting) -> bool:
        """Not read yet, not settled, and (after READS_BEFORE_GROWTH reads) grown."""
        if sighting.read_tried or self._settled(track):
            return False
        tried = [
            o.payload.crop.shape[0]
            for o in track.observations[:-1]
            if isinstance(o.payload, PlateSighting) and o.payload.read_tried
        ]
        return (
            self.settle_reads <= 0
            or len(tried) < READS_BEFORE_GROWTH
            or sighting.crop.shape[0] >= GROWTH * max(tried)
        )

    def _settled(self, track: Track[Sighting]) -> bool:
        """The last `settle_reads` reads of the track agree, each with confidence >= 0.8:
        further frames of this vehicle are tracked but not read (saves most reading time)."""
        if self.settle_reads <= 0:
            return False
        reads = [
            o.payload.read
            for o in track.observations[:-1]
            if isinstance(o.payload, PlateSighting) and o.payload.read is not None
        ][-self.settle_reads :]
        return (
            len(reads) == self.settle_reads
            and len({r.text for r in reads}) == 1
            and min(r.confidence for r in reads) >= SETTLED_CONFIDENCE
        )

    def detection_rate(self, camera_id: str) -> float | None:
        """Share of analysed frames with a plate or driver face: a calibration signal."""
        n = self.frames_per_camera.get(camera_id, 0)
        return self.frames_with_detection[camera_id] / n if n else None

    def _camera_time(self, cam_id: str, now: float) -> float:
        """`now` for a camera: its newest analysed frame's time unless it has stalled."""
        seen = self._clock.get(cam_id)
        return now if seen is None or now - seen > STALL_S else min(now, seen)

    def poll(self, now: float) -> list[Crossing]:
        """Crossings whose vehicle has left, as of `now` (epoch seconds, the frames' clock;
        a live node passes the wall clock, and a camera's frames behind it are waited for)."""
        for cam_id, tracker in self._vehicle_trackers.items():  # vehicles first: plates join them
            for track in tracker.pop_finished(self._camera_time(cam_id, now)):
                self._grouper.add(cam_id, self.cameras[cam_id].role, track, exclusive=True)
        for cam_id, tracker in self._trackers.items():
            for track in tracker.pop_finished(self._camera_time(cam_id, now)):
                self._grouper.add(cam_id, self.cameras[cam_id].role, track)
        # A vehicle every camera has finished with closes now, not after the fusion window.
        busy = [
            (cam_id, self.cameras[cam_id].role, t.first_seen, t.last_seen)
            for trackers in (self._trackers, self._vehicle_trackers)
            for cam_id, tracker in trackers.items()
            for t in tracker.active
        ]
        lane_now = min((self._camera_time(c, now) for c in self.cameras), default=now)
        ready = self._grouper.pop_ready(lane_now, complete_with=self.cameras.keys(), busy=busy)
        return self._new([self._crossing(g) for g in ready])

    def finish(self) -> list[Crossing]:
        for cam_id, tracker in self._vehicle_trackers.items():
            for track in tracker.flush():
                self._grouper.add(cam_id, self.cameras[cam_id].role, track, exclusive=True)
        for cam_id, tracker in self._trackers.items():
            for track in tracker.flush():
                self._grouper.add(cam_id, self.cameras[cam_id].role, track)
        return self._new([self._crossing(g) for g in self._grouper.flush()])

    def _new(self, found: list[Crossing]) -> list[Crossing]:
        """Drop a crossing that is the lane's previous vehicle seen again: the same plate
        within `repeat_window_s`, first seen where (and about as large as) that vehicle was
        last seen. A next vehicle read alike enters the view elsewhere, smaller: it is kept."""
        out = []
        for c in sorted(found, key=lambda c: c.started_at):
            last = self._last_plate
            if last is not None and _continues(last, c, self.lane.repeat_window_s):
                self.repeats_dropped += 1
                log.info("lane %s: a plate seen again %.1f s after its crossing: same vehicle",
                         self.lane.id, c.started_at - last.ended_at)  # fmt: skip
            else:
                out.append(c)
            self._last_plate = _tail(c) or last
        return out

    def _crossing(self, group: VehicleGroup[Sighting]) -> Crossing:
        plates: list[PlateSighting] = []
        faces: list[FaceSighting] = []
        vehicles: list[VehicleSighting] = []
        for member in group.members:
            for obs in member.track.observations:
                if isinstance(obs.payload, PlateSighting):
                    plates.append(obs.payload)
                elif isinstance(obs.payload, VehicleSighting):
                    vehicles.append(obs.payload)
                else:
                    faces.append(obs.payload)
        reads = [p.read for p in plates if p.read is not None]
        fused = vote(reads)
        flags: list[str] = []
        if fused is not None:
            fused = replace(fused, confidence=round(self.calibration.apply(fused.confidence), 4))
        if not plates:
            flags.append("no_plate_seen")
        elif fused is None:
            flags.append("no_plate_read")
        elif fused.confidence < self.check_below:
            flags.append("check_plate")
        by_role = {
            role: vote([p.read for p in plates if p.role == role and p.read is not None])
            for role in ("front_plate", "rear_plate")
        }
        front, rear = by_role["front_plate"], by_role["rear_plate"]
        if front is not None and rear is not None and front.text != rear.text:
            flags.append("front_rear_disagree")
        best_plate = max(
            plates, key=lambda p: p.detection.score * p.detection.box.width, default=None
        )
        has_driver_cam = any(c.role == "driver" for c in self.lane.cameras)
        usable = [f for f in faces if f.face.reject_reason is None]
        driver = max(usable or faces, key=lambda f: f.face.quality, default=None)
        if not has_driver_cam:
            status = "no_driver_camera"
        elif driver is None:
            status = "no_face_found"
        elif driver.face.reject_reason is not None:
            status = driver.face.reject_reason  # too_small, blurred, not_frontal, ...
        else:
            status = "captured"
        frames = (
            {(p.camera_id, p.timestamp) for p in plates}
            | {(f.camera_id, f.timestamp) for f in faces}
            | {(v.camera_id, v.timestamp) for v in vehicles}
        )
        cams = ",".join(sorted({m.camera_id for m in group.members}))
        key = f"{self.lane.id}:{group.first_seen:.3f}:{cams}"
        if vehicles:  # two vehicles one camera saw start together are still two crossings
            key += ":" + ",".join(
                f"{m.camera_id}/{m.track.id}"
                for m in group.members
                if isinstance(m.track.observations[0].payload, VehicleSighting)
            )
        cid = uuid.uuid5(CROSSING_NS, key)
        return Crossing(
            id=cid,
            lane_id=self.lane.id,
            started_at=group.first_seen,
            ended_at=group.last_seen,
            plate=fused,
            plate_flags=tuple(flags),
            plates=tuple(plates),
            best_plate=best_plate,
            driver=driver if status == "captured" else None,
            face_status=status,
            n_frames=len(frames),
            passengers=driver.passengers if driver is not None and status == "captured" else (),
            vehicles=tuple(vehicles),
        )

    def active_tracks(self, roles: Collection[CameraRole]) -> list[tuple[str, Track[Sighting]]]:
        """(camera id, track) of what cameras of these roles still see (for live previews)."""
        return [
            (cam_id, track)
            for cam_id, tracker in self._trackers.items()
            if self.cameras[cam_id].role in roles
            for track in tracker.active
        ]


@dataclass(frozen=True)
class Tail:
    """A crossing's plate text and its last sighting: when it ended, where, on which camera."""

    text: str
    ended_at: float
    camera_id: str
    box: Box


def _tail(c: Crossing) -> Tail | None:
    if c.plate is None or not c.plate.text or not c.plates:
        return None
    s = max(c.plates, key=lambda p: p.timestamp)
    return Tail(c.plate.text, c.ended_at, s.camera_id, s.detection.box)


def _continues(last: Tail, c: Crossing, window: float) -> bool:
    """Whether crossing c repeats `last`'s plate within `window` s, starting where it ended."""
    if c.plate is None or c.plate.text != last.text or c.started_at - last.ended_at > window:
        return False
    same_cam = [p for p in c.plates if p.camera_id == last.camera_id]
    if not same_cam:
        return False
    a, b = last.box, min(same_cam, key=lambda p: p.timestamp).detection.box
    apart = centre_distance((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2))
    return b.area >= 0.5 * a.area and apart <= 2.0  # within two box sizes, about as large
