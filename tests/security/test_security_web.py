"""Red-team finding 8, each attack replayed against the real service (uvicorn, PostgreSQL, S3):
open redirect after sign-in, unbounded bodies before authentication, image decompression
bombs, empty uploads, reasons without letters, cookies and HSTS behind a TLS proxy."""

from __future__ import annotations

import contextlib
import html
import re
import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest

from lanecap.api import create_app
from lanecap.api.images import dimensions
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import (
    CodeFaceEncoder,
    ServerThread,
    face_image,
    login,
    make_account,
    self_signed,
)
from lanecap.config import Settings, settings_from_dict
from lanecap.errors import ConfigError
from lanecap.security import tokens
from lanecap.security.errors import ReasonRequired
from lanecap.security.reason_text import require_letters
from lanecap.security.trail import AuditTrail

from .conftest import ADMIN, OFFICER, SecureEnv

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Web:
    url: str
    svc: ApiServices
    user: httpx.Client  # a signed-in supervisor (search, faces, lists)
    lane_token: str


@pytest.fixture(scope="module")
def web(secure_env: SecureEnv) -> Iterator[Web]:
    svc = build_services(secure_env.settings, secure_env.endpoints, face_encoder=CodeFaceEncoder())
    lane = secure_env.lane("web-lane")
    trail = AuditTrail(pool=secure_env.archive.pool)
    issued = tokens.create_token(
        secure_env.archive.pool, trail, by=ADMIN, name="web node", lane_id=lane
    )
    with ServerThread(create_app(secure_env.settings, svc)) as srv:
        user = httpx.Client(base_url=srv.url, timeout=20)
        login(user, make_account(secure_env.archive, svc.trail, role="supervisor", prefix="web"))
        yield Web(srv.url, svc, user, issued.token)
        user.close()
    svc.close()


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return dict(body["error"])


# --- 1. open redirect after sign-in ---------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/booth", "/booth"),
        ("/search?plate=&mode=exact", "/search?plate=&mode=exact"),
        ("/\\evil.example/x", "/"),
        ("//evil.example/x", "/"),
        ("///evil.example/x", "/"),
        ("https://evil.example/x", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/%5Cevil.example/x", "/"),
        ("/%2F/evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\n/evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\u202e/evil", "/"),
    ],
)
def test_sign_in_only_returns_to_this_site(web: Web, target: str, lands_on: str) -> None:
    r = httpx.get(f"{web.url}/login", params={"next": target})
    assert r.status_code == 200
    found = re.search(r'data-next="([^"]*)"', r.text)
    assert found is not None and html.unescape(found.group(1)) == lands_on


def test_a_page_sends_the_anonymous_to_sign_in_and_back(web: Web) -> None:
    r = httpx.get(f"{web.url}/booth", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/booth"
    page = httpx.get(web.url + r.headers["location"])
    assert 'data-next="/booth"' in page.text


# --- 2. bodies bounded before routing and authentication ---------------------------------------


def _raw(url: str, head: str, body: bytes = b"", chunks: list[bytes] | None = None) -> bytes:
    """Send a request by hand (a lying Content-Length, a chunked body) and read the reply."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        for chunk in chunks or []:
            try:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                break  # refused mid-stream: the reply is waiting
        if chunks is not None:
            with contextlib.suppress(OSError):  # refused mid-stream: the reply is waiting
                s.sendall(b"0\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            got = s.recv(65536)
            if not got:
                break
            reply += got
    return reply


def _status_and_body(reply: bytes) -> tuple[int, str]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", "replace")


def test_a_huge_declared_body_is_refused_at_once(web: Web) -> None:
    start = time.monotonic()
    reply = _raw(
        web.url,
        "POST /api/auth/login HTTP/1.1\nHost: x\nContent-Type: application/json\n"
        f"Content-Length: {200 * 2**20}\n",
        b'{"name": "',
    )
    status, body = _status_and_body(reply)
    assert status == 413 and '"too_large"' in body
    assert b"x-request-id" in reply.lower()
    assert time.monotonic() - start < 3  # not after buffering 200 MB


def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    web: Web, secure_env: SecureEnv
) -> None:
    limit = secure_env.settings.api.max_body_bytes
    reply = _raw(
        web.url,
        "POST /api/auth/login HTTP/1.1\nHost: x\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\n",
        chunks=[b"[" + b"1," * 4095] + [b"1," * 4096] * (limit // 8192 + 2),
    )
    status, body = _status_and_body(reply)
    assert status == 413 and '"too_large"' in body


def test_bodies_are_bounded_before_authentication(web: Web) -> None:
    anon = httpx.post(
        f"{web.url}/api/lists/plates",
        content=b'{"plate": "' + b"A" * 100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    _error(anon, 413, "too_large")  # not 401: the body never reached the route
    small = httpx.post(f"{web.url}/api/lists/plates", json={"plate": "X"})
    _error(small, 401, "unauthenticated")


def test_upload_routes_take_files_up_to_their_own_limit(web: Web) -> None:
    r = web.user.post(
        "/api/search/faces",
        files={"photo": ("a.jpg", b"\xff\xd8" + b"0" * 2**20)},  # 1 MiB: over the JSON limit
        data={"reason": "case 42"},
    )
    assert r.status_code == 400 and "decodable" in r.json()["error"]["message"]
    reply = _raw(
        web.url,
        "POST /api/search/faces HTTP/1.1\nHost: x\n"
        "Content-Type: multipart/form-data; boundary=b\n"
        f"Content-Length: {11 * 2**20}\n",
    )
    assert _status_and_body(reply)[0] == 413


# --- 3. decompression bombs, 4. empty uploads -------------------------------------------------


def png_bomb(side: int = 10_000) -> bytes:
    """A grey PNG of side x side zeros: about 100 KB that decode to side^2 * 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg(img: np.ndarray, *flags: int) -> bytes:  # type: ignore[type-arg]
    ok, buf = cv2.imencode(".jpg", img, list(flags))
    assert ok
    return bytes(buf.tobytes())


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header claims width x height."""
    data = bytearray(_jpeg(np.zeros((16, 16, 3), np.uint8)))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


_PIC = face_image(5)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes(cv2.imencode(".png", _PIC)[1].tobytes()), ("png", 120, 120)),
        (_jpeg(_PIC), ("jpeg", 120, 120)),
        (_jpeg(_PIC, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), ("jpeg", 120, 120)),
        (jpeg_claiming(60_000, 60_000), ("jpeg", 60_000, 60_000)),
        (png_bomb(2_000), ("png", 2_000, 2_000)),
        (bytes(cv2.imencode(".png", _PIC)[1].tobytes())[:20], None),  # truncated header
        (jpeg_claiming(100, 0), None),  # height 0 (DNL): libjpeg refuses it too
        (b"\xff\xd8\xff\xda" + b"\x00" * 64, None),  # scan data before any frame header
        (bytes(cv2.imencode(".bmp", _PIC)[1].tobytes()), None),  # only JPEG and PNG are decoded
        (b"GIF89a" + b"\x00" * 64, None),
        (b"not an image", None),
    ],
)
def test_image_size_is_read_from_the_header(
    data: bytes, expected: tuple[str, int, int] | None
) -> None:
    assert dimensions(data) == expected


def test_a_png_bomb_is_refused_before_decoding(web: Web) -> None:
    bomb = png_bomb()
    assert len(bomb) < 1_000_000
    r = web.user.post(
        "/api/search/faces", files={"photo": ("a.png", bomb)}, data={"reason": "case 42"}
    )
    err = _error(r, 413, "image_too_large")
    assert "10000x10000" in err["message"] and "40.0 Mpx" in err["message"]
    r = web.user.post(
        f"/api/crossings/{uuid.uuid4()}/verify-document",
        files={"photo": ("a.jpg", jpeg_claiming(60_000, 60_000))},
        data={"reason": "document check"},
    )
    _error(r, 413, "image_too_large")
    r = httpx.put(
        f"{web.url}/api/health/lanes/web-lane/cameras/cam1/preview",
        headers={"Authorization": f"Bearer {web.lane_token}"},
        files={"frame": ("f.png", bomb)},
    )
    _error(r, 413, "image_too_large")


_DECODE = """
import resource, sys
from lanecap.api import images
from lanecap.api.blur import decode_image
from lanecap.api.errors import ApiError

def rss_mib():  # resident now (the peak may predate the decode: imports)
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() >> 20

data = sys.stdin.buffer.read()
if sys.argv[1] == "unlimited":
    images.set_max_pixels(10**9)
peak, now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10, rss_mib()
try:
    image = decode_image(data)  # held while measured
    outcome = "decoded" if image is not None else "none"
except ApiError as err:
    outcome = err.code
grown = max(rss_mib() - now, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10) - peak)
print(outcome, grown)
"""


def test_the_bomb_never_reaches_the_decoder_memory() -> None:
    """Peak memory of the decode path in a fresh process, with a positive control: without
    the header check the same 50 KB file (49 Mpx) takes hundreds of MB."""
    bomb = png_bomb(7_000)
    grown = {}
    for mode in ("unlimited", "default"):
        out = subprocess.run(
            [sys.executable, "-c", _DECODE, mode],
            input=bomb,
            capture_output=True,
            check=True,
            cwd=REPO,
            timeout=120,
        ).stdout.split()
        grown[mode] = (out[0].decode(), int(out[1]))
    assert grown["unlimited"][0] == "decoded" and grown["unlimited"][1] > 120  # MiB
    assert grown["default"] == ("image_too_large", grown["default"][1])
    assert grown["default"][1] < 20


def test_empty_uploads_are_a_clean_400(web: Web) -> None:
    empty = ("a.jpg", b"")
    calls = [
        web.user.post("/api/search/faces", files={"photo": empty}, data={"reason": "case 42"}),
        web.user.post(
            f"/api/crossings/{uuid.uuid4()}/verify-document",
            files={"photo": empty},
            data={"reason": "document check"},
        ),
        httpx.put(
            f"{web.url}/api/health/lanes/web-lane/cameras/cam1/preview",
            headers={"Authorization": f"Bearer {web.lane_token}"},
            files={"frame": empty},
        ),
    ]
    for r in calls:
        assert "empty" in _error(r, 400, "bad_request")["message"]


# --- 5. reasons must contain letters ----------------------------------------------------------

HOLLOW = [
    "\u200b\u200b\u200b",  # zero-width spaces
    "\u200b\u200c\u200d\u2060\ufeff",
    "a\u200bb",  # two letters, padded
    "...",
    "— — —",
    "123 456",
    "x",
    "\u3164\u3164\u3164",  # Hangul fillers: "letters" that draw nothing
    "\u202e\u202e\u202e\u202e",
    " \t\n ",
]


@pytest.mark.parametrize("reason", HOLLOW)
def test_a_reason_without_letters_is_refused(web: Web, reason: str) -> None:
    r = web.user.get("/api/search/crossings", params={"plate": "ZZZ999", "reason": reason})
    _error(r, 400, "reason_required")
    r = web.user.get(f"/api/crossings/{uuid.uuid4()}", params={"reason": reason})
    _error(r, 400, "reason_required")


@pytest.mark.parametrize("reason", HOLLOW)
def test_the_evidence_reader_refuses_them_too(secure_env: SecureEnv, reason: str) -> None:
    with pytest.raises(ReasonRequired):
        secure_env.reader().search_plate(OFFICER, plate="ZZZ999", reason=reason)


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("case 42", "case 42"),
        ("дело 42", "дело 42"),
        ("案件 第七", "案件 第七"),
        ("  case\u200b 7 ", "case 7"),
        ("case\x0042", "case 42"),
    ],
)
def test_real_reasons_pass_cleaned(web: Web, reason: str, kept: str) -> None:
    assert require_letters(reason) == kept
    r = web.user.get("/api/search/crossings", params={"plate": "ZZZ999", "reason": reason})
    assert r.status_code == 200, r.text


# --- 6. Secure cookies and HSTS wherever the browser speaks HTTPS -----------------------------


def _with_api(settings: Settings, **api: object) -> Settings:
    return settings.model_copy(update={"api": settings.api.model_copy(update=api)})


@pytest.mark.parametrize(
    ("how", "https"),
    [("plain", False), ("forwarded", True), ("proxy_setting", True), ("tls", True)],
)
def test_cookies_are_secure_and_hsts_is_sent_over_https(
    secure_env: SecureEnv, tmp_path: Path, how: str, https: bool
) -> None:
    settings = secure_env.settings
    if how == "proxy_setting":
        settings = _with_api(settings, behind_tls_proxy=True)
    cert = self_signed(str(tmp_path)) if how == "tls" else (None, None)
    svc = build_services(settings, secure_env.endpoints)
    account = make_account(secure_env.archive, svc.trail, role="officer", prefix="tls")
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 here, as `serve` does from
    # api.forwarded_allow_ips when api.behind_tls_proxy is set
    headers = {"X-Forwarded-Proto": "https"} if how == "forwarded" else {}
    try:
        app = create_app(settings, svc)
        with (
            ServerThread(app, certfile=cert[0], keyfile=cert[1]) as srv,
            httpx.Client(base_url=srv.url, headers=headers, verify=cert[0] or True) as c,
        ):
            r = c.post(
                "/api/auth/login",
                json={"name": account.name, "password": account.password, "totp": account.code()},
            )
            assert r.status_code == 200, r.text
            cookie = r.headers["set-cookie"].lower()
            assert ("; secure" in cookie) is https
            for resp in (r, c.get("/login")):
                hsts = resp.headers.get("strict-transport-security")
                assert (hsts == "max-age=31536000; includeSubDomains") is https, hsts
    finally:
        svc.close()


@pytest.mark.parametrize("bad", ["*", "proxy.example", "10.0.0.0/33"])
def test_only_real_proxy_addresses_are_trusted(bad: str) -> None:
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        settings_from_dict({"api": {"forwarded_allow_ips": [bad]}}, env={})
    ok = settings_from_dict({"api": {"forwarded_allow_ips": ["10.0.0.0/8", "::1"]}}, env={})
    assert ok.api.forwarded_allow_ips == ("10.0.0.0/8", "::1")
