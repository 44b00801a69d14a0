"""Fuzz fixtures: the real API on a server thread, signed in as each role and anonymous."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fuzz.budget import COUNTS

ROLES = ("officer", "supervisor", "auditor", "contractor", "anonymous")


@dataclass
class Api:
    url: str
    sessions: dict[str, requests.Session]
    app: Any


@pytest.fixture(scope="module")
def api(settings, endpoints, archive) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    from lanecap.api import create_app
    from lanecap.api.services import build_services
    from lanecap.api.testing import CodeFaceEncoder, ServerThread, make_account

    svc = build_services(settings, endpoints, face_encoder=CodeFaceEncoder())
    app = create_app(settings, svc)
    with ServerThread(app) as srv:
        sessions: dict[str, requests.Session] = {}
        # Every role signs in before anything is fuzzed (fuzzed logins throttle the address).
        for role in ROLES:
            s = requests.Session()
            if role != "anonymous":
                acc = make_account(archive, svc.trail, role=role, prefix=f"fz{role[:3]}")  # type: ignore[arg-type]
                r = s.post(
                    f"{srv.url}/api/auth/login",
                    json={"name": acc.name, "password": acc.password, "totp": acc.code()},
                    timeout=20,
                )
                r.raise_for_status()
                s.headers["X-CSRF-Token"] = r.json()["csrf"]
            sessions[role] = s
        try:
            yield Api(srv.url, sessions, app)
        finally:
            for s in sessions.values():
                s.close()
            # Fuzzed logins from 127.0.0.1 must not lock out the tests that sign in later.
            with archive.pool.connection() as conn:
                conn.execute("DELETE FROM login_throttle")
    svc.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.section("fuzz cases")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{n:>8}  {name}")
        terminalreporter.write_line(f"{sum(COUNTS.values()):>8}  total")
