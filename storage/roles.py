"""Database logins of lane nodes: one role per lane, a member of lanecap_lane (009_roles.sql).

Run as the schema owner (or a role with CREATEROLE). Idempotent: provisioning a lane again
sets the same password and mapping.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from storage.errors import StoreUnavailable


def provision_lane_login(admin_url: str, *, lane_id: str, role: str, password: str) -> None:
    """Create or update the lane's login and map it to the lane."""
    try:
        conn = psycopg.connect(admin_url, autocommit=True)
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"PostgreSQL unreachable: {err}") from None
    with conn:
        ident = sql.Identifier(role)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                ident, sql.Literal(password)
            )
        )
        conn.execute(sql.SQL("GRANT lanecap_lane TO {}").format(ident))
        conn.execute(
            "INSERT INTO lane_logins (role_name, lane_id) VALUES (%s, %s)"
            " ON CONFLICT (role_name) DO UPDATE SET lane_id = EXCLUDED.lane_id",
            (role, lane_id),
        )


def lane_logins(admin_url: str) -> list[tuple[str, str]]:
    """(role, lane) of every provisioned lane login."""
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute("SELECT role_name, lane_id FROM lane_logins ORDER BY lane_id")
        return [(r[0], r[1]) for r in rows]
