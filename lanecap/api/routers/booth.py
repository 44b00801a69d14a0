"""Booth view: a lane's recent crossings, new ones live (server-sent events), plate review.

Each crossing pushed to an officer is opened and audited (`crossing.view`, reason
"booth <lane>"). Events: `preview` (a PreviewOut: a vehicle still in the lane, its plate
vote so far and hot-list hits; audited `preview.view`), `crossing` (a CrossingOut as JSON,
`id:` the crossing id; it replaces the vehicle's previews) and a comment every 15 s to keep
proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from lanecap.api.deps import Services, Viewer
from lanecap.api.errors import BadRequest, NotFound
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.crossings import (
    CrossingOut,
    MatchOut,
    PreviewOut,
    ReviewOut,
    ReviewRequest,
)
from lanecap.api.services import ApiServices
from lanecap.api.views import crossings_out
from lanecap.security.roles import Principal
from storage import search as repo
from storage import watchlist

router = APIRouter(tags=["booth"], responses=ERROR_RESPONSES)
KEEPALIVE_S = 15.0


def booth_reason(lane_id: str) -> str:
    return f"booth {lane_id}"


def recent_crossings(
    svc: ApiServices, principal: Principal, lane_id: str, limit: int
) -> list[CrossingOut]:
    hits = repo.search_crossings(svc.pool, filters=repo.Filters(lane_id=lane_id), limit=limit).hits
    return crossings_out(svc, principal, hits, reason=booth_reason(lane_id))


@router.get("/api/lanes/{lane_id}/recent", response_model=list[CrossingOut])
def recent(
    lane_id: str,
    who: Viewer,
    svc: Services,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[CrossingOut]:
    """The lane's newest crossings, newest first (opened, audited)."""
    return recent_crossings(svc, who, lane_id, limit)


def _open_one(svc: ApiServices, who: Principal, crossing_id: uuid.UUID) -> CrossingOut | None:
    h = repo.hit(svc.pool, crossing_id)
    if h is None:
        return None
    out = crossings_out(svc, who, [h], reason=booth_reason(h.lane_id))[0]
    out.ended_at = h.ended_at
    return out


def open_preview(
    svc: ApiServices, who: Principal, preview_id: uuid.UUID, *, lane_id: str
) -> PreviewOut | None:
    """A live preview opened for the booth (audited) with its hot-list hits."""
    p = svc.opener.preview(who, preview_id, reason=booth_reason(lane_id))
    if p is None:
        return None
    hits = watchlist.plate_hits(
        svc.pool,
        plate_index=p.plate_index,
        fold_index=p.plate_fold_index,
        at=datetime.now(UTC),
    )
    rows = [watchlist.MatchRow(w, "plate", "match", kind) for w, kind in hits]
    face = svc.matcher.face_row(p.face_embedding, p.face_quality, datetime.now(UTC))
    if face is not None:
        rows.append(face)
    labels = watchlist.labels(svc.pool, [r.watch_id for r in rows if r.watch_id is not None])
    matches = [
        MatchOut(
            kind=r.kind,
            decision=r.decision,
            detail=r.detail,
            score=r.score,
            watch_label=None if r.watch_id is None else labels.get(r.watch_id),
        )
        for r in rows
    ]
    return PreviewOut(
        id=p.id,
        lane_id=p.lane_id,
        camera_id=p.camera_id,
        first_seen=p.first_seen,
        seen_at=p.seen_at,
        plate_text=p.plate_text,
        plate_conf=p.plate_conf,
        n_reads=p.n_reads,
        alert=any(m.decision == "match" for m in matches),
        plate_crop=_data_url(p.crop_jpeg),
        face_crop=_data_url(p.face_jpeg),
        face_quality=p.face_quality,
        matches=matches,
    )


def _data_url(jpeg: bytes | None) -> str | None:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else None


@router.get(
    "/api/lanes/{lane_id}/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live(lane_id: str, request: Request, who: Viewer, svc: Services) -> StreamingResponse:
    """New crossings of the lane as server-sent events, within a second of being stored."""
    token, queue = svc.feed.subscribe(lane_id)

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            idle = 0.0
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    idle += 1.0
                    if idle >= KEEPALIVE_S:
                        idle = 0.0
                        yield ": keepalive\n\n"
                    continue
                idle = 0.0
                if item.kind == "preview":
                    seen = await run_in_threadpool(
                        open_preview, svc, who, item.id, lane_id=item.lane_id
                    )
                    if seen is not None:
                        yield f"event: preview\ndata: {seen.model_dump_json()}\n\n"
                    continue
                out = await run_in_threadpool(_open_one, svc, who, item.id)
                if out is not None:
                    yield f"event: crossing\nid: {item.id}\ndata: {out.model_dump_json()}\n\n"
        finally:
            svc.feed.unsubscribe(token)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/api/crossings/{crossing_id}/review", response_model=ReviewOut)
def review(crossing_id: uuid.UUID, body: ReviewRequest, who: Viewer, svc: Services) -> ReviewOut:
    """Confirm the voted plate, or correct it. Stored, audited (`plate.review`), and the
    correction becomes the crossing's searchable plate."""
    h = repo.hit(svc.pool, crossing_id)
    if h is None:
        raise NotFound(f"crossing {crossing_id}")
    text = repo.normalise(body.plate_text or "")
    if body.action == "correct" and not text:
        raise BadRequest("a correction needs the right plate text")
    reason = body.reason.strip() or booth_reason(h.lane_id)
    with svc.pool.connection() as conn, conn.transaction():
        conn.execute("SELECT 1 FROM crossings WHERE id = %s FOR UPDATE", (crossing_id,))
        number = repo.next_review_number(conn, crossing_id)
        sealed = index = None
        clear: str | None = None
        if body.action == "correct":
            if h.sealed:
                sealed = svc.reviews.seal(crossing_id, number, text)
                if sealed is None or svc.search_key is None:
                    raise BadRequest("this service cannot seal a correction (no keys)")
                index = svc.search_key.plate_index(text)
            else:
                clear = text
        rid = repo.add_review(
            conn,
            crossing_id=crossing_id,
            action=body.action,
            actor=who.actor,
            reason=reason,
            plate_text=clear,
            sealed=sealed,
            plate_index=index,
        )
        row = conn.execute("SELECT created_at FROM plate_reviews WHERE id = %s", (rid,)).fetchone()
    svc.trail.record(
        who,
        "plate.review",
        target=f"crossing:{crossing_id}",
        reason=reason,
        detail={"action": body.action, "review": rid},
    )
    if body.action == "correct" and h.sealed and svc.search_key is not None:
        prefixes = repo.BlindPrefixes.from_search_key(svc.search_key)
        repo.index_prefixes(svc.pool, crossing_id=crossing_id, text=text, prefixes=prefixes)
    assert row is not None
    return ReviewOut(
        id=rid,
        action=body.action,
        plate_text=text if body.action == "correct" else None,
        actor=who.actor,
        reason=reason,
        created_at=row[0],
    )
