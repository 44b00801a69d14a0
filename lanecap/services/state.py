"""Generated ports and credentials of the embedded services, kept in one 0600 file."""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ServiceState:
    pg_port: int
    pg_admin_password: str
    pg_app_password: str
    s3_port: int
    s3_base_port: int
    s3_access_key: str
    s3_secret_key: str
    # Lane nodes' own logins (PostgreSQL role and S3 identity per lane) derive from this seed,
    # so provisioning a lane twice gives the same credentials and nothing per lane is stored.
    lane_seed: str = ""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, also_free: tuple[int, ...] = ()) -> int:
    """A loopback port that is free, and free too at each offset in `also_free`."""
    for _ in range(200):
        port = secrets.randbelow(20000) + 20000
        if all(_port_free(port + off) for off in (0, *also_free)):
            return port
    raise RuntimeError("no free loopback port found")


def load_or_create(path: Path) -> ServiceState:
    """Read the state file, or generate ports and secrets and write it with mode 0600."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        found = ServiceState(**json.loads(path.read_text(encoding="utf-8")))
        if found.lane_seed:
            return found
        # A state file from before lane credentials: add the seed, keep everything else.
        found = replace(found, lane_seed=secrets.token_urlsafe(32))
        _write(path, found, exclusive=False)
        return found
    # SeaweedFS opens several ports: base + {0..4} and each + 10000 for gRPC.
    base = free_port(also_free=tuple(range(1, 6)) + tuple(10000 + i for i in range(6)))
    state = ServiceState(
        pg_port=free_port(),
        pg_admin_password=secrets.token_urlsafe(24),
        pg_app_password=secrets.token_urlsafe(24),
        s3_port=base,
        s3_base_port=base,
        s3_access_key="lc" + secrets.token_hex(9),
        s3_secret_key=secrets.token_urlsafe(30),
        lane_seed=secrets.token_urlsafe(32),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, state, exclusive=True)
    return state


def _write(path: Path, state: ServiceState, *, exclusive: bool) -> None:
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(state), f, indent=1)
        return
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(state), f, indent=1)
    tmp.replace(path)
