"""Who is calling: sessions for people, API tokens for lane nodes, and the role check.

People log in with name + password + TOTP (the security core, `lanecap.security.users`) and
get a session: an HMAC-signed token (`s1.<payload>.<mac>`, 8 h by default) sent back as an
HttpOnly, SameSite=Strict cookie (Secure under TLS) and in the login response for API
clients (`Authorization: Bearer s1...`). Lane nodes use their `lct_...` tokens
(`lanecap.security.tokens`). Every request re-reads the user's role and disabled flag, so
disabling a user ends their sessions at once. Cookie-authenticated writes also need the
`X-CSRF-Token` header (an HMAC of the session, given to pages as a meta tag).

`Authenticator` is the small interface this module needs from the security core;
`SecurityCoreAuth` is the adapter over it. Route dependencies: `require(permission)`; a
refusal is audited (`access.denied`, the route's path, never its query).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from fastapi import Request
from psycopg_pool import ConnectionPool

from lanecap.api.errors import CsrfRejected
from lanecap.security.errors import AuthenticationFailed
from lanecap.security.roles import USER_ROLES, Permission, Principal, Role, authorize, can
from lanecap.security.tokens import verify_token
from lanecap.security.trail import AuditTrail
from lanecap.security.users import authenticate

COOKIE = "lanecap_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Authenticator(Protocol):
    def login(self, *, name: str, password: str, totp_code: str) -> Principal:
        """The user's principal; AuthenticationFailed (audited) otherwise."""
        ...

    def lane_token(self, token: str) -> Principal:
        """A lane node's principal from its API token; AuthenticationFailed otherwise."""
        ...

    def current_role(self, name: str) -> Role | None:
        """The user's role now; None when the user is unknown or disabled."""
        ...


@dataclass(frozen=True)
class SecurityCoreAuth:
    """`Authenticator` over lanecap.security (argon2id + TOTP users, hashed lane tokens)."""

    pool: ConnectionPool = field(repr=False)
    trail: AuditTrail
    max_failed: int = 8

    def login(self, *, name: str, password: str, totp_code: str) -> Principal:
        return authenticate(
            self.pool,
            self.trail,
            name=name,
            password=password,
            totp_code=totp_code,
            max_failed=self.max_failed,
        )

    def lane_token(self, token: str) -> Principal:
        return verify_token(self.pool, token)

    def current_role(self, name: str) -> Role | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT role, disabled FROM users WHERE name = %s", (name,)
            ).fetchone()
        if row is None or row[1] or row[0] not in USER_ROLES:
            return None
        return cast(Role, row[0])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Sessions:
    """Signs and checks session tokens. The secret is per process unless given."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    ttl_s: int = 8 * 3600

    def issue(self, principal: Principal, *, now: float | None = None) -> str:
        payload = {
            "n": principal.name,
            "exp": int((now or time.time()) + self.ttl_s),
            "sid": secrets.token_hex(8),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        mac = hmac.new(self.secret, b"s1." + body.encode("ascii"), hashlib.sha256).digest()
        return f"s1.{body}.{_b64(mac)}"

    def name_of(self, token: str, *, now: float | None = None) -> str:
        """The user name a valid, unexpired token was issued to; AuthenticationFailed else."""
        try:
            version, body, mac = token.split(".")
            want = hmac.new(self.secret, b"s1." + body.encode("ascii"), hashlib.sha256).digest()
            if version != "s1" or not hmac.compare_digest(want, _unb64(mac)):
                raise AuthenticationFailed()
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeError):
            raise AuthenticationFailed() from None
        if not isinstance(payload, dict) or int(payload.get("exp", 0)) < (now or time.time()):
            raise AuthenticationFailed()
        return str(payload["n"])

    def csrf(self, token: str) -> str:
        return hmac.new(self.secret, b"csrf:" + token.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Caller:
    principal: Principal
    session: str | None  # the session token when a person is calling


def identify(request: Request, *, auth: Authenticator, sessions: Sessions) -> Caller:
    """The caller of a request, or AuthenticationFailed. Checks CSRF on cookie writes."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    from_cookie = False
    if not token:
        token = request.cookies.get(COOKIE, "")
        from_cookie = bool(token)
    if not token:
        raise AuthenticationFailed()
    if token.startswith("lct_"):
        return Caller(auth.lane_token(token), None)
    name = sessions.name_of(token)
    role = auth.current_role(name)
    if role is None:
        raise AuthenticationFailed()
    if from_cookie and request.method not in _SAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("ascii", "replace"), sessions.csrf(token).encode()):
            raise CsrfRejected()
    return Caller(Principal(name=name, role=role, kind="user"), token)


def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller (any role)."""
    svc = request.app.state.services
    found: Caller | None = getattr(request.state, "caller", None)
    if found is None:
        found = identify(request, auth=svc.auth, sessions=svc.sessions)
        request.state.caller = found
    return found


def require(*permissions: Permission) -> Callable[[Request], Principal]:
    """FastAPI dependency: the caller's principal, if its role grants every permission."""

    def dependency(request: Request) -> Principal:
        p = caller(request).principal
        for perm in permissions:
            if not can(p, perm):
                # audited like the evidence reader's refusals; the path only (a query
                # string may carry a plate)
                request.app.state.services.trail.record(
                    p,
                    "access.denied",
                    target=f"route:{request.method} {request.url.path}"[:200],
                    detail={"permission": perm.value, "role": p.role},
                )
            authorize(p, perm)
        return p

    dependency.__name__ = "require_" + "_".join(p.name.lower() for p in permissions)
    return dependency
