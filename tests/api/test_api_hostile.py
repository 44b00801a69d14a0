"""Hostile requests against the real API: injection and traversal strings in every user-supplied
field, malformed ids, oversized uploads. Each gets a 4xx with the one error shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanecap.api import create_app
from lanecap.api.services import build_services
from lanecap.api.testing import CodeFaceEncoder, ServerThread, login, make_account

NASTY = st.one_of(
    st.sampled_from(
        [
            "'; DROP TABLE crossings; --",
            "../../../etc/passwd",
            "..%2f..%2fetc%2fpasswd",
            "%00",
            "\x00",
            "<script>alert(1)</script>",
            "A" * 5000,
            "${jndi:ldap://x}",
            "' OR '1'='1",
            "\u202eEVIL",
        ]
    ),
    st.text(max_size=60),
)


@pytest.fixture(scope="module")
def client(settings, endpoints, archive) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    svc = build_services(settings, endpoints, face_encoder=CodeFaceEncoder())
    app = create_app(settings, svc)
    with ServerThread(app) as srv:
        c = httpx.Client(base_url=srv.url, timeout=20)
        login(c, make_account(archive, svc.trail, role="supervisor", prefix="hostile"))
        yield c
        c.close()
    svc.close()


def _clean_error(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        body: dict[str, Any] = r.json()
        assert set(body) == {"error"}
        assert {"code", "message"} <= set(body["error"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plate=NASTY, lane=NASTY, reason=NASTY, cursor=NASTY, mode=NASTY)
def test_search_parameters(
    client: httpx.Client, plate: str, lane: str, reason: str, cursor: str, mode: str
) -> None:
    r = client.get(
        "/api/search/crossings",
        params={"plate": plate, "lane": lane, "reason": reason, "cursor": cursor, "mode": mode},
    )
    _clean_error(r)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ident=NASTY)
def test_crossing_ids_and_paths(client: httpx.Client, ident: str) -> None:
    ident = quote(ident, safe="")  # as a browser would send it; the app must still refuse cleanly
    for path in (
        f"/api/crossings/{ident}",
        f"/api/crossings/{ident}/crops/plate_crop",
        f"/api/lanes/{ident}/recent",
    ):
        try:
            r = client.get(path, params={"reason": "hostile input test"})
        except httpx.InvalidURL:
            continue  # the client itself refuses to send it
        _clean_error(r)


def test_oversized_and_garbage_uploads(client: httpx.Client) -> None:
    big = b"\xff\xd8" + b"0" * (9 * 2**20)
    r = client.post("/api/search/faces", files={"photo": ("a.jpg", big)}, data={"reason": "test"})
    assert r.status_code == 400 and "8 MiB" in r.json()["error"]["message"]
    r = client.post(
        "/api/search/faces", files={"photo": ("a.jpg", b"not an image")}, data={"reason": "test"}
    )
    assert r.status_code == 400 and "decodable" in r.json()["error"]["message"]
    r = client.post(
        "/api/lists/plates/import",
        files={"file": ("x.csv", b"\xff\xfe\x00garbage")},
        data={"reason": "t"},
    )
    _clean_error(r)
    assert r.status_code >= 400


def test_a_hot_list_expiry_must_be_a_date_not_unix_time() -> None:
    from pydantic import ValidationError

    from lanecap.api.schemas.lists import PlateEntryIn

    for bad in (0, 1.5, 1767225600):
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            PlateEntryIn(plate="AB12CD", reason="stolen car", expires=bad)  # type: ignore[arg-type]
    ok = PlateEntryIn.model_validate(
        {"plate": "AB12CD", "reason": "stolen car", "expires": "2027-01-31"}
    )
    assert ok.expires is not None and ok.expires.isoformat() == "2027-01-31"
