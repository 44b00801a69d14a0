"""Helpers for tests, benches and demos of the API: a server thread, users, synthetic crossings.

Not used by the service itself (httpx, a dev dependency, is only needed by `login`).
The fake face encoder implements our own `recognition.types.FaceEncoder` interface (it
reads a code painted into the image).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyotp
import uvicorn

from lanecap.archive import Archive
from lanecap.pipeline import Crossing, FaceSighting, PlateSighting
from lanecap.preview import LiveRead
from lanecap.security.roles import Role
from lanecap.security.users import add_user
from recognition.plates.vote import Vote
from recognition.types import Box, FaceObservation, Image, PlateDetection, PlateRead

if TYPE_CHECKING:
    import httpx

PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn on 127.0.0.1 in a thread (for SSE and browser tests)."""

    def __init__(
        self,
        app: Any,
        *,
        port: int | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"{'https' if certfile else 'http'}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    password: str
    totp_secret: str

    def code(self) -> str:
        """A TOTP code not used before. Codes are good once and one step of drift is
        accepted either way, so the code of the current step survives a step boundary before
        it is checked; a second login in the same step uses the next step's code."""
        totp = pyotp.TOTP(self.totp_secret)
        now = int(time.time() // totp.interval)
        step = max(now, _USED.get(self.name, 0) + 1)
        if step > now + 1:
            time.sleep((step - 1) * totp.interval - time.time() + 0.05)
        _USED[self.name] = step
        return totp.at(step * totp.interval)


_USED: dict[str, int] = {}


def make_account(archive: Archive, trail: Any, *, role: Role, prefix: str = "u") -> Account:
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    created = add_user(
        archive.pool, trail, by="system:test", name=name, role=role, password=PASSWORD
    )
    return Account(name=name, role=role, password=PASSWORD, totp_secret=created.totp_secret)


def login(client: httpx.Client, account: Account) -> dict[str, Any]:
    """Sign in; the client keeps the cookie and sends the CSRF header from then on."""
    r = client.post(
        "/api/auth/login",
        json={"name": account.name, "password": account.password, "totp": account.code()},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    client.headers["X-CSRF-Token"] = body["csrf"]
    return body


def plate_image(text: str, *, w: int = 200, h: int = 60) -> Image:
    import cv2

    img = np.full((h, w, 3), 235, dtype=np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), (30, 30, 30), 2)
    cv2.putText(img, text, (10, h - 18), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3)
    return img


def face_image(seed: int, *, size: int = 120) -> Image:
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.integers(60, 200, 3), dtype=np.uint8)
    cv2.ellipse(
        img, (size // 2, size // 2), (size // 3, size // 2 - 8), 0, 0, 360, (150, 180, 220), -1
    )
    cv2.circle(img, (size // 3, size // 2 - 10), 6, (40, 40, 40), -1)
    cv2.circle(img, (2 * size // 3, size // 2 - 10), 6, (40, 40, 40), -1)
    img[0, 0] = (seed % 256, (seed // 256) % 256, 7)  # the fake encoder's code
    return img


def embedding_for(seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=128).astype(np.float32)
    return np.asarray(v / np.linalg.norm(v) * 0.6, dtype=np.float32)


class CodeFaceEncoder:
    """Fake `FaceEncoder`: one face per image, its encoding from the code in pixel (0, 0)."""

    def faces(self, image: Image) -> list[FaceObservation]:
        b, g, r = (int(v) for v in image[0, 0])
        if r != 7:
            return []
        seed = b + 256 * g
        h, w = image.shape[:2]
        return [FaceObservation(Box(0, 0, float(w), float(h)), embedding_for(seed), 0.9)]


def crossing(
    lane_id: str,
    plate: str | None,
    *,
    confidence: float = 0.93,
    face_seed: int | None = None,
    at: float | None = None,
    reads: tuple[str, ...] | None = None,
) -> Crossing:
    """A synthetic crossing as the pipeline would produce it (crops included)."""
    t = time.time() if at is None else at
    texts = reads if reads is not None else ((plate,) * 3 if plate else ())
    sightings = tuple(
        PlateSighting(
            camera_id=f"{lane_id}-front",
            role="front_plate",
            timestamp=t + 0.2 * i,
            detection=PlateDetection(Box(100, 300, 300, 360), 0.9),
            read=PlateRead(txt, confidence, (confidence,) * len(txt)) if txt else None,
            crop=plate_image(txt or "?"),
        )
        for i, txt in enumerate(texts)
    )
    driver = None if face_seed is None else driver_sighting(lane_id, face_seed, at=t + 0.3)
    return Crossing(
        id=uuid.uuid4(),
        lane_id=lane_id,
        started_at=t,
        ended_at=t + 1.0,
        plate=Vote(plate, confidence, (confidence,) * len(plate), len(texts)) if plate else None,
        plate_flags=() if plate else ("no_plate_read",),
        plates=sightings,
        best_plate=sightings[0] if sightings else None,
        driver=driver,
        face_status="captured" if driver else "no_face_found",
        n_frames=max(1, len(sightings)),
    )


def driver_sighting(lane_id: str, seed: int, *, at: float) -> FaceSighting:
    """A usable driver face (the fake encoder's face for `seed`) on the lane's driver camera."""
    return FaceSighting(
        camera_id=f"{lane_id}-driver",
        timestamp=at,
        face=FaceObservation(Box(10, 10, 130, 150), embedding_for(seed), 0.85),
        crop=face_image(seed),
    )


def live_read(
    lane_id: str,
    plate: str,
    *,
    at: float | None = None,
    n_reads: int = 2,
    face_seed: int | None = None,
) -> LiveRead:
    """A plate track's vote as the node announces it while the vehicle is in the lane."""
    t = time.time() if at is None else at
    face = None if face_seed is None else driver_sighting(lane_id, face_seed, at=t + 0.1)
    return LiveRead(
        lane_id=lane_id,
        camera_id=f"{lane_id}-front",
        role="front_plate",
        track_id=1,
        first_seen=t,
        seen_at=t + 0.2 * (n_reads - 1),
        vote=Vote(plate, 0.9, (0.9,) * len(plate), n_reads),
        crop=plate_image(plate),
        face=face,
    )


def self_signed(directory: str) -> tuple[str, str]:
    """A throw-away certificate for 127.0.0.1: (certfile, keyfile) paths."""
    import datetime as dt
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    keyfile.chmod(0o600)
    return str(certfile), str(keyfile)
