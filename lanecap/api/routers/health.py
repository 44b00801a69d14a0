"""Lane health for contractors (and supervisors, admins): camera status, fps, dropped frames,
detection rate, last error; blurred calibration previews. Lane nodes report with their
tokens. No traveller data is read or returned here.

A preview a node uploads is blurred here, then sealed with this service's key before it is
stored (`storage.health`); the unblurred frame is never stored and the blurred one never in
clear. Lane tokens lack health.read: a node cannot fetch any preview back."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from lanecap.api.blur import blur_preview
from lanecap.api.deps import HealthReader, HealthWriter, Services
from lanecap.api.errors import BadRequest, NotFound
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.health import CameraHealthIn, CameraHealthOut, PreviewOut
from lanecap.api.services import ApiServices
from lanecap.security.errors import Forbidden
from lanecap.security.roles import Principal
from storage import health as repo
from storage.crypto import SearchKey

router = APIRouter(prefix="/api/health", tags=["health"], responses=ERROR_RESPONSES)
MAX_FRAME = 8 * 1024 * 1024


def preview_url(lane_id: str, camera_id: str) -> str:
    return f"/api/health/lanes/{lane_id}/cameras/{camera_id}/preview.jpg"


def _preview_key(svc: ApiServices) -> SearchKey:
    if svc.search_key is None:
        raise BadRequest("this service holds no search key: previews cannot be sealed or opened")
    return svc.search_key


def _own_lane(who: Principal, lane_id: str) -> None:
    if who.lane_id is not None and who.lane_id != lane_id:
        raise Forbidden(actor=who.actor, permission=f"health.write on lane {lane_id}")


@router.get("/lanes", response_model=list[CameraHealthOut])
def lanes(who: HealthReader, svc: Services, lane: str | None = None) -> list[CameraHealthOut]:
    shown = set(repo.previews(svc.pool))
    return [
        CameraHealthOut(
            lane_id=h.lane_id,
            camera_id=h.camera_id,
            status=h.status,
            fps=h.fps,
            dropped_frames=h.dropped_frames,
            detection_rate=h.detection_rate,
            last_error=h.last_error,
            updated_at=h.updated_at,
            preview=preview_url(h.lane_id, h.camera_id)
            if (h.lane_id, h.camera_id) in shown
            else None,
        )
        for h in repo.lane_health(svc.pool, lane_id=lane)
    ]


@router.put("/lanes/{lane_id}/cameras/{camera_id}", status_code=204, response_class=Response)
def report(
    lane_id: str, camera_id: str, body: CameraHealthIn, who: HealthWriter, svc: Services
) -> Response:
    """A lane node reports one camera's health (its token's lane only)."""
    _own_lane(who, lane_id)
    if body.camera_id != camera_id:
        raise BadRequest("camera_id in the body and the path differ")
    repo.report(
        svc.pool,
        repo.CameraHealth(
            lane_id=lane_id,
            camera_id=camera_id,
            status=body.status,
            fps=body.fps,
            dropped_frames=body.dropped_frames,
            detection_rate=body.detection_rate,
            last_error=body.last_error,
        ),
    )
    return Response(status_code=204)


@router.put("/lanes/{lane_id}/cameras/{camera_id}/preview", response_model=PreviewOut)
async def upload_preview(
    lane_id: str,
    camera_id: str,
    who: HealthWriter,
    svc: Services,
    frame: Annotated[UploadFile, File(description="A JPEG/PNG frame of the camera.")],
    boxes: Annotated[
        str, Form(description="JSON [[x1,y1,x2,y2], ...] of faces and plates.")
    ] = "[]",
) -> PreviewOut:
    """Store a calibration frame after blurring every face and plate (the node's boxes and this
    service's own detectors). The unblurred frame is never stored."""
    _own_lane(who, lane_id)
    key = _preview_key(svc)
    try:
        parsed = [tuple(float(v) for v in b) for b in json.loads(boxes)]
    except (ValueError, TypeError):
        raise BadRequest("boxes must be JSON [[x1, y1, x2, y2], ...]") from None
    if any(len(b) != 4 for b in parsed):
        raise BadRequest("every box is [x1, y1, x2, y2]")
    data = await frame.read(MAX_FRAME + 1)
    if len(data) > MAX_FRAME:
        raise BadRequest("the frame is larger than 8 MiB")
    out = await run_in_threadpool(
        blur_preview, data, boxes=[(b[0], b[1], b[2], b[3]) for b in parsed]
    )
    repo.save_preview(
        svc.pool,
        repo.Preview(
            lane_id=lane_id,
            camera_id=camera_id,
            updated_at=None,
            jpeg=out.jpeg,
            width=out.width,
            height=out.height,
            blurred=out.regions,
        ),
        search=key,
    )
    return PreviewOut(
        lane_id=lane_id,
        camera_id=camera_id,
        width=out.width,
        height=out.height,
        blurred_regions=out.regions,
    )


@router.get(
    "/lanes/{lane_id}/cameras/{camera_id}/preview.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def preview(lane_id: str, camera_id: str, who: HealthReader, svc: Services) -> Response:
    p = repo.preview(svc.pool, lane_id=lane_id, camera_id=camera_id, search=_preview_key(svc))
    if p is None:
        raise NotFound(f"preview of {lane_id}/{camera_id}")
    return Response(p.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
