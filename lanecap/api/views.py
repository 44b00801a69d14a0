"""Opening crossings for an officer: decrypt, attach matches and crop links, audit.

Shared by the JSON routers and the HTML pages, so both show (and audit) the same thing.
Audit entries name crossings by id (`crossing:<uuid>`), never by plate.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lanecap.api.errors import BadRequest, NotFound
from lanecap.api.schemas.crossings import (
    CrossingDetailOut,
    CrossingOut,
    FaceOut,
    MatchOut,
    ReadOut,
    ReviewOut,
    ViewOut,
)
from lanecap.api.services import ApiServices
from lanecap.security.errors import SecurityError
from lanecap.security.reasons import valid_reason
from lanecap.security.roles import Principal
from storage import search as repo
from storage.crypto import DecryptionError


def need_reason(reason: str | None, action: str) -> str:
    return valid_reason(reason or "", action=action)


def encode_cursor(c: repo.Cursor | None) -> str | None:
    if c is None:
        return None
    raw = json.dumps([c.started_at.isoformat(), str(c.id)]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(text: str | None) -> repo.Cursor | None:
    if not text:
        return None
    try:
        at, cid = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        return repo.Cursor(datetime.fromisoformat(at), uuid.UUID(cid))
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest("bad cursor") from None


def crop_url(crossing_id: uuid.UUID, kind: str, reason: str) -> str:
    return f"/api/crossings/{crossing_id}/crops/{kind}?reason={quote(reason)}"


def _match_out(m: repo.MatchRow) -> MatchOut:
    return MatchOut(
        kind=m.kind, decision=m.decision, detail=m.detail, score=m.score, watch_label=m.watch_label
    )


def plate_texts(
    svc: ApiServices, who: Principal, hits: Sequence[repo.Hit], *, reason: str
) -> dict[uuid.UUID, str | None]:
    """The plate each crossing shows: the newest correction, else the vote. Each crossing is
    opened through the evidence reader, so each is audited (`crossing.view`, this reason)."""
    fixes = repo.latest_corrections(svc.pool, [h.id for h in hits])
    out: dict[uuid.UUID, str | None] = {}
    for h in hits:
        try:
            text = svc.opener.view(who, h.id, reason=reason).plate_text
        except (DecryptionError, SecurityError):
            text = None  # purged meanwhile, or its key is gone
        out[h.id] = _corrected(svc, h.id, fixes.get(h.id), text)
    return out


def _corrected(
    svc: ApiServices,
    crossing_id: uuid.UUID,
    fix: tuple[int, str | None, bytes | None] | None,
    text: str | None,
) -> str | None:
    if fix is None:
        return text
    if fix[1] is not None:
        return fix[1]
    if fix[2] is not None:
        return svc.reviews.open(crossing_id, fix[0], fix[2]) or text
    return text


def _kinds(svc: ApiServices, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    kinds: dict[uuid.UUID, set[str]] = {}
    if ids:
        with svc.pool.connection() as conn:
            for cid, kind in conn.execute(
                "SELECT crossing_id, kind FROM objects WHERE crossing_id = ANY(%s)", (list(ids),)
            ).fetchall():
                kinds.setdefault(cid, set()).add(kind)
    return kinds


def _out(
    h: repo.Hit,
    text: str | None,
    kinds: set[str],
    matches: Sequence[repo.MatchRow],
    reason: str,
) -> CrossingOut:
    return CrossingOut(
        id=h.id,
        lane_id=h.lane_id,
        started_at=h.started_at,
        plate_text=text,
        plate_conf=h.plate_conf,
        plate_flags=list(h.plate_flags),
        face_status=h.face_status,
        alert=h.alert,
        score=h.score,
        plate_crop=crop_url(h.id, "plate_crop", reason) if "plate_crop" in kinds else None,
        face_crop=crop_url(h.id, "face_crop", reason) if "face_crop" in kinds else None,
        matches=[_match_out(m) for m in matches],
    )


def crossings_out(
    svc: ApiServices, who: Principal, hits: Sequence[repo.Hit], *, reason: str
) -> list[CrossingOut]:
    """Crossings opened for `who` (each audited) with crop links and list matches."""
    texts = plate_texts(svc, who, hits, reason=reason)
    matches = repo.matches_for(svc.pool, [h.id for h in hits], search=svc.search_key)
    kinds = _kinds(svc, [h.id for h in hits])
    return [
        _out(h, texts.get(h.id), kinds.get(h.id, set()), matches.get(h.id, []), reason)
        for h in hits
    ]


def _face_out(crossing_id: uuid.UUID, f: repo.FaceRow, kinds: set[str], reason: str) -> FaceOut:
    """A stored face with its crop link: the driver's, or a passenger's where a site keeps them."""
    kind = "face_crop" if f.passenger_no is None else f"passenger_crop_{f.passenger_no}"
    return FaceOut(
        camera_id=f.camera_id,
        seen_at=f.seen_at,
        box=list(f.box),
        quality=f.quality,
        seat="passenger" if f.seat == "passenger" else "driver",
        crop=crop_url(crossing_id, kind, reason) if kind in kinds else None,
    )


def open_crossing(
    svc: ApiServices, principal: Principal, crossing_id: uuid.UUID, *, reason: str
) -> CrossingDetailOut:
    """Everything about one crossing, opened through the evidence reader (audited)."""
    d = repo.crossing_detail(svc.pool, crossing_id, search=svc.search_key)
    if d is None:
        raise NotFound(f"crossing {crossing_id}")
    opened = svc.opener.view(principal, crossing_id, reason=reason)
    read_texts = opened.read_texts
    reads = [
        ReadOut(
            camera_id=r.camera_id,
            role=r.role,
            seen_at=r.seen_at,
            box=list(r.box),
            det_score=r.det_score,
            text=r.text if r.text is not None else (read_texts[i] if i < len(read_texts) else None),
            confidence=r.confidence,
        )
        for i, r in enumerate(d.reads)
    ]
    reviews = []
    for n, rv in enumerate(d.reviews, start=1):
        text = rv.plate_text
        if text is None and rv.sealed is not None:
            text = svc.reviews.open(crossing_id, n, rv.sealed)
        reviews.append(
            ReviewOut(
                id=rv.id,
                action="confirm" if rv.action == "confirm" else "correct",
                plate_text=text,
                actor=rv.actor,
                reason=rv.reason,
                created_at=rv.created_at,
            )
        )
    fix = repo.latest_corrections(svc.pool, [crossing_id]).get(crossing_id)
    out = _out(
        d.crossing,
        _corrected(svc, crossing_id, fix, opened.plate_text),
        set(d.objects),
        d.matches,
        reason,
    )
    vote = opened.plate_text
    if d.crossing.plate_text is not None and fix is not None:
        vote = None  # a clear crossing's column holds the correction; the vote is in the reads
    return CrossingDetailOut(
        crossing=out,
        ended_at=d.ended_at,
        n_frames=d.n_frames,
        vote=vote,
        reads=reads,
        faces=[_face_out(crossing_id, f, set(d.objects), reason) for f in d.faces],
        matches=[_match_out(m) for m in d.matches],
        reviews=reviews,
        viewed_by=[
            ViewOut(actor=v.actor, action=v.action, reason=v.reason, at=v.at)
            for v in repo.viewers(svc.pool, crossing_id)
        ],
    )


def search_plates(
    svc: ApiServices,
    principal: Principal,
    *,
    reason: str | None,
    plate: str | None,
    mode: repo.PlateMode,
    filters: repo.Filters,
    cursor: str | None,
    limit: int,
) -> tuple[list[CrossingOut], str | None, int]:
    """One audited search page: (crossings, next cursor, audit seq). Rate-limited per user."""
    why = need_reason(reason, "search.plate")
    query: repo.PlateQuery | None = None
    if plate and repo.normalise(plate) and repo.normalise(plate) in repo.normalise(why):
        raise BadRequest("the reason must not contain the plate searched for")
    if plate:
        try:
            query = repo.PlateQuery(plate, mode)
        except ValueError as err:
            raise BadRequest(str(err)) from None
    sealed_prefix = query is not None and query.mode == "prefix" and svc.plate_store == "blind"
    if sealed_prefix and not svc.sealed_prefixes:
        raise BadRequest("prefix search of sealed plates is off on this service")
    svc.limiter.check(principal)
    page = repo.search_crossings(
        svc.search_pool,
        plate=query,
        filters=filters,
        cursor=decode_cursor(cursor),
        limit=limit,
        store=svc.plate_store,
        indexer=svc.search_key,
    )
    detail: dict[str, Any] = {
        "mode": mode if query else None,
        "lane": filters.lane_id,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "alert": filters.alert,
        "page": bool(cursor),
        "results": [str(h.id) for h in page.hits],
    }
    if query is not None and svc.search_key is not None:
        detail["query_ref"] = svc.search_key.plate_index(query.text).hex()[:16]
    seq = svc.trail.record(principal, "search.plate", target="crossings", reason=why, detail=detail)
    items = crossings_out(svc, principal, page.hits, reason=why)
    return items, encode_cursor(page.next), seq
