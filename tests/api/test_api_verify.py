"""POST /api/crossings/{id}/verify-document: 1:1 against a document photo, by role, audited."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import httpx
import pytest

from lanecap.api import create_app
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import (
    CodeFaceEncoder,
    ServerThread,
    crossing,
    face_image,
    login,
    make_account,
)
from lanecap.config import LaneConfig

LANE = "verify-lane"


@pytest.fixture(scope="module")
def server(settings, endpoints, archive) -> Iterator[tuple[ApiServices, str]]:  # type: ignore[no-untyped-def]
    archive.register_lane(
        LaneConfig.model_validate(
            {"id": LANE, "cameras": [{"id": f"{LANE}-front", "role": "front_plate", "source": "x"}]}
        )
    )
    svc = build_services(settings, endpoints, face_encoder=CodeFaceEncoder())
    with ServerThread(create_app(settings, svc)) as srv:
        yield svc, srv.url
    svc.close()


def _jpeg(seed: int) -> bytes:
    ok, buf = cv2.imencode(".png", face_image(seed))  # PNG keeps the fake encoder's pixel code
    assert ok
    return bytes(buf)


def test_verify_document_by_role(server, archive) -> None:  # type: ignore[no-untyped-def]
    svc, url = server
    c = crossing(LANE, "VER1234", face_seed=501)
    assert archive.store(c)
    officer = httpx.Client(base_url=url, timeout=20)
    login(officer, make_account(archive, svc.trail, role="officer", prefix="ver"))
    path = f"/api/crossings/{c.id}/verify-document"
    same = officer.post(
        path, files={"photo": ("d.png", _jpeg(501))}, data={"reason": "document check"}
    )
    assert same.status_code == 200, same.text
    assert same.json()["decision"] == "match"
    other = officer.post(
        path, files={"photo": ("d.png", _jpeg(777))}, data={"reason": "document check"}
    )
    assert other.json()["decision"] == "no_match"
    no_reason = officer.post(path, files={"photo": ("d.png", _jpeg(501))})
    assert no_reason.status_code == 400 and no_reason.json()["error"]["code"] == "reason_required"
    contractor = httpx.Client(base_url=url, timeout=20)
    login(contractor, make_account(archive, svc.trail, role="contractor", prefix="ver"))
    denied = contractor.post(path, files={"photo": ("d.png", _jpeg(501))}, data={"reason": "x"})
    assert denied.status_code == 403
