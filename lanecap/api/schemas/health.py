"""Lane health: what lane nodes report and contractors read. No traveller data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class CameraHealthIn(BaseModel):
    camera_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    status: Literal["ok", "degraded", "down", "unknown"]
    fps: float | None = Field(default=None, ge=0, le=240)
    dropped_frames: int = Field(default=0, ge=0)
    detection_rate: float | None = Field(default=None, ge=0, le=1)
    last_error: str = Field(default="", max_length=500)


class CameraHealthOut(CameraHealthIn):
    lane_id: str
    updated_at: datetime | None
    preview: str | None = Field(default=None, description="URL of the blurred preview.")


class PreviewOut(BaseModel):
    lane_id: str
    camera_id: str
    width: int
    height: int
    blurred_regions: int
