"""Search: plates (exact, prefix, fuzzy) with time, lane and alert filters, keyset pages;
faces by photo (1:N). Every search needs a reason, is rate-limited and audited.

A search is one read of the user's budget and each hit it opens is another
(`lanecap.security.ratelimit`); a spent budget is a 429 with a Retry-After header (app.py).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from lanecap.api.blur import decode_image
from lanecap.api.deps import FaceSearcher, Searcher, Services
from lanecap.api.errors import BadRequest
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.search import FaceSearchOut, SearchPage
from lanecap.api.services import ApiServices
from lanecap.api.views import crossings_out, need_reason, search_plates
from lanecap.security.roles import Principal
from storage import search as repo

MAX_PHOTO = 8 * 1024 * 1024


router = APIRouter(prefix="/api/search", tags=["search"], responses=ERROR_RESPONSES)


@router.get("/crossings", response_model=SearchPage)
def crossings(
    who: Searcher,
    svc: Services,
    reason: Annotated[
        str | None, Query(max_length=200, description="Case number or purpose.")
    ] = None,
    plate: Annotated[str | None, Query(max_length=16)] = None,
    mode: repo.PlateMode = "exact",
    lane: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    alert: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=repo.MAX_PAGE)] = 50,
) -> SearchPage:
    items, nxt, seq = search_plates(
        svc,
        who,
        reason=reason,
        plate=plate,
        mode=mode,
        filters=repo.Filters(lane_id=lane or None, since=since, until=until, alert=alert),
        cursor=cursor,
        limit=limit,
    )
    return SearchPage(items=items, next_cursor=nxt, audit_seq=seq)


def face_search(
    svc: ApiServices, who: Principal, *, photo: bytes, reason: str, lane: str | None, limit: int
) -> FaceSearchOut:
    if svc.face_encoder is None:
        raise BadRequest("face search is not enabled on this service (no face encoder)")
    img = decode_image(photo)
    if img is None:
        raise BadRequest("the photo is not a decodable image")
    faces = [f for f in svc.face_encoder.faces(img) if f.reject_reason is None]
    if not faces:
        raise BadRequest("no usable face in the photo")
    best = max(faces, key=lambda f: f.quality)
    q = np.asarray(best.encoding, dtype=np.float32)
    if svc.search_key is not None:
        q = svc.search_key.protect_embedding(q)
    svc.limiter.check(who)
    hits = repo.search_faces(
        svc.search_pool, embedding=q, filters=repo.Filters(lane_id=lane), limit=limit
    )
    seq = svc.trail.record(
        who,
        "search.face",
        target="faces",
        reason=reason,
        detail={"lane": lane, "k": limit, "results": [str(h.crossing.id) for h in hits]},
    )
    items = crossings_out(svc, who, [h.crossing for h in hits], reason=reason)
    for item, h in zip(items, hits, strict=True):
        item.score = h.distance
    return FaceSearchOut(items=items, audit_seq=seq)


@router.post("/faces", response_model=FaceSearchOut)
async def faces(
    who: FaceSearcher,
    svc: Services,
    photo: Annotated[UploadFile, File(description="A photo with the face to look for.")],
    reason: Annotated[str, Form(max_length=200)] = "",
    lane: Annotated[str | None, Form()] = None,
    limit: Annotated[int, Form(ge=1, le=50)] = 20,
) -> FaceSearchOut:
    """The stored driver faces nearest to the photo's face (pgvector HNSW, L2)."""
    why = need_reason(reason, "search.face")
    data = await photo.read(MAX_PHOTO + 1)
    if len(data) > MAX_PHOTO:
        raise BadRequest("the photo is larger than 8 MiB")
    return await run_in_threadpool(
        face_search, svc, who, photo=data, reason=why, lane=lane or None, limit=limit
    )
