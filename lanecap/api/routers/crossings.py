"""One crossing: every frame's reads and the vote, faces, matches, reviews, who viewed it;
and its crops. Opening needs a reason; both are audited, and each opening, each crop and
each 1:1 check is one read of the user's budget (429 with Retry-After when it is spent)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi import Path as FastPath
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from lanecap.api.blur import decode_image
from lanecap.api.deps import ImageViewer, Services, Viewer
from lanecap.api.errors import BadRequest, NotFound
from lanecap.api.routers.search import MAX_PHOTO
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.crossings import CrossingDetailOut
from lanecap.api.views import need_reason, open_crossing
from lanecap.identity import verify_document

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
    kind: Annotated[
        str,
        FastPath(
            pattern=r"^(plate_crop|face_crop|passenger_crop_[1-9][0-9]?)$",
            description="plate_crop, face_crop, or passenger_crop_N where passengers are kept.",
        ),
    ],
    who: ImageViewer,
    svc: Services,
    reason: Reason = None,
) -> Response:
    """The plate, driver or passenger face crop (JPEG), opened and audited (`image.view`)."""
    why = need_reason(reason, "image.view")
    with svc.pool.connection() as conn:
        found = conn.execute(
            "SELECT 1 FROM objects WHERE crossing_id = %s AND kind = %s", (crossing_id, kind)
        ).fetchone()
    if found is None:
        raise NotFound(f"{kind} of crossing {crossing_id}")
    data = svc.opener.image(who, crossing_id, kind, reason=why)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


class VerificationOut(BaseModel):
    """match / no_match / unknown; never a bare score."""

    decision: Literal["match", "no_match", "unknown"]
    distance: float | None
    threshold: float
    reason: str | None


@router.post("/{crossing_id}/verify-document", response_model=VerificationOut)
async def verify_document_route(
    crossing_id: uuid.UUID,
    who: ImageViewer,
    svc: Services,
    photo: Annotated[UploadFile, File(description="The document's portrait.")],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> VerificationOut:
    """1:1: the crossing's driver against a document photo (audited as `face.verify`)."""
    why = need_reason(reason, "face.verify")
    data = await photo.read(MAX_PHOTO + 1)
    if len(data) > MAX_PHOTO:
        raise BadRequest("the photo is larger than 8 MiB")
    img = decode_image(data)
    if img is None:
        raise BadRequest("the photo is not a decodable image")
    if svc.face_encoder is None:
        raise BadRequest("face checks are not enabled on this service (no face encoder)")
    result = await run_in_threadpool(
        verify_document, svc.opener, who, crossing_id, img, encoder=svc.face_encoder, reason=why
    )
    return VerificationOut(
        decision=result.decision.value,
        distance=result.distance,
        threshold=result.threshold,
        reason=None if result.reason is None else str(result.reason),
    )
