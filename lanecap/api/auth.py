"""Who is calling: sessions for people, API tokens for lane nodes, and the role check.

People log in with name + password + TOTP (the security core, `lanecap.security.users`) and
get a session: an HMAC-signed token (`s1.<payload>.<mac>`, 8 h by default) sent back as an
HttpOnly, SameSite=Strict cookie (Secure over HTTPS: TLS in `serve`, a trusted proxy's
X-Forwarded-Proto, or `api.behind_tls_proxy`) and in the login response for API clients
(`Authorization: Bearer s1...`). Failed sign-ins are throttled per name and per client
address (`lanecap.security.throttle`: 429 with Retry-After, never a disabled account). Lane nodes use their `lct_...` tokens
(`lanecap.security.tokens`). Every request re-reads the user's role and disabled flag, so
disabling a user ends their sessions at once. With a pool (the service), each session is
also a row (table sessions, keyed hash of its id): logout revokes it for good, and with the
signing secret kept in the key directory (`session.key`) sessions survive a restart.
Cookie-authenticated writes also need the `X-CSRF-Token` header (an HMAC of the session,
given to pages as a meta tag).

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
from datetime import UTC, datetime
from typing import Protocol, cast

from fastapi import Request
from psycopg_pool import ConnectionPool

from lanecap.api.errors import CsrfRejected
from lanecap.security.errors import AuthenticationFailed
from lanecap.security.roles import USER_ROLES, Permission, Principal, Role, authorize, can
from lanecap.security.throttle import ThrottlePolicy
from lanecap.security.tokens import verify_token
from lanecap.security.trail import AuditTrail
from lanecap.security.users import authenticate
from storage import sessions as session_rows

COOKIE = "lanecap_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Authenticator(Protocol):
    def login(
        self, *, name: str, password: str, totp_code: str, address: str | None = None
    ) -> Principal:
        """The user's principal; AuthenticationFailed (audited) otherwise, LoginThrottled
        while the name or the client `address` is refused."""
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
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    def login(
        self, *, name: str, password: str, totp_code: str, address: str | None = None
    ) -> Principal:
        return authenticate(
            self.pool,
            self.trail,
            name=name,
            password=password,
            totp_code=totp_code,
            address=address,
            policy=self.policy,
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
    """Signs and checks session tokens. The secret is per process unless given; with a
    pool, sessions are also kept server side (revocable, checked on every request)."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    ttl_s: int = 8 * 3600
    pool: ConnectionPool | None = field(default=None, repr=False)

    def _sid_hash(self, sid: str) -> bytes:
        return hmac.new(self.secret, b"sid:" + sid.encode("ascii"), hashlib.sha256).digest()

    def issue(self, principal: Principal, *, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.ttl_s)
        sid = secrets.token_hex(16)
        payload = {"n": principal.name, "exp": expires, "sid": sid}
        if self.pool is not None:
            session_rows.open_session(
                self.pool,
                sid_hash=self._sid_hash(sid),
                user_name=principal.name,
                expires_at=datetime.fromtimestamp(expires, tz=UTC),
            )
        body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        mac = hmac.new(self.secret, b"s1." + body.encode("ascii"), hashlib.sha256).digest()
        return f"s1.{body}.{_b64(mac)}"

    def _payload(self, token: str, now: float | None) -> dict[str, object]:
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
        if not isinstance(payload.get("sid"), str) or not isinstance(payload.get("n"), str):
            raise AuthenticationFailed()
        return payload

    def name_of(self, token: str, *, now: float | None = None) -> str:
        """The user name a valid, unexpired, unrevoked token was issued to; AuthenticationFailed else."""
        payload = self._payload(token, now)
        name, sid = str(payload["n"]), str(payload["sid"])
        if self.pool is not None and not session_rows.in_force(
            self.pool,
            sid_hash=self._sid_hash(sid),
            user_name=name,
            at=datetime.fromtimestamp(now or time.time(), tz=UTC),
        ):
            raise AuthenticationFailed()
        return name

    def end(self, token: str) -> None:
        """Revoke the session (logout); a no-op without a pool."""
        if self.pool is None:
            return
        try:
            sid = str(self._payload(token, None)["sid"])
        except AuthenticationFailed:
            return
        session_rows.revoke(self.pool, sid_hash=self._sid_hash(sid), at=datetime.now(UTC))

    def csrf(self, token: str) -> str:
        return hmac.new(self.secret, b"csrf:" + token.encode("ascii"), hashlib.sha256).hexdigest()


def over_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (TLS here, a trusted proxy's
    X-Forwarded-Proto through uvicorn's proxy headers, or `api.behind_tls_proxy`)."""
    if request.url.scheme == "https":
        return True
    settings = getattr(request.app.state, "settings", None)
    return bool(settings is not None and settings.api.behind_tls_proxy)


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
