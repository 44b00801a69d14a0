"""Scoped API tokens for lane nodes: write-only, stored as a hash, shown once.

Token text: `lct_<id>_<secret>`; the database keeps SHA-256(secret) (the secret is 256
random bits, so a fast hash is enough). A token's principal has role `lane_node`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from lanecap.security.errors import AuthenticationFailed, SecurityError
from lanecap.security.roles import Principal
from lanecap.security.trail import AuditTrail

LANE_SCOPES = ("crossings:write", "health:write")
_TOKEN = re.compile(r"^lct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    lane_id: str | None
    scopes: tuple[str, ...]
    created_by: str
    expires_at: datetime | None
    revoked: bool


def _actor(by: Principal | str) -> str:
    return by.actor if isinstance(by, Principal) else by


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def create_token(
    pool: ConnectionPool,
    trail: AuditTrail,
    *,
    by: Principal | str,
    name: str,
    lane_id: str | None,
    scopes: tuple[str, ...] = LANE_SCOPES,
    days: int = 365,
) -> IssuedToken:
    bad = sorted(set(scopes) - set(LANE_SCOPES))
    if bad or not scopes:
        raise SecurityError(
            f"lane tokens are write-only; allowed scopes: {', '.join(LANE_SCOPES)}"
            + (f" (refused: {', '.join(bad)})" if bad else "")
        )
    tid = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=days)
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO api_tokens (id, name, lane_id, scopes, secret_hash, created_by, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (tid, name, lane_id, list(scopes), _digest(secret), _actor(by), expires),
        )
    trail.record(
        by, "token.create", target=f"token:{tid}", detail={"lane": lane_id, "scopes": list(scopes)}
    )
    return IssuedToken(id=tid, token=f"lct_{tid}_{secret}", expires_at=expires)


def verify_token(pool: ConnectionPool, token: str) -> Principal:
    """The lane node's principal; AuthenticationFailed for unknown, wrong, expired or revoked."""
    m = _TOKEN.match(token)
    if m is None:
        raise AuthenticationFailed()
    tid, secret = m.groups()
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT secret_hash, lane_id, expires_at, revoked_at FROM api_tokens WHERE id = %s",
            (tid,),
        ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[0]), _digest(secret)):
        raise AuthenticationFailed()
    if row[3] is not None or (row[2] is not None and row[2] <= datetime.now(UTC)):
        raise AuthenticationFailed()
    return Principal(name=tid, role="lane_node", kind="token", lane_id=row[1])


def revoke_token(
    pool: ConnectionPool, trail: AuditTrail, *, by: Principal | str, token_id: str
) -> None:
    with pool.connection() as conn:
        n = conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
            (token_id,),
        ).rowcount
    if n == 0:
        raise SecurityError(f"no active token {token_id}")
    trail.record(by, "token.revoke", target=f"token:{token_id}")


def list_tokens(pool: ConnectionPool) -> list[TokenInfo]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, name, lane_id, scopes, created_by, expires_at, revoked_at IS NOT NULL"
            " FROM api_tokens ORDER BY created_at"
        ).fetchall()
    return [
        TokenInfo(
            id=r[0],
            name=r[1],
            lane_id=r[2],
            scopes=tuple(r[3]),
            created_by=r[4],
            expires_at=r[5],
            revoked=r[6],
        )
        for r in rows
    ]
