"""A small generic IoU tracker: links per-frame detections of one camera into tracks.

Boxes are `BoxTuple` = (x1, y1, x2, y2) in pixels, origin top-left, x2/y2
exclusive. Timestamps are seconds on any one clock (frame timestamps).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

BoxTuple = tuple[float, float, float, float]
"""(x1, y1, x2, y2) in pixels: top-left and bottom-right corners."""


class Observation(NamedTuple, Generic[T]):
    """One detection assigned to a track: when, where, and the caller's payload."""

    timestamp: float
    box: BoxTuple
    payload: T


@dataclass(frozen=True, eq=False)
class Track(Generic[T]):
    """Detections of one object over time, oldest first.

    `observations` grows while the tracker owns the track; once returned by
    `pop_finished` or `flush` it is no longer touched.
    """

    id: int
    observations: list[Observation[T]] = field(default_factory=list)

    @property
    def first_seen(self) -> float:
        return self.observations[0].timestamp

    @property
    def last_seen(self) -> float:
        return self.observations[-1].timestamp

    @property
    def last_box(self) -> BoxTuple:
        return self.observations[-1].box

    @property
    def hits(self) -> int:
        return len(self.observations)


def iou(a: BoxTuple, b: BoxTuple) -> float:
    """Intersection over union of two boxes; 0.0 when either is empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(box: BoxTuple) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def centre_distance(a: BoxTuple, b: BoxTuple) -> float:
    """Distance between centres over the larger side of the larger box."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2.0
    dy = (a[1] + a[3] - b[1] - b[3]) / 2.0
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return math.hypot(dx, dy) / size if size > 0 else math.inf


MAX_EXTRAPOLATION = 4.0
"""A track's box is predicted at most this many of its last steps ahead."""


def _references(track: Track[T], now: float) -> tuple[BoxTuple, ...]:
    """Where to look for a track's object at `now`: its last box and, once it has moved,
    that box carried on at its last velocity (an approaching plate moves and grows, and
    a node that skipped frames sees it far from where it was)."""
    obs = track.observations
    if len(obs) < 2:
        return (track.last_box,)
    (t0, a, _), (t1, b, _) = obs[-2], obs[-1]
    if t1 <= t0 or now <= t1:
        return (b,)
    k = min((now - t1) / (t1 - t0), MAX_EXTRAPOLATION)
    x1, y1, x2, y2 = (q + (q - p) * k for p, q in zip(a, b, strict=True))
    if x2 <= x1 or y2 <= y1:
        return (b,)
    return (b, (x1, y1, x2, y2))


class IouTracker(Generic[T]):
    """Greedy IoU tracker for the detections of one camera.

    Each `update` matches detections to live tracks (last seen at most
    `max_gap` seconds before), comparing each with the track's last box and with that
    box carried on at the track's last velocity (at most MAX_EXTRAPOLATION steps),
    whichever is closer: pairs with IoU >= `iou_threshold` are taken
    highest IoU first; detections and tracks left over are then paired by
    centre distance (relative to the larger box side) <= `max_centre_distance`
    when their areas differ by at most `max_area_ratio`, closest first, which
    keeps an object that moved far between sampled frames. Ties break by
    track id, then detection order, so results are deterministic. Unmatched
    detections start new tracks (ids 1, 2, ...).

    Tracks not updated for more than `max_gap` seconds are finished, except a track
    seen in the newest frame the camera analysed: a node that falls behind and skips
    frames for a while has no evidence that the object left, so such a track stays
    live up to `max_hold` seconds and the next analysed frame can still continue it
    (otherwise one vehicle splits into two crossings). Finished
    tracks with fewer than `min_hits` observations are discarded as noise and
    counted in `discarded`. A track longer than `max_observations` (an object that
    stays in view: a vehicle held at the booth, a sign the detector likes) is
    thinned, every other observation of its older half dropped, keeping the first
    and the recent ones, so its memory stays bounded.
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        max_gap: float = 1.0,
        min_hits: int = 2,
        max_centre_distance: float = 1.0,
        max_area_ratio: float = 4.0,
        max_observations: int = 300,
        max_hold: float = 5.0,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], not {iou_threshold}")
        if max_gap < 0 or min_hits < 1 or max_centre_distance < 0 or max_area_ratio < 1:
            raise ValueError(
                "need max_gap >= 0, min_hits >= 1, max_centre_distance >= 0, max_area_ratio >= 1"
            )
        if max_hold < max_gap:
            raise ValueError(f"max_hold ({max_hold}) must be at least max_gap ({max_gap})")
        if max_observations < 4:
            raise ValueError(f"max_observations must be at least 4, not {max_observations}")
        self.max_observations = max_observations
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self.max_hold = max_hold
        self._last_frame: float | None = None  # the newest timestamp given to update
        self.min_hits = min_hits
        self.max_centre_distance = max_centre_distance
        self.max_area_ratio = max_area_ratio
        self._tracks: list[Track[T]] = []
        self._next_id = 1
        self._discarded = 0

    @property
    def active(self) -> list[Track[T]]:
        """Tracks not yet finished, oldest id first."""
        return list(self._tracks)

    @property
    def discarded(self) -> int:
        """How many finished tracks were dropped for having fewer than `min_hits`."""
        return self._discarded

    def update(self, timestamp: float, detections: Sequence[tuple[BoxTuple, T]]) -> list[int]:
        """Add one frame's detections; returns the track id of each, in order."""
        live = [t for t in self._tracks if self._live(t, timestamp)]
        assigned: dict[int, Track[T]] = {}
        used: set[int] = set()
        refs = {t.id: _references(t, timestamp) for t in live}

        pairs: list[tuple[float, int, int]] = []
        for track in live:
            for di, (box, _) in enumerate(detections):
                overlap = max(iou(ref, box) for ref in refs[track.id])
                if overlap >= self.iou_threshold:
                    pairs.append((-overlap, track.id, di))
        by_id = {t.id: t for t in live}
        for _, track_id, di in sorted(pairs):
            if di not in assigned and track_id not in used:
                assigned[di] = by_id[track_id]
                used.add(track_id)

        if self.max_centre_distance > 0:
            pairs = []
            for track in live:
                if track.id in used:
                    continue
                for di, (box, _) in enumerate(detections):
                    near = [r for r in refs[track.id] if self._similar_size(r, box)]
                    if di in assigned or not near:
                        continue
                    distance = min(centre_distance(r, box) for r in near)
                    if distance <= self.max_centre_distance:
                        pairs.append((distance, track.id, di))
            for _, track_id, di in sorted(pairs):
                if di not in assigned and track_id not in used:
                    assigned[di] = by_id[track_id]
                    used.add(track_id)

        ids: list[int] = []
        for di, (box, payload) in enumerate(detections):
            target = assigned.get(di)
            if target is None:
                target = Track(id=self._next_id)
                self._next_id += 1
                self._tracks.append(target)
            x1, y1, x2, y2 = box
            obs = target.observations
            obs.append(
                Observation(timestamp, (float(x1), float(y1), float(x2), float(y2)), payload)
            )
            if len(obs) > self.max_observations:
                half = len(obs) // 2
                obs[:] = obs[:1] + obs[1:half:2] + obs[half:]
            ids.append(target.id)
        if self._last_frame is None or timestamp > self._last_frame:
            self._last_frame = timestamp
        return ids

    def _live(self, track: Track[T], now: float) -> bool:
        """Seen within `max_gap` of `now`, or in the newest analysed frame (up to `max_hold`)."""
        gap = now - track.last_seen
        if gap <= self.max_gap:
            return True
        newest = self._last_frame is not None and self._last_frame <= track.last_seen
        return newest and gap <= self.max_hold

    def pop_finished(self, now: float) -> list[Track[T]]:
        """End and return the tracks last seen more than `max_gap` seconds before `now`
        (`max_hold` for a track seen in the newest analysed frame)."""
        live: list[Track[T]] = []
        finished: list[Track[T]] = []
        for t in self._tracks:
            (live if self._live(t, now) else finished).append(t)
        self._tracks = live
        return self._keep(finished)

    def flush(self) -> list[Track[T]]:
        """End and return every track (end of the source)."""
        finished, self._tracks = self._tracks, []
        return self._keep(finished)

    def _keep(self, finished: list[Track[T]]) -> list[Track[T]]:
        kept = [t for t in finished if t.hits >= self.min_hits]
        dropped = len(finished) - len(kept)
        if dropped:
            self._discarded += dropped
            logger.debug("discarded %d track(s) shorter than %d hits", dropped, self.min_hits)
        return kept

    def _similar_size(self, a: BoxTuple, b: BoxTuple) -> bool:
        area_a, area_b = _area(a), _area(b)
        if area_a <= 0 or area_b <= 0:
            return False
        return max(area_a, area_b) / min(area_a, area_b) <= self.max_area_ratio
