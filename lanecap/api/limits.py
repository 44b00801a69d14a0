"""Request bodies are bounded before routing and authentication (pure ASGI middleware).

FastAPI reads and parses a route's body before its dependencies run, so without a bound an
anonymous client could make the service buffer any amount (a 200 MB JSON to the login
route). `BodyLimit` refuses a body over the limit with 413 and the one error body:

* a Content-Length over the limit at once, before the app sees the request;
* a chunked (or understated) body while it streams, once the bytes counted pass the limit
  (`BodyTooLarge`, an HTTPException, so FastAPI's body parsing lets it through to the
  error handler).

The routes that take a file (`upload_routes`: every route with a `File` parameter, found
from the app's own routes) get the larger `upload_bytes`; everything else, sign-in
included, gets `max_bytes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import params
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lanecap.api.schemas.common import ErrorBody, ErrorDetail

CODE = "too_large"


@dataclass(frozen=True)
class UploadRoute:
    methods: frozenset[str]
    path: re.Pattern[str]


def upload_routes(routes: Iterable[BaseRoute]) -> list[UploadRoute]:
    """The routes with a `File` body parameter (multipart uploads), from routers' own
    routes (their paths carry the router's prefix; the app must add none)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute) and any(
            isinstance(f.field_info, params.File) for f in route.dependant.body_params
        ):
            found.append(UploadRoute(frozenset(route.methods or ()), route.path_regex))
    return found


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(status_code=413, detail=message(limit))


def message(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_bytes: int,
        uploads: Sequence[UploadRoute] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        self.uploads = tuple(uploads)

    def limit(self, method: str, path: str) -> int:
        for r in self.uploads:
            if method in r.methods and r.path.match(path):
                return self.upload_bytes
        return self.max_bytes

    async def refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        rid = str(scope.get("state", {}).get("request_id", "-"))
        body = ErrorBody(
            error=ErrorDetail(
                code=CODE,
                message=message(limit),
                hint="send a smaller body (photos and frames go to the upload routes)",
                request_id=rid,
            )
        )
        # The rest of the body is never read: the server closes the connection after this.
        response = JSONResponse(body.model_dump(), status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def watched(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, limit)
