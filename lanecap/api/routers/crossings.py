"""One crossing: every frame's reads and the vote, faces, matches, reviews, who viewed it;
and its crops. Opening needs a reason; both are audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from lanecap.api.deps import ImageViewer, Services, Viewer
from lanecap.api.errors import NotFound
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.crossings import CrossingDetailOut
from lanecap.api.views import need_reason, open_crossing

router = APIRouter(prefix="/api/crossings", tags=["crossings"], responses=ERROR_RESPONSES)
Reason = Annotated[str | None, Query(max_length=200, description="Case number or purpose.")]


@router.get("/{crossing_id}", response_model=CrossingDetailOut)
def detail(
    crossing_id: uuid.UUID, who: Viewer, svc: Services, reason: Reason = None
) -> CrossingDetailOut:
    return open_crossing(svc, who, crossing_id, reason=need_reason(reason, "crossing.view"))


@router.get(
    "/{crossing_id}/crops/{kind}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def crop(
    crossing_id: uuid.UUID,
    kind: Literal["plate_crop", "face_crop"],
    who: ImageViewer,
    svc: Services,
    reason: Reason = None,
) -> Response:
    """The plate or driver face crop (JPEG), opened and audited (`image.view`)."""
    why = need_reason(reason, "image.view")
    with svc.pool.connection() as conn:
        found = conn.execute(
            "SELECT 1 FROM objects WHERE crossing_id = %s AND kind = %s", (crossing_id, kind)
        ).fetchone()
    if found is None:
        raise NotFound(f"{kind} of crossing {crossing_id}")
    data = svc.opener.image(who, crossing_id, kind, reason=why)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
