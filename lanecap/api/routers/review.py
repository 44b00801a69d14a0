"""Volume review for supervisors and auditors: the read-budget flags and refusals
(`lanecap.security.ratelimit`), the same as `lanecap audit flags`. No traveller data: actors,
actions, counts and limits only. Each review is itself audited (`volume.review`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from lanecap.api.deps import Reviewer, Services
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.security import ratelimit

router = APIRouter(prefix="/api/review", tags=["review"], responses=ERROR_RESPONSES)


class FlagOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


@router.get("/flags", response_model=list[FlagOut])
def volume_flags(
    who: Reviewer,
    svc: Services,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    refusals: bool = True,
) -> list[FlagOut]:
    """Unusual read volume (daily, bursts) and refused reads in the last `days`, oldest first."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = ratelimit.flags(svc.pool, since=since, actor=actor, with_refusals=refusals)
    svc.trail.record(
        who,
        "volume.review",
        target=actor or "all",
        detail={"days": days, "entries": len(rows), "channel": "api"},
    )
    return [
        FlagOut(seq=e.seq, at=e.at, actor=e.actor, action=e.action, detail=e.detail) for e in rows
    ]
