"""Connections and numbered migrations (storage/migrations/NNN_name.sql, applied in order once)."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from storage.errors import MigrationError, StoreUnavailable

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x1A4E_CA9


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every bundled migration, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must be 1..N without gaps, found {numbers}")
    return found


def migrate(
    admin_url: str, *, app_role: str | None = "lanecap_app", upto: int | None = None
) -> list[str]:
    """Apply pending migrations as the schema owner; returns the names applied. `upto`
    stops after that number (a database as an older release left it, for tests)."""
    applied: list[str] = []
    try:
        conn = psycopg.connect(admin_url, autocommit=True)
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"PostgreSQL unreachable for migrations: {err}") from None
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " number integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
            for number, name, text in migrations():
                if upto is not None and number > upto:
                    break
                if number in done:
                    continue
                with conn.transaction():
                    conn.execute(text)  # trusted, bundled SQL
                    conn.execute(
                        "INSERT INTO schema_migrations (number, name) VALUES (%s, %s)",
                        (number, name),
                    )
                applied.append(name)
                log.info("applied migration %s", name)
            if app_role:
                _grant(conn, app_role)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def _grant(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        return
    from psycopg import sql

    r = sql.Identifier(role)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
    conn.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            r
        )
    )
    conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(r))
    conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(r))
    # The audit log is append-only for the application.
    conn.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {}").format(r))
    conn.execute(
        sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {}").format(r)
    )


def _configure(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    register_vector(conn)
    conn.commit()


def open_pool(url: str, *, size: int = 4) -> ConnectionPool:
    """One pool per process; connections come with pgvector types registered."""
    pool: ConnectionPool = ConnectionPool(
        url, min_size=1, max_size=size, configure=_configure, open=False, timeout=10
    )
    try:
        pool.open(wait=True, timeout=10)
    except Exception as err:  # psycopg_pool.PoolTimeout and friends
        pool.close()
        raise StoreUnavailable(f"PostgreSQL unreachable: {err}") from None
    return pool


class ReadPool(ConnectionPool):
    """Connections to a read replica, or to the primary while the replica is down.

    `connection()` asks the replica for a connection for at most `connect_timeout` seconds;
    failing that it gives one of `primary`'s, and keeps using the primary for
    `retry_after_s` before it tries the replica again. The switch is logged once each way.
    For reads only (officer searches, the booth's recent list): a replica refuses writes and
    may lag the primary by a moment. A replica failing in the middle of a query raises, as
    the primary would; the next call falls back.
    """

    def __init__(
        self,
        read_url: str,
        primary: ConnectionPool,
        *,
        size: int = 4,
        connect_timeout: float = 1.0,
        retry_after_s: float = 5.0,
    ) -> None:
        super().__init__(
            read_url,
            min_size=1,
            max_size=size,
            configure=_configure,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, round(connect_timeout))},
            open=False,
            timeout=connect_timeout,
            name="read-replica",
        )
        self.primary = primary
        self.connect_timeout = connect_timeout
        self.retry_after_s = retry_after_s
        self._switch_lock = threading.Lock()
        self._down_until = 0.0
        self._on_primary = False

    @property
    def on_primary(self) -> bool:
        """True while reads go to the primary because the replica did not answer."""
        return self._on_primary

    def _replica_conn(self) -> psycopg.Connection[tuple[object, ...]] | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            conn = self.getconn(timeout=self.connect_timeout)
        except (PoolTimeout, psycopg.OperationalError) as err:
            with self._switch_lock:
                self._down_until = time.monotonic() + self.retry_after_s
                if not self._on_primary:
                    self._on_primary = True
                    log.warning("read replica unreachable (%s): reading from the primary", err)
            return None
        if self._on_primary:
            with self._switch_lock:
                if self._on_primary:
                    self._on_primary = False
                    log.info("read replica reachable again: reading from it")
        return conn

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        conn = self._replica_conn()
        if conn is None:
            with self.primary.connection(timeout) as fallback:
                yield fallback
            return
        try:
            with conn:
                yield conn
        finally:
            self.putconn(conn)


def open_read_pool(
    read_url: str, primary: ConnectionPool, *, size: int = 4, connect_timeout: float = 1.0
) -> ReadPool:
    """A replica pool falling back to `primary`; opens without waiting, so a replica that is
    down at start-up does not stop the service."""
    pool = ReadPool(read_url, primary, size=size, connect_timeout=connect_timeout)
    pool.open(wait=False)
    return pool
