"""Watch list (faces) and plate hot list: add, expire, import CSV. Supervisors only; every
change is audited like the CLI's (`hotlist.add`, `hotlist.import`, `watchlist.enrol`,
`watchlist.expire`), entries named by id, never by plate.

Entries are stored sealed and opened here with the service's search key; a reason with a
plate in it is refused (400 `reason_required`) before anything is stored. Each route first
seals any entry still stored in clear from before migration 011 (a no-op after that)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from lanecap.api import watchlist as wl
from lanecap.api.blur import decode_image
from lanecap.api.deps import ListManager, Services
from lanecap.api.errors import BadRequest
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.api.schemas.lists import (
    ExpireIn,
    ImportResult,
    ListEntryOut,
    PlateEntryIn,
    RejectedRowOut,
)
from lanecap.api.services import ApiServices
from lanecap.security.reasons import check_reason
from lanecap.security.roles import Principal
from storage.crypto import SearchKey

router = APIRouter(prefix="/api/lists", tags=["lists"], responses=ERROR_RESPONSES)
MAX_UPLOAD = 4 * 1024 * 1024


def _out(e: wl.Entry) -> ListEntryOut:
    return ListEntryOut(
        id=e.id,
        kind=e.kind,
        label=e.label,
        plate_text=e.plate_text,
        reason=e.reason,
        created_by=e.created_by,
        created_at=e.created_at,
        expires_at=e.expires_at,
        active=e.active,
    )


def _search_key(svc: ApiServices) -> SearchKey:
    """The key that indexes and seals list entries; entries left in clear are sealed first."""
    if svc.search_key is None:
        raise BadRequest("this service holds no search key: lists cannot be indexed")
    wl.seal_clear_entries(svc.pool, svc.search_key, admin_url=None)
    return svc.search_key


@router.get("", response_model=list[ListEntryOut])
def entries(
    who: ListManager,
    svc: Services,
    kind: Literal["plate", "face"] | None = None,
    active: bool = False,
) -> list[ListEntryOut]:
    search = _search_key(svc)
    return [_out(e) for e in wl.entries(svc.pool, kind=kind, active_only=active, search=search)]


@router.post("/plates", response_model=ListEntryOut, status_code=201)
def add_plate(body: PlateEntryIn, who: ListManager, svc: Services) -> ListEntryOut:
    """List a plate: alerts on exact, look-alike (0/O, 1/I, ...) and one-edit reads."""
    search = _search_key(svc)
    eid = wl.add_plate(
        svc.pool,
        search,
        plate=body.plate,
        label=body.label,
        reason=body.reason,
        by=who.actor,
        expires_at=wl.until(body.expires),
    )
    svc.trail.record(who, "hotlist.add", target=f"watchlist:{eid}", reason=body.reason)
    return _out(wl.entry(svc.pool, eid, search=search))


def _add_face(
    svc: ApiServices,
    who: Principal,
    *,
    photo: bytes,
    label: str,
    reason: str,
    expires: date | None,
) -> ListEntryOut:
    if svc.face_encoder is None:
        raise BadRequest("face enrolment is not enabled on this service (no face encoder)")
    check_reason(reason, action="watchlist.enrol")
    search = _search_key(svc)
    img = decode_image(photo)
    if img is None:
        raise BadRequest("the photo is not a decodable image")
    eid = wl.add_face(
        svc.pool,
        search,
        svc.face_encoder,
        image=img,
        label=label,
        reason=reason,
        by=who.actor,
        expires_at=wl.until(expires),
    )
    svc.trail.record(who, "watchlist.enrol", target=f"watchlist:{eid}", reason=reason)
    return _out(wl.entry(svc.pool, eid, search=search))


@router.post("/faces", response_model=ListEntryOut, status_code=201)
async def add_face(
    who: ListManager,
    svc: Services,
    photo: Annotated[UploadFile, File(description="Exactly one sharp, frontal face.")],
    label: Annotated[str, Form(min_length=1, max_length=120)],
    reason: Annotated[str, Form(min_length=3, max_length=200)],
    expires: Annotated[date | None, Form(description="In force until this day (UTC).")] = None,
) -> ListEntryOut:
    data = await photo.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise BadRequest("the photo is larger than 4 MiB")
    return await run_in_threadpool(
        _add_face, svc, who, photo=data, label=label, reason=reason, expires=expires
    )


@router.post("/{entry_id}/expire", response_model=ListEntryOut)
def expire(entry_id: int, body: ExpireIn, who: ListManager, svc: Services) -> ListEntryOut:
    check_reason(body.reason, action="watchlist.expire")
    search = _search_key(svc)
    wl.expire(svc.pool, entry_id)
    svc.trail.record(who, "watchlist.expire", target=f"watchlist:{entry_id}", reason=body.reason)
    return _out(wl.entry(svc.pool, entry_id, search=search))


@router.post("/plates/import", response_model=ImportResult)
async def import_csv(
    who: ListManager,
    svc: Services,
    file: Annotated[UploadFile, File(description="CSV: plate[,reason,region,expires,note]")],
    reason: Annotated[str, Form(min_length=3, max_length=200)],
) -> ImportResult:
    """Good rows load; bad rows are reported with their line and why."""
    check_reason(reason, action="hotlist.import")
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise BadRequest("the CSV is larger than 4 MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV must be UTF-8") from None
    search = await run_in_threadpool(_search_key, svc)
    ids, rejected = await run_in_threadpool(
        wl.import_plates, svc.pool, search, text=text, reason=reason, by=who.actor
    )
    svc.trail.record(
        who,
        "hotlist.import",
        target="watchlist",
        reason=reason,
        detail={"accepted": len(ids), "rejected": len(rejected)},
    )
    return ImportResult(
        imported=len(ids),
        rejected=[RejectedRowOut(line=r.line, reason=r.reason) for r in rejected],
    )
