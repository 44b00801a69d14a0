"""People: argon2id password hashes, a TOTP second factor for everyone, disable, lockout.

`authenticate` never says which factor was wrong, audits every attempt (never the
password or code), and disables the account after `max_failed` failures in a row.
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

from lanecap.security.errors import AuthenticationFailed, SecurityError
from lanecap.security.roles import USER_ROLES, Principal, Role
from lanecap.security.trail import AuditTrail

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 12
ISSUER = "lanecap"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


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


def authenticate(
    pool: ConnectionPool,
    trail: AuditTrail,
    *,
    name: str,
    password: str,
    totp_code: str,
    max_failed: int = 8,
    now: float | None = None,
) -> Principal:
    """Password + TOTP; the Principal on success, AuthenticationFailed otherwise."""
    actor = f"user:{name}" if NAME.match(name) else "user:?"
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
        t = time.time() if now is None else now
        for drift in (0, -1, 1):  # one step of clock drift either way
            at = t + drift * totp.interval
            if totp.verify(totp_code, for_time=at):
                step = int(at // totp.interval)
                break
        ok = pw_ok and step > last_step  # a code is good once (no replay)
    else:
        _hasher.hash(password)  # same cost whether or not the user exists
    with pool.connection() as conn:
        if ok:
            conn.execute(
                "UPDATE users SET failed_logins = 0, last_login_at = now(), totp_last_step = %s"
                " WHERE name = %s",
                (step, name),
            )
        elif row is not None:
            conn.execute(
                "UPDATE users SET failed_logins = failed_logins + 1,"
                " disabled = disabled OR failed_logins + 1 >= %s WHERE name = %s",
                (max_failed, name),
            )
    if not ok or row is None:
        trail.record(actor, "login.failed", target=actor)
        raise AuthenticationFailed()
    trail.record(actor, "login", target=actor)
    return Principal(name=name, role=row[0], kind="user")
