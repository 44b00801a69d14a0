"""Crossings as officers see them (opened: plate text in clear), their detail and reviews."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CrossingOut(BaseModel):
    id: uuid.UUID
    lane_id: str
    started_at: datetime
    plate_text: str | None = Field(description="Voted (or corrected) plate; None if unread.")
    plate_conf: float | None
    plate_flags: list[str]
    face_status: str
    alert: bool
    score: float | None = Field(default=None, description="Fuzzy similarity or face distance.")
    plate_crop: str | None = Field(default=None, description="URL of the plate crop.")
    face_crop: str | None = Field(default=None, description="URL of the driver's face crop.")
    matches: list[MatchOut] = []
    ended_at: datetime | None = Field(
        default=None, description="Last sighting (booth events only, to retire live previews)."
    )


class PreviewOut(BaseModel):
    """A vehicle still in the lane: its plate vote so far. Provisional; the crossing follows."""

    id: uuid.UUID
    lane_id: str
    camera_id: str
    first_seen: datetime
    seen_at: datetime
    plate_text: str
    plate_conf: float
    n_reads: int
    alert: bool
    plate_crop: str | None = Field(default=None, description="The crop as a data: URL.")
    face_crop: str | None = Field(
        default=None, description="The driver's face so far (data: URL); None until one is seen."
    )
    face_quality: float | None = None
    matches: list[MatchOut] = []


class ReadOut(BaseModel):
    camera_id: str
    role: str
    seen_at: datetime
    box: list[float]
    det_score: float
    text: str | None
    confidence: float | None


class FaceOut(BaseModel):
    camera_id: str
    seen_at: datetime
    box: list[float]
    quality: float
    seat: Literal["driver", "passenger"] = Field(
        default="driver", description="Passengers' faces appear only where a site keeps them."
    )
    crop: str | None = Field(default=None, description="URL of this face's crop.")


class MatchOut(BaseModel):
    kind: str
    decision: str
    detail: str
    score: float | None
    watch_label: str | None


class ReviewOut(BaseModel):
    id: int
    action: Literal["confirm", "correct"]
    plate_text: str | None
    actor: str
    reason: str
    created_at: datetime


class ViewOut(BaseModel):
    actor: str
    action: str
    reason: str
    at: datetime


class CrossingDetailOut(BaseModel):
    crossing: CrossingOut
    ended_at: datetime
    n_frames: int
    vote: str | None = Field(description="The fused plate the frames voted for.")
    reads: list[ReadOut]
    faces: list[FaceOut]
    matches: list[MatchOut]
    reviews: list[ReviewOut]
    viewed_by: list[ViewOut]


class ReviewRequest(BaseModel):
    action: Literal["confirm", "correct"]
    plate_text: str | None = Field(
        default=None, max_length=16, description="The right plate (for `correct`)."
    )
    reason: str = Field(default="", max_length=200)


CrossingOut.model_rebuild()
