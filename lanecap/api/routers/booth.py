"""Booth view: a lane's recent crossings, new ones live (server-sent events), plate review.

Each crossing pushed to an officer is opened and audited (`crossing.view`, reason
"booth <lane>"), and each is one read of the officer's budget (`lanecap.security.ratelimit`):
`recent` returns at most MAX_RECENT rows and is refused whole (429, Retry-After) when they
would not fit. Over the budget the live stream stays open: stored crossings still come
(times, lane, alert and list matches, no plate text), previews are not opened, and one
`refused` event says why.

Events: `preview` (a PreviewOut: a vehicle still in the lane, its plate vote so far and
hot-list hits; audited `preview.view`), `crossing` (a CrossingOut as JSON, `id:` the crossing
id; it replaces the vehicle's previews), `refused` (the budget is spent: code, message,
retry_after_s) and a comment every 15 s to keep proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
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
from lanecap.security.errors import RateLimited
from lanecap.security.ratelimit import BudgetExceeded
from lanecap.security.reasons import check_reason
from lanecap.security.roles import Principal
from storage import search as repo
from storage import watchlist

router = APIRouter(tags=["booth"], responses=ERROR_RESPONSES)
KEEPALIVE_S = 15.0
MAX_RECENT = 20


def booth_reason(lane_id: str) -> str:
    return f"booth {lane_id}"


def recent_crossings(
    svc: ApiServices, principal: Principal, lane_id: str, limit: int
) -> list[CrossingOut]:
    """At most MAX_RECENT crossings, each one read; BudgetExceeded before any is opened
    when they would not all fit in the principal's hourly budget."""
    limit = min(limit, MAX_RECENT)
    hits = repo.search_crossings(
        svc.search_pool, filters=repo.Filters(lane_id=lane_id), limit=limit
    ).hits
    if hits:
        svc.limiter.admit(principal, reads=len(hits))
    return crossings_out(svc, principal, hits, reason=booth_reason(lane_id))


@router.get("/api/lanes/{lane_id}/recent", response_model=list[CrossingOut])
def recent(
    lane_id: str,
    who: Viewer,
    svc: Services,
    limit: Annotated[int, Query(ge=1, le=MAX_RECENT)] = MAX_RECENT,
) -> list[CrossingOut]:
    """The lane's newest crossings, newest first (opened, audited, one read each)."""
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
    ids = [r.watch_id for r in rows if r.watch_id is not None]
    labels = watchlist.labels(svc.pool, ids, search=svc.search_key)
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


def _refused(err: RateLimited) -> str:
    retry = err.retry_after if isinstance(err, BudgetExceeded) else err.window_s
    body = {"code": "rate_limited", "message": str(err), "hint": err.hint, "retry_after_s": retry}
    return f"event: refused\ndata: {json.dumps(body)}\n\n"


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
            told = False  # the officer has been told the budget is spent
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
                    try:
                        seen = await run_in_threadpool(
                            open_preview, svc, who, item.id, lane_id=item.lane_id
                        )
                    except RateLimited as err:
                        if not told:
                            told = True
                            yield _refused(err)
                        continue
                    told = False
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
    reason = check_reason(body.reason.strip() or booth_reason(h.lane_id), action="plate.review")
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
