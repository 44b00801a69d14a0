"""Officer sessions (table sessions): issued, checked on each request, revoked on logout."""

from __future__ import annotations

from datetime import datetime

from psycopg_pool import ConnectionPool


def open_session(
    pool: ConnectionPool, *, sid_hash: bytes, user_name: str, expires_at: datetime
) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO sessions (sid_hash, user_name, expires_at) VALUES (%s, %s, %s)",
            (sid_hash, user_name, expires_at),
        )


def in_force(pool: ConnectionPool, *, sid_hash: bytes, user_name: str, at: datetime) -> bool:
    """True when the session exists for this user, is not revoked and has not expired."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT 1 FROM sessions WHERE sid_hash = %s AND user_name = %s"
            " AND revoked_at IS NULL AND expires_at > %s",
            (sid_hash, user_name, at),
        ).fetchone()
    return row is not None


def revoke(pool: ConnectionPool, *, sid_hash: bytes, at: datetime) -> bool:
    with pool.connection() as conn:
        cur = conn.execute(
            "UPDATE sessions SET revoked_at = %s WHERE sid_hash = %s AND revoked_at IS NULL",
            (at, sid_hash),
        )
        return cur.rowcount == 1


def revoke_user(pool: ConnectionPool, *, user_name: str, at: datetime) -> int:
    """End every session of a user (password reset, suspicion); returns how many."""
    with pool.connection() as conn:
        cur = conn.execute(
            "UPDATE sessions SET revoked_at = %s WHERE user_name = %s AND revoked_at IS NULL",
            (at, user_name),
        )
        return cur.rowcount


def purge_sessions(pool: ConnectionPool, *, before: datetime) -> int:
    """Delete sessions that expired or were revoked before `before`."""
    with pool.connection() as conn:
        cur = conn.execute(
            "DELETE FROM sessions WHERE expires_at < %s OR revoked_at < %s", (before, before)
        )
        return cur.rowcount
