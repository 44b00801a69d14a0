"""Grouping finished tracks from the cameras of one lane into vehicles.

The rule, applied to each track as it is added (deterministic for a given
order of `add` calls):

1. The track's span [first_seen, last_seen] is shifted by its role's offset
   (`role_offsets`, default 0): e.g. -1.5 for a rear camera that sees a car
   about 1.5 s after the front camera, so both views line up in time.
2. It may join an open group whose span, grown by `window` seconds on both
   sides, overlaps the track's span, unless that group already holds a track
   of the SAME camera that does not overlap the new one in time: one camera
   sees one car after another, so two consecutive cars in one lane stay apart
   even when they follow each other within `window`. (Overlapping tracks of
   one camera, e.g. driver and passenger faces, can share a group. A car whose
   track the tracker split in two becomes two vehicles: raise the tracker's
   `max_gap` rather than this window.) A track added as `exclusive` (it is a
   whole vehicle, e.g. from motion) never joins a group that already holds an
   exclusive track of the same camera: two cars one camera sees at the same
   time stay two vehicles.
3. Among the groups it may join, it joins the one it overlaps most (the
   smallest gap when none overlaps), lowest group id on ties; with none, it
   starts a new group. Groups never merge.

A group is ready once nothing was seen in it for `window` + `settle` seconds:
set `settle` to the delay between a track's last sighting and its arrival
here (the trackers' `max_gap` plus pipeline latency) so that a late
rear-camera track still joins. A track arriving after its group was emitted
starts a new group.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from capture.tracker import Track
from capture.types import CameraRole

logger = logging.getLogger(__name__)

T = TypeVar("T")


class GroupMember(NamedTuple, Generic[T]):
    """One camera's track of a vehicle."""

    camera_id: str
    role: CameraRole
    track: Track[T]


@dataclass(frozen=True, eq=False)
class VehicleGroup(Generic[T]):
    """The tracks of one vehicle passing through the lane.

    `first_seen`/`last_seen` are the earliest and latest observation times
    of its members (unshifted, same clock as the tracks); `members` are
    ordered by first_seen, then camera id.
    """

    id: int
    first_seen: float
    last_seen: float
    members: list[GroupMember[T]]

    def by_role(self, role: CameraRole) -> list[GroupMember[T]]:
        """The members seen by cameras of `role`."""
        return [m for m in self.members if m.role == role]


@dataclass(eq=False)
class _OpenGroup(Generic[T]):
    id: int
    start: float  # shifted span used for matching
    end: float
    activity: float  # latest time anything in the group was seen (shifted or not)
    members: list[tuple[GroupMember[T], float, float]] = field(default_factory=list)
    exclusive: set[str] = field(default_factory=set)  # cameras with a whole-vehicle track


class CrossingGrouper(Generic[T]):
    """Groups finished tracks of a lane's cameras into vehicles (see the module doc)."""

    def __init__(
        self,
        *,
        window: float = 2.0,
        settle: float = 0.0,
        role_offsets: Mapping[CameraRole, float] | None = None,
    ) -> None:
        if window < 0 or settle < 0:
            raise ValueError(f"window and settle must be >= 0, not {window} and {settle}")
        self.window = window
        self.settle = settle
        self.role_offsets: dict[CameraRole, float] = dict(role_offsets or {})
        self._open: list[_OpenGroup[T]] = []
        self._next_id = 1

    @property
    def open_groups(self) -> int:
        return len(self._open)

    def add(
        self, camera_id: str, role: CameraRole, track: Track[T], *, exclusive: bool = False
    ) -> int:
        """Add a finished track; returns the id of the group it joined or started.

        `exclusive`: the track is a whole vehicle (see rule 2 of the module doc).
        """
        if not track.observations:
            raise ValueError(f"track {track.id} of camera {camera_id!r} has no observations")
        offset = self.role_offsets.get(role, 0.0)
        start, end = track.first_seen + offset, track.last_seen + offset
        member = GroupMember(camera_id, role, track)
        best: _OpenGroup[T] | None = None
        best_overlap = 0.0
        for group in self._open:
            if start > group.end + self.window or end < group.start - self.window:
                continue
            if any(
                m.camera_id == camera_id and (m_start > end or start > m_end)
                for m, m_start, m_end in group.members
            ):
                continue
            if exclusive and camera_id in group.exclusive:
                continue
            overlap = min(end, group.end) - max(start, group.start)
            if best is None or overlap > best_overlap:
                best, best_overlap = group, overlap
        if best is None:
            best = _OpenGroup(id=self._next_id, start=start, end=end, activity=end)
            self._next_id += 1
            self._open.append(best)
        best.members.append((member, start, end))
        if exclusive:
            best.exclusive.add(camera_id)
        best.start = min(best.start, start)
        best.end = max(best.end, end)
        best.activity = max(best.activity, end, track.last_seen)
        logger.debug(
            "track %d of camera %s (%s, %.3f-%.3f) -> vehicle group %d",
            track.id,
            camera_id,
            role,
            track.first_seen,
            track.last_seen,
            best.id,
        )
        return best.id

    def pop_ready(
        self,
        now: float,
        *,
        complete_with: Collection[str] = (),
        busy: Sequence[tuple[str, CameraRole, float, float]] = (),
    ) -> list[VehicleGroup[T]]:
        """Emit the groups with nothing seen for more than `window` + `settle` seconds.

        Early close: when `complete_with` names the lane's cameras, a group that already
        holds a track of each of them is emitted at once, unless a track still in progress
        (`busy`: camera id, role, first_seen, last_seen) could still join it. No later track
        can: it would start after every member of its camera ended (rule 2).
        """
        limit = self.window + self.settle
        needed = set(complete_with)
        ready: list[_OpenGroup[T]] = []
        for g in self._open:
            if now - g.activity > limit or (
                needed
                and needed <= {m.camera_id for m, _, _ in g.members}
                and not any(self._could_join(g, b) for b in busy)
            ):
                ready.append(g)
        if ready:
            self._open = [g for g in self._open if g not in ready]
        return [self._result(g) for g in ready]

    def _could_join(self, group: _OpenGroup[T], busy: tuple[str, CameraRole, float, float]) -> bool:
        camera_id, role, first, last = busy
        offset = self.role_offsets.get(role, 0.0)
        start, end = first + offset, last + offset
        if start > group.end + self.window or end < group.start - self.window:
            return False
        return not any(
            m.camera_id == camera_id and (m_start > end or start > m_end)
            for m, m_start, m_end in group.members
        )

    def flush(self) -> list[VehicleGroup[T]]:
        """Emit every open group (end of input)."""
        ready, self._open = self._open, []
        return [self._result(g) for g in ready]

    @staticmethod
    def _result(group: _OpenGroup[T]) -> VehicleGroup[T]:
        members = sorted(
            (m for m, _, _ in group.members),
            key=lambda m: (m.track.first_seen, m.camera_id, m.track.id),
        )
        return VehicleGroup(
            id=group.id,
            first_seen=min(m.track.first_seen for m in members),
            last_seen=max(m.track.last_seen for m in members),
            members=members,
        )
