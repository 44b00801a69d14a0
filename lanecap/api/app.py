"""`create_app(settings, services)`: the officer API, its web console, one error handler.

Routes (every one authenticated and role-checked except login, the login page and static
assets; roles from `lanecap.security.roles`):

    /api/auth/...            login (name + password + TOTP), logout, me
    /api/lanes/{lane}/...    booth: recent crossings, live (SSE)
    /api/crossings/{id}...   detail, crops, confirm/correct the plate
    /api/search/...          plate (exact, prefix, fuzzy) + filters, faces by photo
    /api/lists/...           watch list and plate hot list (supervisors)
    /api/health/...          lane health and blurred calibration previews (contractors)
    /api/openapi.json        the schema (any signed-in user)
    /, /booth, /search, /crossings/{id}, /lists, /health, /login   server-rendered pages
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanecap.api import anchoring, images, indexer
from lanecap.api.errors import ApiError
from lanecap.api.limits import BodyLimit, upload_routes
from lanecap.api.routers import (
    auth,
    booth,
    crossings,
    docs,
    export,
    health,
    lists,
    pages,
    review,
    search,
)
from lanecap.api.schemas.common import ErrorBody, ErrorDetail
from lanecap.api.services import ApiServices
from lanecap.config import Settings
from lanecap.errors import LanecapError
from lanecap.security.errors import (
    AuthenticationFailed,
    Forbidden,
    RateLimited,
    ReasonRequired,
    SecurityError,
)
from lanecap.security.ratelimit import BudgetExceeded
from lanecap.security.throttle import LoginThrottled
from storage.errors import StorageError, StoreUnavailable
from storage.partitions import ensure_partitions

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parents[1] / "web"
SWEEP_S = 5.0  # ingest pass without a new-crossing notice
PARTITIONS_S = 6 * 3600.0  # month partitions made ahead at start and this often


def _status(err: Exception) -> tuple[int, str]:
    if isinstance(err, ApiError):
        return err.status, err.code
    if isinstance(err, AuthenticationFailed):
        return 401, "unauthenticated"
    if isinstance(err, Forbidden):
        return 403, "forbidden"
    if isinstance(err, ReasonRequired):
        return 400, "reason_required"
    if isinstance(err, RateLimited):
        return 429, "rate_limited"
    if isinstance(err, LoginThrottled):
        return 429, "login_throttled"
    if isinstance(err, SecurityError):
        return 400, "refused"
    if isinstance(err, StoreUnavailable):
        return 503, "store_unavailable"
    if isinstance(err, StorageError):
        return 500, "storage_error"
    if isinstance(err, LanecapError):
        return 400, "bad_request"
    if isinstance(err, psycopg.DataError):
        return 400, "invalid_input"  # e.g. a NUL byte or an out-of-range value in a parameter
    return 500, "internal"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def error_response(request: Request, status: int, code: str, message: str, hint: str) -> Response:
    rid = getattr(request.state, "request_id", "-")
    if _wants_html(request):
        if status == 401:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "code": code, "message": message, "hint": hint, "me": None},
            status_code=status,
        )
    body = ErrorBody(error=ErrorDetail(code=code, message=message, hint=hint, request_id=rid))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    async def ours(request: Request, err: Exception) -> Response:
        status, code = _status(err)
        if status >= 500:
            log.error("request %s failed: %s", getattr(request.state, "request_id", "-"), err)
            message = "the service could not complete the request" if status == 500 else str(err)
        else:
            message = str(err)
        hint = err.hint if isinstance(err, LanecapError) else ""
        response = error_response(request, status, code, message, hint)
        if isinstance(err, (LoginThrottled, BudgetExceeded)):
            response.headers["Retry-After"] = str(err.retry_after)
        return response

    async def http(request: Request, err: Exception) -> Response:
        assert isinstance(err, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            err.status_code, "http_error"
        )
        response = error_response(request, err.status_code, code, str(err.detail), "")
        for k, v in (err.headers or {}).items():  # e.g. Allow on a 405 (RFC 9110)
            response.headers.setdefault(k, v)
        return response

    async def invalid(request: Request, err: Exception) -> Response:
        assert isinstance(err, RequestValidationError)
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            request, 422, "invalid", f"{where}: {first.get('msg', 'invalid input')}", ""
        )

    app.add_exception_handler(LanecapError, ours)
    app.add_exception_handler(StorageError, ours)
    # Handled here, not by the catch-all (which re-raises and drops the connection).
    app.add_exception_handler(psycopg.DataError, ours)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, ours)


_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    ),
]


class SecurityHeaders:
    """Pure ASGI middleware (streams untouched): a request id, and strict headers on every
    response (no caching of traveller data, no framing, same-origin scripts only), with
    Strict-Transport-Security over HTTPS: TLS terminated by uvicorn, a trusted proxy's
    X-Forwarded-Proto (uvicorn's proxy headers), or every response with `tls_proxy`."""

    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 0, tls_proxy: bool = False) -> None:
        self.app = app
        self.hsts = (
            f"max-age={hsts_max_age_s}; includeSubDomains".encode() if hsts_max_age_s else b""
        )
        self.tls_proxy = tls_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = rid
        hsts = self.hsts if self.tls_proxy or scope.get("scheme") == "https" else b""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = rid
                for k, v in _HEADERS:
                    if k.decode() not in headers:
                        headers.raw.append((k, v))
                if hsts:
                    headers.raw.append((b"strict-transport-security", hsts))
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _index_forever(svc: ApiServices) -> None:
    """Ingest and index on each new crossing, and every SWEEP_S in case a notice was missed."""
    token, q = svc.feed.subscribe(None)
    try:
        await run_in_threadpool(indexer.catch_up, svc)
        await run_in_threadpool(indexer.backfill, svc)
        while True:
            batch = []
            with contextlib.suppress(TimeoutError):
                batch.append((await asyncio.wait_for(q.get(), timeout=SWEEP_S)).id)
            while not q.empty():
                batch.append(q.get_nowait().id)
            try:
                await run_in_threadpool(indexer.catch_up, svc, batch)
            except (LanecapError, StorageError) as err:
                log.warning("ingest failed (%s); retried at the next sweep", type(err).__name__)
    finally:
        svc.feed.unsubscribe(token)


async def _partitions_forever(svc: ApiServices) -> None:
    """Keep the month partitions of the crossing tables made ahead (storage.partitions)."""
    while True:
        try:
            await run_in_threadpool(ensure_partitions, svc.pool)
        except (psycopg.Error, StorageError) as err:
            log.warning("partition maintenance failed (%s); retried later", type(err).__name__)
        await asyncio.sleep(PARTITIONS_S)


def create_app(settings: Settings, services: ApiServices) -> FastAPI:
    """The ASGI app. Starting it starts the live feed (and ingest with the plate indexer for
    crossings); stopping it stops them. `services` stay owned by the caller."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.feed.start()
        task = None
        if services.search_key is not None:
            task = asyncio.create_task(_index_forever(services))
        clock = asyncio.create_task(anchoring.checkpoint_forever(services, settings))
        months = asyncio.create_task(_partitions_forever(services))
        try:
            yield
        finally:
            months.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await months
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            services.feed.stop()

    app = FastAPI(
        title="lanecap officer API",
        version="1",
        description="Booth view, search, crossing detail, lists and lane health. "
        "Every route needs a session (or a lane token) and a role that grants it.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    )
    app.state.services = services
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=str(WEB / "templates"))
    install_handlers(app)
    images.set_max_pixels(settings.api.max_image_pixels)

    routers = (
        auth.router,
        booth.router,
        crossings.router,
        export.router,
        search.router,
        lists.router,
        health.router,
        review.router,
        docs.router,
        pages.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    # Added last = outermost: SecurityHeaders (request id, headers) wraps BodyLimit, which
    # refuses oversized bodies before routing and authentication.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api.max_body_bytes,
        upload_bytes=settings.api.max_upload_bytes,
        uploads=upload_routes(route for router in routers for route in router.routes),
    )
    app.add_middleware(
        SecurityHeaders,
        hsts_max_age_s=settings.api.hsts_max_age_s,
        tls_proxy=settings.api.behind_tls_proxy,
    )
    return app
