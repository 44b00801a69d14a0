"""Login (password + TOTP), logout, and who am I.

Sign-in is throttled per name and per client address (429 with Retry-After); the client
address is the peer's, or a trusted TLS proxy's X-Forwarded-For (`api.forwarded_allow_ips`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from lanecap.api.auth import COOKIE, over_https
from lanecap.api.deps import AnyCaller, Services
from lanecap.api.schemas.auth import LoginRequest, LoginResponse, Me
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.security.roles import Principal, permissions

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=ERROR_RESPONSES)


def me_of(p: Principal) -> Me:
    return Me(
        name=p.name,
        role=p.role,
        kind=p.kind,
        permissions=sorted(x.value for x in permissions(p.role)),
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="Sign in (no auth needed)",
    responses={429: {"description": "Too many failed sign-ins; see Retry-After"}},
)
async def login(
    body: LoginRequest, request: Request, response: Response, svc: Services
) -> LoginResponse:
    principal = await run_in_threadpool(
        svc.auth.login,
        name=body.name,
        password=body.password,
        totp_code=body.totp,
        address=request.client.host if request.client else None,
    )
    token = svc.sessions.issue(principal)
    response.set_cookie(
        COOKIE,
        token,
        max_age=svc.sessions.ttl_s,
        httponly=True,
        samesite="strict",
        secure=svc.secure_cookies or over_https(request),
        path="/",
    )
    return LoginResponse(
        token=token,
        csrf=svc.sessions.csrf(token),
        expires_in=svc.sessions.ttl_s,
        me=me_of(principal),
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(who: AnyCaller, request: Request, svc: Services) -> Response:
    svc.trail.record(who.principal, "logout", target=who.principal.actor)
    if who.session is not None:
        svc.sessions.end(who.session)
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE,
        path="/",
        samesite="strict",
        httponly=True,
        secure=svc.secure_cookies or over_https(request),
    )
    return response


@router.get("/me", response_model=Me)
def me(who: AnyCaller) -> Me:
    return me_of(who.principal)
