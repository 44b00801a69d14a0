"""Sign-in throttling: failures counted per user name and per client address, in PostgreSQL.

Past `per_user` failures for a name (from any address) or `per_address` failures from an
address (for any name), each further failure refuses that name or address for a window that
starts at `lock_s` and doubles, up to `max_lock_s`. A refusal (`LoginThrottled`, HTTP 429
with Retry-After) is cheap: no password is checked, nothing is counted, nothing is written.
A success clears the name's count (not the address's); counts are forgotten after
`forget_s` without a failure. Failures never disable an account, so nobody can lock an
officer out for good by guessing; an admin still disables with `lanecap users disable`, and
`lanecap users enable` clears the name. Each lock that engages is audited (`login.locked`).

Names are counted whether or not the user exists, so a refusal says nothing about who has
an account. Addresses are compared as IPv4 addresses or IPv6 /64 networks (one subscriber's
allocation); behind a TLS proxy the address is the client's from X-Forwarded-For, trusted
only from `api.forwarded_allow_ips`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from psycopg import Connection
from psycopg_pool import ConnectionPool

from lanecap.security.errors import SecurityError
from lanecap.security.trail import AuditTrail

if TYPE_CHECKING:
    from lanecap.config import SecurityConfig

log = logging.getLogger(__name__)

Kind = Literal["user", "address"]
ACTOR = "system:login-throttle"
_MAX_DOUBLINGS = 30


class LoginThrottled(SecurityError):
    """Too many failed sign-ins for this name or from this address (a SecurityError; the
    API answers 429 with Retry-After)."""

    def __init__(self, *, kind: Kind, retry_after: int) -> None:
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(
            f"too many failed sign-ins: try again in {retry_after} s",
            hint="wait; an admin can clear a user's lock with `lanecap users enable NAME`",
        )


@dataclass(frozen=True)
class ThrottlePolicy:
    per_user: int = 8
    per_address: int = 20
    lock_s: float = 30.0
    max_lock_s: float = 900.0
    forget_s: float = 3600.0

    @classmethod
    def from_settings(cls, security: SecurityConfig) -> ThrottlePolicy:
        return cls(
            per_user=security.max_failed_logins,
            per_address=security.max_failed_logins_per_address,
            lock_s=float(security.login_lock_seconds),
            max_lock_s=float(security.login_lock_max_seconds),
            forget_s=float(security.login_failures_forget_seconds),
        )

    def lock_seconds(self, failures: int, limit: int) -> float:
        """The refusal window after the `failures`-th failure (0 below the limit)."""
        if failures < limit:
            return 0.0
        doublings = min(failures - limit, _MAX_DOUBLINGS)
        return float(min(self.max_lock_s, self.lock_s * (1 << doublings)))


def address_subject(address: str | None) -> str:
    """The key an address is counted under: IPv4 as is, IPv6 as its /64, else 'unknown'."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def check(pool: ConnectionPool, *, user: str | None, address: str | None, now: float) -> None:
    """Raise LoginThrottled when the name or the address is refused at `now`."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, locked_until FROM login_throttle"
            " WHERE ((kind = 'user' AND subject = %s) OR (kind = 'address' AND subject = %s))"
            " AND locked_until > %s",
            (user or "", address_subject(address), _at(now)),
        ).fetchall()
    if not rows:
        return
    kind, until = max(rows, key=lambda r: r[1])
    # timestamps are kept to the microsecond: round that away before rounding up
    left = until.timestamp() - now
    raise LoginThrottled(kind=kind, retry_after=max(1, math.ceil(round(left, 3))))


def _count(
    conn: Connection[Any], policy: ThrottlePolicy, kind: Kind, subject: str, limit: int, now: float
) -> tuple[int, float]:
    """Count one failure; (failures, seconds of the lock it engaged or 0)."""
    row = conn.execute(
        "INSERT INTO login_throttle AS t (kind, subject, failures, last_failure_at)"
        " VALUES (%(kind)s, %(subject)s, 1, %(now)s)"
        " ON CONFLICT (kind, subject) DO UPDATE SET"
        "  failures = CASE WHEN t.last_failure_at < %(forget)s THEN 1 ELSE t.failures + 1 END,"
        "  locked_until = CASE WHEN t.last_failure_at < %(forget)s THEN NULL"
        "                 ELSE t.locked_until END,"
        "  last_failure_at = %(now)s"
        " RETURNING failures",
        {
            "kind": kind,
            "subject": subject,
            "now": _at(now),
            "forget": _at(now - policy.forget_s),
        },
    ).fetchone()
    failures = int(row[0]) if row else 1
    seconds = policy.lock_seconds(failures, limit)
    if seconds > 0:
        conn.execute(
            "UPDATE login_throttle SET locked_until = %s WHERE kind = %s AND subject = %s",
            (_at(now) + timedelta(seconds=seconds), kind, subject),
        )
    return failures, seconds


def record_failure(
    pool: ConnectionPool,
    trail: AuditTrail,
    policy: ThrottlePolicy,
    *,
    user: str | None,
    address: str | None,
    now: float,
) -> None:
    """Count a failed sign-in for the name (when it is a valid name) and the address; audit
    every lock this engages (`login.locked`)."""
    counted: list[tuple[Kind, str, int]] = [
        ("address", address_subject(address), policy.per_address)
    ]
    if user:
        counted.insert(0, ("user", user, policy.per_user))
    engaged: list[tuple[Kind, str, int, int, float]] = []
    with pool.connection() as conn:
        for kind, subject, limit in counted:
            failures, seconds = _count(conn, policy, kind, subject, limit, now)
            if seconds > 0:
                engaged.append((kind, subject, limit, failures, seconds))
        if engaged:  # forget the quiet ones (bounded by the index, only when a lock engages)
            conn.execute(
                "DELETE FROM login_throttle WHERE last_failure_at < %s"
                " AND (locked_until IS NULL OR locked_until < %s)",
                (_at(now - policy.forget_s), _at(now)),
            )
    for kind, subject, limit, failures, seconds in engaged:
        trail.record(
            ACTOR,
            "login.locked",
            target=f"{kind}:{subject}",
            detail={"failures": failures, "limit": limit, "seconds": int(seconds)},
        )
        log.warning("sign-ins refused for %s %s for %d s", kind, subject, int(seconds))


def clear_user(pool: ConnectionPool, *, user: str) -> bool:
    """Forget a name's failures and lock (a success, or `users enable`); True if it had any."""
    with pool.connection() as conn:
        cur = conn.execute(
            "DELETE FROM login_throttle WHERE kind = 'user' AND subject = %s", (user,)
        )
    return cur.rowcount > 0
