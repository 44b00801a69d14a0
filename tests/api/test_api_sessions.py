"""Officer sessions are kept server side: they survive a restart, and logout ends them."""

from __future__ import annotations

import base64
import json

import httpx

from lanecap.api import create_app
from lanecap.api.auth import Sessions
from lanecap.api.services import build_services
from lanecap.api.testing import ServerThread, login, make_account
from lanecap.security.roles import Principal


def _sid(token: str) -> str:
    body = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["sid"])


def test_session_survives_restart_and_logout_revokes_it(settings, endpoints, archive) -> None:  # type: ignore[no-untyped-def]
    first = build_services(settings, endpoints)
    account = make_account(archive, first.trail, role="officer", prefix="sess")
    with ServerThread(create_app(settings, first)) as srv, httpx.Client(base_url=srv.url) as c:
        token = login(c, account)["token"]
        assert c.get("/api/auth/me").status_code == 200
    first.close()

    # a new process (same key directory): the session is still in force
    second = build_services(settings, endpoints)
    bearer = {"Authorization": f"Bearer {token}"}
    with ServerThread(create_app(settings, second)) as srv, httpx.Client(base_url=srv.url) as c:
        me = c.get("/api/auth/me", headers=bearer)
        assert me.status_code == 200 and me.json()["name"] == account.name
        # the table holds a keyed hash of the session id, never the id itself
        with second.pool.connection() as conn:
            rows = conn.execute("SELECT sid_hash::text, user_name FROM sessions").fetchall()
        assert rows and all(_sid(token) not in r[0] for r in rows)
        assert c.post("/api/auth/logout", headers=bearer).status_code == 204
        # the same (still signed, unexpired) token is refused from now on
        assert c.get("/api/auth/me", headers=bearer).status_code == 401
        # a token signed with another secret is refused
        forged = Sessions(secret=b"x" * 32).issue(
            Principal(name=account.name, role="officer", kind="user")
        )
        assert (
            c.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        )
    second.close()
