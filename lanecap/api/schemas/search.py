"""Search pages."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lanecap.api.schemas.crossings import CrossingOut


class SearchPage(BaseModel):
    items: list[CrossingOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    audit_seq: int = Field(description="The audit entry recording this search.")


class FaceSearchOut(BaseModel):
    items: list[CrossingOut]
    audit_seq: int
