"""People: argon2id password hashes, a TOTP second factor for everyone, disable, enable.

`authenticate` never says which factor was wrong and audits every attempt it checks (never
the password or code). Failures are throttled per name and per client address
(`lanecap.security.throttle`): past a limit, sign-ins are refused for a growing while, but an
account is never disabled by failures, so nobody locks an officer out for good. Disabling is
an admin's act (`disable_user`); `enable_user` undoes it and clears the name's throttle.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from lanecap.security import throttle
from lanecap.security.errors import AuthenticationFailed, SecurityError
from lanecap.security.roles import USER_ROLES, Principal, Role
from lanecap.security.throttle import ThrottlePolicy
from lanecap.security.trail import AuditTrail

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12
ISSUER = "lanecap"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
DEFAULT_POLICY = ThrottlePolicy()


@dataclass(frozen=True)
class NewUser:
    name: str
    role: Role
    totp_secret: str = field(repr=False)

    @property
    def totp_uri(self) -> str:
        """otpauth:// URI to enrol an authenticator app (show once, as a QR code)."""
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.name, issuer_name=ISSUER)


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


def add_user(
    pool: ConnectionPool,
    trail: AuditTrail,
    *,
    by: Principal | str,
    name: str,
    role: Role,
    password: str,
) -> NewUser:
    if not NAME.match(name):
        raise SecurityError(f"user name {name!r} must match {NAME.pattern}")
    if role not in USER_ROLES:
        raise SecurityError(f"role must be one of {', '.join(USER_ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise SecurityError(f"passwords need at least {MIN_PASSWORD} characters")
    secret = pyotp.random_base32()
    try:
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO users (name, role, password_hash, totp_secret) VALUES (%s, %s, %s, %s)",
                (name, role, _hasher.hash(password), secret),
            )
    except pg_errors.UniqueViolation:
        raise SecurityError(f"user {name} exists") from None
    trail.record(by, "user.add", target=f"user:{name}", detail={"role": role})
    return NewUser(name=name, role=role, totp_secret=secret)


def list_users(pool: ConnectionPool) -> list[UserInfo]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT name, role, disabled, created_at, last_login_at FROM users ORDER BY name"
        ).fetchall()
    return [UserInfo(*r) for r in rows]


def disable_user(
    pool: ConnectionPool, trail: AuditTrail, *, by: Principal | str, name: str
) -> None:
    with pool.connection() as conn:
        if conn.execute("UPDATE users SET disabled = true WHERE name = %s", (name,)).rowcount == 0:
            raise SecurityError(f"no user {name}")
    trail.record(by, "user.disable", target=f"user:{name}")


def enable_user(pool: ConnectionPool, trail: AuditTrail, *, by: Principal | str, name: str) -> None:
    """Re-enable a user and clear the name's sign-in throttle (audited as user.enable)."""
    with pool.connection() as conn:
        row = conn.execute(
            "UPDATE users u SET disabled = false, failed_logins = 0"
            " FROM (SELECT name, disabled FROM users WHERE name = %s FOR UPDATE) old"
            " WHERE u.name = old.name RETURNING old.disabled",
            (name,),
        ).fetchone()
    if row is None:
        raise SecurityError(f"no user {name}")
    cleared = throttle.clear_user(pool, user=name)
    trail.record(
        by,
        "user.enable",
        target=f"user:{name}",
        detail={"was_disabled": bool(row[0]), "throttle_cleared": cleared},
    )


def authenticate(
    pool: ConnectionPool,
    trail: AuditTrail,
    *,
    name: str,
    password: str,
    totp_code: str,
    address: str | None = None,
    policy: ThrottlePolicy = DEFAULT_POLICY,
    now: float | None = None,
) -> Principal:
    """Password + TOTP from a client `address`; the Principal on success, AuthenticationFailed
    otherwise, LoginThrottled (nothing checked) while the name or the address is refused."""
    valid_name = bool(NAME.match(name))
    actor = f"user:{name}" if valid_name else "user:?"
    t = time.time() if now is None else now
    throttle.check(pool, user=name if valid_name else None, address=address, now=t)
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT role, password_hash, totp_secret, disabled, totp_last_step FROM users"
            " WHERE name = %s",
            (name,),
        ).fetchone()
    ok = False
    step = 0
    if row is not None and not row[3]:
        _, pw_hash, secret, _, last_step = row
        pw_ok: bool
        try:
            pw_ok = _hasher.verify(pw_hash, password)
        except (VerificationError, InvalidHashError):
            pw_ok = False
        totp = pyotp.TOTP(secret)
        for drift in (0, -1, 1):  # one step of clock drift either way
            at = t + drift * totp.interval
            if totp.verify(totp_code, for_time=at):
                step = int(at // totp.interval)
                break
        ok = pw_ok and step > last_step  # a code is good once (no replay)
    else:
        _hasher.hash(password)  # same cost whether or not the user exists
    if not ok or row is None:
        trail.record(actor, "login.failed", target=actor)
        throttle.record_failure(
            pool, trail, policy, user=name if valid_name else None, address=address, now=t
        )
        raise AuthenticationFailed()
    with pool.connection() as conn:
        conn.execute(
            "UPDATE users SET failed_logins = 0, last_login_at = now(), totp_last_step = %s"
            " WHERE name = %s",
            (step, name),
        )
    throttle.clear_user(pool, user=name)
    trail.record(actor, "login", target=actor)
    return Principal(name=name, role=row[0], kind="user")
