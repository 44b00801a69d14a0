"""Watch list and plate hot list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class ListEntryOut(BaseModel):
    id: int
    kind: Literal["plate", "face"]
    label: str
    plate_text: str | None
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    active: bool


class PlateEntryIn(BaseModel):
    plate: str = Field(min_length=2, max_length=16)
    label: str = Field(default="", max_length=120)
    reason: str = Field(min_length=3, max_length=200)
    expires: date | None = Field(default=None, description="In force until this day (UTC).")

    @field_validator("expires", mode="before")
    @classmethod
    def _a_date_not_a_number(cls, v: object) -> object:
        # pydantic would read a number as Unix time: 0 became 1970-01-01 (found by fuzzing)
        if isinstance(v, int | float):
            raise ValueError("expires is a date, YYYY-MM-DD")
        return v


class ExpireIn(BaseModel):
    reason: str = Field(min_length=3, max_length=200)


class RejectedRowOut(BaseModel):
    line: int
    reason: str


class ImportResult(BaseModel):
    imported: int
    rejected: list[RejectedRowOut]
