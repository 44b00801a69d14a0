"""The web console: server-rendered pages over the same views as the JSON API.

Each page checks its permission like its API route; forms post through small fetch calls
in static/app.js (with the CSRF header). No build step.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from lanecap.api import watchlist as wl
from lanecap.api.auth import caller
from lanecap.api.deps import HealthReader, ListManager, Searcher, Services, Viewer
from lanecap.api.errors import BadRequest
from lanecap.api.routers.booth import recent_crossings
from lanecap.api.routers.health import lanes as health_rows
from lanecap.api.services import ApiServices
from lanecap.api.views import need_reason, open_crossing, search_plates
from lanecap.security.roles import Permission, Principal, can
from storage import health as health_repo
from storage import search as repo

router = APIRouter(include_in_schema=False)


def _lanes(request: Request, svc: ApiServices) -> list[str]:
    known = {lane.id for lane in request.app.state.settings.lanes}
    return sorted(known | set(health_repo.lane_ids(svc.pool)))


def render(request: Request, name: str, who: Principal, ctx: dict[str, Any]) -> HTMLResponse:
    c = caller(request)
    svc: ApiServices = request.app.state.services
    base = {
        "me": who,
        "csrf": svc.sessions.csrf(c.session) if c.session else "",
        "site": request.app.state.settings.site,
        "nav": [
            (path, label, key)
            for path, label, key, perm in (
                ("/booth", "Booth", "b", Permission.CROSSING_VIEW),
                ("/search", "Search", "s", Permission.CROSSING_SEARCH),
                ("/lists", "Lists", "l", Permission.WATCHLIST_ENROL),
                ("/health", "Lane health", "h", Permission.HEALTH_READ),
            )
            if can(who, perm)
        ],
        "page": name,
    }
    base.update(ctx)
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, f"{name}.html", base)
    return response


_NEXT_MAX = 2000


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site, else "/".

    Only an absolute path with one leading slash, no backslash (browsers read "/\\evil" as
    "//evil"), no white-space or control character (browsers drop tabs and newlines, so "/",
    tab, "/evil" becomes "//evil") and no scheme or host; the same once percent-decoded
    ("/%5Cevil", "/%2F/evil"), in case a proxy decodes it on the way."""
    if not target or len(target) > _NEXT_MAX:
        return "/"
    if any(ch.isspace() or not ch.isprintable() for ch in target):
        return "/"
    decoded = "".join(ch for ch in unquote(target) if ch not in "\t\n\r")
    for candidate in (target, decoded):
        if not candidate.startswith("/") or candidate.startswith("//") or "\\" in candidate:
            return "/"
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    safe = safe_next(next)
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, "login.html", {"me": None, "next": safe, "page": "login", "nav": []}
    )
    return response


@router.get("/")
def home(request: Request) -> Response:
    who = caller(request).principal
    for path, perm in (
        ("/booth", Permission.CROSSING_VIEW),
        ("/health", Permission.HEALTH_READ),
    ):
        if can(who, perm):
            return RedirectResponse(path, status_code=303)
    return render(request, "home", who, {})


@router.get("/booth", response_class=HTMLResponse)
def booth(request: Request, who: Viewer, svc: Services, lane: str | None = None) -> HTMLResponse:
    lanes = _lanes(request, svc)
    current = lane if lane in lanes else (lanes[0] if lanes else None)
    recent = recent_crossings(svc, who, current, 20) if current else []
    return render(request, "booth", who, {"lanes": lanes, "lane": current, "recent": recent})


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    who: Searcher,
    svc: Services,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    plate: Annotated[str | None, Query(max_length=16)] = None,
    mode: repo.PlateMode = "exact",
    lane: str | None = None,
    since: str | None = None,
    until: str | None = None,
    alert: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    form = {
        "reason": reason or "",
        "plate": plate or "",
        "mode": mode,
        "lane": lane or "",
        "since": since or "",
        "until": until or "",
        "alert": alert or "",
    }
    ctx: dict[str, Any] = {
        "form": form,
        "lanes": _lanes(request, svc),
        "results": None,
        "can_face": can(who, Permission.IMAGE_VIEW) and svc.face_encoder is not None,
    }
    if reason is not None or plate:
        ctx["reason"] = need_reason(reason, "search.plate")
        items, nxt, seq = search_plates(
            svc,
            who,
            reason=reason,
            plate=plate or None,
            mode=mode,
            filters=repo.Filters(
                lane_id=lane or None,
                since=_when(since),
                until=_when(until),
                alert={"yes": True, "no": False}.get(alert or ""),
            ),
            cursor=cursor,
            limit=50,
        )
        ctx.update(results=items, next_cursor=nxt, audit_seq=seq)
    return render(request, "search", who, ctx)


def _when(text: str | None) -> datetime | None:
    """datetime-local input (taken as UTC) or full ISO 8601."""
    if not text:
        return None
    try:
        return TypeAdapter(AwareDatetime).validate_python(
            text if text[-1:] == "Z" or "+" in text[10:] else text + "Z"
        )
    except ValidationError:
        raise BadRequest(f"not a time: {text!r}") from None


@router.get("/crossings/{crossing_id}", response_class=HTMLResponse)
def crossing_page(
    request: Request,
    crossing_id: uuid.UUID,
    who: Viewer,
    svc: Services,
    reason: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    detail = open_crossing(svc, who, crossing_id, reason=need_reason(reason, "crossing.view"))
    return render(
        request,
        "crossing",
        who,
        {"d": detail, "reason": reason, "images": can(who, Permission.IMAGE_VIEW)},
    )


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request, who: ListManager, svc: Services) -> HTMLResponse:
    return render(request, "lists", who, {"entries": wl.entries(svc.pool, search=svc.search_key)})


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, who: HealthReader, svc: Services) -> HTMLResponse:
    return render(request, "health", who, {"cameras": health_rows(who, svc)})
