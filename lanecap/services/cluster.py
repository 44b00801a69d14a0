"""A production-shaped cluster on one machine, under `data_dir/cluster/`, for tests and trials.

SeaweedFS as separate processes: one `weed master` (`-defaultReplication=001`), three
`weed volume` servers in one data centre and rack (001 = one more copy on another server of
the same rack, so every write lands on two of the three), a `weed filer` and the `weed s3`
gateway. They share the closed posture of `lanecap.services.seaweed`: one security.toml
(mutual TLS on every HTTP and gRPC port but S3, JWT on volume and filer reads and writes),
umask 077, 0700 directories, AWS_*/WEED_* environment dropped; S3 answers only signed
requests of the owner and of lanes (`provision_lane`: the write-only lane identities of
`EmbeddedSeaweed`, in the same s3.json and lanes file, applied to the gateway by SIGHUP).
The filer's graceful stop waits 15 s on its own metadata subscription, so it gets 3 s.

PostgreSQL: a primary (`EmbeddedPostgres`, wal_level replica) and a hot-standby replica made
by `pg_basebackup -R` (a physical replication slot keeps the WAL it has not received yet)
streaming from it. Both on 127.0.0.1, password auth; the replication role's password lives in
a 0600 passfile, never on a command line. The slot keeps WAL for a stopped replica up to
`max_slot_wal_keep_size` (1 GB); beyond that the replica must be copied again (delete
`cluster/pg-replica/postgres` and start).

Every component can be killed and restarted alone (`kill`, `restart`) for fault tests. Ports
and generated secrets are kept in `cluster/cluster.json` (0600).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from lanecap.errors import ServiceError
from lanecap.services.postgres import (
    APP_USER,
    EmbeddedPostgres,
    _open_path_for,
    _run,
)
from lanecap.services.seaweed import EmbeddedSeaweed
from lanecap.services.state import free_port
from lanecap.services.weed import (
    DROPPED_ENV,
    command_line,
    ensure_security,
    pid_alive,
    port_open,
    private_dir,
    tighten,
    weed_binary,
    write_private,
)

log = logging.getLogger(__name__)

Component = Literal[
    "master", "volume1", "volume2", "volume3", "filer", "s3", "pg-primary", "pg-replica"
]
WEED_COMPONENTS: tuple[Component, ...] = ("master", "volume1", "volume2", "volume3", "filer", "s3")
PG_COMPONENTS: tuple[Component, ...] = ("pg-primary", "pg-replica")
COMPONENTS: tuple[Component, ...] = WEED_COMPONENTS + PG_COMPONENTS
REPLICATION = "001"
REPLICATION_USER = "lanecap_replicator"
SLOT = "lanecap_replica"
SLOT_WAL_KEEP = "1GB"
# Port of each weed component, as an offset from the base (gRPC: +10000).
_OFFSET: dict[Component, int] = {
    "s3": 0,
    "master": 1,
    "volume1": 2,
    "volume2": 3,
    "volume3": 4,
    "filer": 5,
}


@dataclass(frozen=True)
class ClusterState:
    weed_base: int
    pg_port: int
    replica_port: int
    pg_admin_password: str
    pg_app_password: str
    replication_password: str
    s3_access_key: str
    s3_secret_key: str


def _load_state(path: Path) -> ClusterState:
    if path.exists():
        path.chmod(0o600)
        return ClusterState(**json.loads(path.read_text(encoding="utf-8")))
    offsets = tuple(_OFFSET.values())
    base = free_port(also_free=tuple(o for o in offsets if o) + tuple(10000 + o for o in offsets))
    taken = {base + o for o in offsets} | {base + 10000 + o for o in offsets}
    pg_port = free_port()
    while pg_port in taken:
        pg_port = free_port()
    replica_port = free_port()
    while replica_port in taken | {pg_port}:
        replica_port = free_port()
    state = ClusterState(
        weed_base=base,
        pg_port=pg_port,
        replica_port=replica_port,
        pg_admin_password=secrets.token_urlsafe(24),
        pg_app_password=secrets.token_urlsafe(24),
        replication_password=secrets.token_urlsafe(24),
        s3_access_key="lc" + secrets.token_hex(9),
        s3_secret_key=secrets.token_urlsafe(30),
    )
    write_private(path, json.dumps(asdict(state), indent=1).encode())
    return state


class EmbeddedCluster:
    """Start, stop, inspect and break the one-machine cluster under `data_dir/cluster`."""

    def __init__(self, *, data_dir: Path) -> None:
        self.root = data_dir.resolve() / "cluster"
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)  # PostgreSQL's service user must traverse it, not list it
        self.state = _load_state(self.root / "cluster.json")
        self.weed_dir = self.root / "weed"
        self.conf_dir = self.root / "weed-security"
        self.run_dir = self.root / "run"
        self.gateway = _Gateway(self)
        self.s3_config = self.gateway.config_file
        for pg_dir in ("pg-primary", "pg-replica"):
            (self.root / pg_dir).mkdir(mode=0o711, exist_ok=True)
            (self.root / pg_dir).chmod(0o711)
        self.primary = EmbeddedPostgres(
            data_dir=self.root / "pg-primary",
            port=self.state.pg_port,
            admin_password=self.state.pg_admin_password,
        )
        self.replica = EmbeddedPostgres(
            data_dir=self.root / "pg-replica",
            port=self.state.replica_port,
            admin_password=self.state.pg_admin_password,
        )

    # -- addresses ----------------------------------------------------------------------------

    def port(self, component: Component) -> int:
        if component == "pg-primary":
            return self.state.pg_port
        if component == "pg-replica":
            return self.state.replica_port
        return self.state.weed_base + _OFFSET[component]

    @property
    def s3_endpoint(self) -> str:
        return f"127.0.0.1:{self.port('s3')}"

    def database_url(self) -> str:
        return self.primary.url(user=APP_USER, password=self.state.pg_app_password)

    def read_url(self) -> str:
        return self.replica.url(user=APP_USER, password=self.state.pg_app_password)

    def admin_url(self) -> str:
        return self.primary.admin_url()

    def settings_env(self) -> dict[str, str]:
        """What a site puts in its environment to use this cluster (secrets included)."""
        return {
            "LANECAP_DATABASE_URL": self.database_url(),
            "LANECAP_DATABASE_READ_URL": self.read_url(),
            "LANECAP_DATABASE_ADMIN_URL": self.admin_url(),
            "LANECAP_S3_ENDPOINT": self.s3_endpoint,
            "LANECAP_S3_SECURE": "false",
            "LANECAP_S3_ACCESS_KEY": self.state.s3_access_key,
            "LANECAP_S3_SECRET_KEY": self.state.s3_secret_key,
        }

    # -- files --------------------------------------------------------------------------------

    def _pid_file(self, component: Component) -> Path:
        return self.run_dir / f"{component}.pid"

    def _log_file(self, component: Component) -> Path:
        return self.run_dir / f"{component}.log"

    def _ensure_security(self) -> None:
        ensure_security(self.conf_dir)
        with self.gateway._locked():
            self.gateway._write_identities()
        tighten(self.conf_dir)

    def provision_lane(
        self, lane_id: str, access_key: str, secret_key: str, buckets: list[str]
    ) -> None:
        """The lane's write-only S3 identity on the gateway (`EmbeddedSeaweed.provision_lane`:
        PutObject under `<bucket>/<lane_id>/` only), applied by a reload."""
        self.gateway.provision_lane(lane_id, access_key, secret_key, buckets)

    # -- SeaweedFS ----------------------------------------------------------------------------

    def weed_command(self, component: Component) -> list[str]:
        p = self.port(component)
        master = f"127.0.0.1:{self.port('master')}"
        common = ["-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-port={p}", f"-port.grpc={p + 10000}"]
        head = [str(weed_binary()), f"-config_dir={self.conf_dir}"]
        if component == "master":
            return [
                *head,
                "master",
                *common,
                f"-mdir={self.weed_dir / 'master'}",
                f"-defaultReplication={REPLICATION}",
                "-volumeSizeLimitMB=64",
                "-telemetry=false",
                "-peers=none",  # one master: no raft election to wait for
                "-electionTimeout=2s",
            ]
        if component.startswith("volume"):
            return [
                *head,
                "volume",
                *common,
                f"-dir={self.weed_dir / component}",
                f"-master={master}",
                "-dataCenter=dc1",
                "-rack=rack1",
                "-max=100",
                "-preStopSeconds=0",
            ]
        if component == "filer":
            return [
                *head,
                "filer",
                *common,
                f"-master={master}",
                f"-defaultStoreDir={self.weed_dir / 'filer'}",
                f"-localSocket={self.run_dir / 'filer.sock'}",
                "-dataCenter=dc1",
                "-rack=rack1",
            ]
        if component == "s3":
            filer = self.port("filer")
            return [
                *head,
                "s3",
                *common,
                f"-filer=127.0.0.1:{filer}",
                f"-config={self.s3_config}",
                "-iam=false",
                "-port.iceberg=0",
                "-port.lance=0",
                f"-localSocket={self.run_dir / 's3.sock'}",
            ]
        raise ServiceError(f"{component} is not a SeaweedFS component", service="cluster")

    def _weed_pid(self, component: Component) -> int | None:
        try:
            pid = int(self._pid_file(component).read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        cmdline = command_line(pid)  # a stale pid file must not make us signal another process
        wanted = f"-port={self.port(component)}".encode()
        return pid if cmdline is None or wanted in cmdline else None

    def _weed_env(self) -> dict[str, str]:
        return {
            k: v
            for k, v in os.environ.items()
            if k not in DROPPED_ENV and not k.startswith("WEED_")
        }

    def _start_weed(self, component: Component, *, timeout: float) -> None:
        if self._weed_pid(component) is not None:
            return
        private_dir(self.weed_dir)
        private_dir(self.run_dir)
        workdir = self.weed_dir / component
        private_dir(workdir)
        tighten(workdir)
        log_file = self._log_file(component)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as out:
            proc = subprocess.Popen(
                self.weed_command(component),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=workdir,
                env=self._weed_env(),
                umask=0o077,
            )
        write_private(self._pid_file(component), str(proc.pid).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-600:]
                raise ServiceError(
                    f"weed {component} exited with code {proc.returncode}: {tail}",
                    service="cluster",
                    hint=f"see {log_file}",
                )
            if port_open(self.port(component)):
                return
            time.sleep(0.1)
        raise ServiceError(
            f"weed {component} did not listen within {timeout:.0f} s", service="cluster"
        )

    def _stop_weed(self, component: Component, *, sig: int = signal.SIGTERM) -> None:
        pid = self._weed_pid(component)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        # The filer's graceful gRPC stop waits 15 s on its own metadata subscription; its
        # store (leveldb, journaled) is written by then, so it gets 3 s before SIGKILL.
        deadline = time.monotonic() + (3 if component == "filer" else 15)
        while time.monotonic() < deadline and pid_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self._pid_file(component).unlink(missing_ok=True)

    def _https_json(self, component: Component, path: str) -> Any:
        """GET a weed HTTP endpoint with weed's own client certificate (mutual TLS)."""
        ctx = ssl.create_default_context(cafile=str(self.conf_dir / "ca.pem"))
        ctx.load_cert_chain(self.conf_dir / "weed.pem", self.conf_dir / "weed.key")
        url = f"https://127.0.0.1:{self.port(component)}{path}"
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return json.loads(resp.read())

    def volume_servers(self) -> list[str]:
        """The volume servers the master currently knows (`host:port`)."""
        topo = self._https_json("master", "/dir/status")["Topology"]
        return [
            n["Url"]
            for dc in topo.get("DataCenters") or []
            for rack in dc.get("Racks") or []
            for n in rack.get("DataNodes") or []
        ]

    def volume_copies(self) -> dict[tuple[str, int], int]:
        """(collection, volume id) -> how many volume servers hold a copy, from the master."""
        status = self._https_json("master", "/vol/status")["Volumes"]
        copies: dict[tuple[str, int], int] = {}
        for dc in (status.get("DataCenters") or {}).values():
            for rack in dc.values():
                for volumes in rack.values():
                    for v in volumes or []:
                        key = (str(v.get("Collection", "")), int(v["Id"]))
                        copies[key] = copies.get(key, 0) + 1
        return copies

    def _wait_leader(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if self._https_json("master", "/cluster/status").get("IsLeader"):
                    return
            time.sleep(0.1)
        raise ServiceError("the master did not become leader", service="cluster")

    def _wait_volume(self, component: Component, *, timeout: float) -> None:
        """Until the master lists this volume server (it heartbeats every few seconds)."""
        me = f"127.0.0.1:{self.port(component)}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if me in self.volume_servers():
                    return
            time.sleep(0.1)
        raise ServiceError(f"the master did not see {component}", service="cluster")

    def s3_client(self) -> Any:
        from minio import Minio

        return Minio(
            self.s3_endpoint, self.state.s3_access_key, self.state.s3_secret_key, secure=False
        )

    def _wait_s3(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = self.s3_client()
        while time.monotonic() < deadline:
            try:
                client.list_buckets()
                return
            except Exception:  # S3Error or urllib3 errors while the gateway comes up
                time.sleep(0.2)
        raise ServiceError(f"S3 did not answer within {timeout:.0f} s", service="cluster")

    # -- PostgreSQL ---------------------------------------------------------------------------

    def _start_primary(self) -> None:
        self.primary.start()
        self.primary.ensure_database(app_password=self.state.pg_app_password)
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            level = conn.execute("SHOW wal_level").fetchone()
            if level is None or level[0] not in ("replica", "logical"):
                raise ServiceError(f"primary has wal_level={level}", service="cluster")
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_USER,)
            ).fetchone()
            keep = conn.execute("SHOW max_slot_wal_keep_size").fetchone()
            if keep is None or keep[0] != SLOT_WAL_KEEP:
                conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{SLOT_WAL_KEEP}'")
                conn.execute("SELECT pg_reload_conf()")
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} REPLICATION LOGIN PASSWORD {}").format(
                    sql.Identifier(REPLICATION_USER), sql.Literal(self.state.replication_password)
                )
            )

    def _passfile(self) -> Path:
        path = self.replica.pgdata.parent / "replication.pgpass"
        line = f"127.0.0.1:{self.state.pg_port}:*:{REPLICATION_USER}:"
        write_private(path, (line + self.state.replication_password + "\n").encode())
        if self.replica.user:
            pw = pwd.getpwnam(self.replica.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def _make_replica(self) -> None:
        """Copy the primary with pg_basebackup -R (standby.signal, primary_conninfo, slot)."""
        import psycopg

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            if conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)
            ).fetchone():
                conn.execute("SELECT pg_drop_replication_slot(%s)", (SLOT,))
        parent = self.replica.pgdata.parent
        parent.mkdir(mode=0o711, parents=True, exist_ok=True)
        pgdata = self.replica.pgdata
        if pgdata.exists():
            shutil.rmtree(pgdata)
        pgdata.mkdir(mode=0o700)
        if self.replica.user:
            _open_path_for(self.replica.user, pgdata)
        conninfo = (
            f"host=127.0.0.1 port={self.state.pg_port} user={REPLICATION_USER}"
            f" passfile={self._passfile()} application_name={SLOT}"
        )
        r = _run(
            [
                str(self.replica.bin / "pg_basebackup"),
                "-d",
                conninfo,
                "-D",
                str(pgdata),
                "-R",
                "-X",
                "stream",
                "-C",
                "-S",
                SLOT,
                "-c",
                "fast",
                "-w",
            ],
            user=self.replica.user,
            timeout=300,
        )
        if r.returncode != 0:
            raise ServiceError(
                f"pg_basebackup failed: {r.stderr.strip()[-500:]}", service="cluster"
            )
        log.info("replica copied from the primary with pg_basebackup")

    def _start_replica(self) -> None:
        if not (self.replica.pgdata / "standby.signal").exists():
            self._make_replica()
        self.replica.start()

    def replication(self) -> list[dict[str, Any]]:
        """pg_stat_replication rows on the primary (state, replay lag in bytes)."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=3) as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(
                "SELECT application_name, state,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS lag_bytes"
                " FROM pg_stat_replication"
            ).fetchall()

    def _wait_streaming(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if any(r["state"] == "streaming" for r in self.replication()):
                    return
            time.sleep(0.2)
        raise ServiceError("the replica is not streaming", service="cluster")

    # -- the whole ----------------------------------------------------------------------------

    def start(self, *, timeout: float = 120) -> float:
        """Start what is not running and wait until S3 answers and the replica streams;
        returns the seconds it took."""
        t0 = time.monotonic()
        self._ensure_security()
        for c in WEED_COMPONENTS:
            self.start_component(c, timeout=timeout)
        self.start_component("pg-primary", timeout=timeout)
        self.start_component("pg-replica", timeout=timeout)
        self._wait_streaming(timeout=timeout)
        took = time.monotonic() - t0
        log.info("cluster started in %.1f s", took)
        return took

    def start_component(self, component: Component, *, timeout: float = 60) -> None:
        if component == "pg-primary":
            self._start_primary()
        elif component == "pg-replica":
            self._start_replica()
        else:
            if not (self.conf_dir / "security.toml").exists():
                self._ensure_security()
            self._start_weed(component, timeout=timeout)
            if component == "master":
                self._wait_leader(timeout=timeout)
            if component.startswith("volume"):
                self._wait_volume(component, timeout=timeout)
            if component == "s3":
                self._wait_s3(timeout=timeout)

    def stop(self) -> None:
        for c in reversed(COMPONENTS):
            self.stop_component(c)

    def stop_component(self, component: Component) -> None:
        if component == "pg-primary":
            self.primary.stop()
        elif component == "pg-replica":
            self.replica.stop()
        else:
            self._stop_weed(component)

    def kill(self, component: Component) -> None:
        """Kill one component without a clean shutdown: SIGKILL for weed, an immediate
        (crash) stop for PostgreSQL."""
        if component in PG_COMPONENTS:
            pg = self.primary if component == "pg-primary" else self.replica
            if pg.is_running():
                _run(
                    [str(pg.bin / "pg_ctl"), "-D", str(pg.pgdata), "-w", "-m", "immediate", "stop"],
                    user=pg.user,
                )
        else:
            self._stop_weed(component, sig=signal.SIGKILL)
        log.info("cluster component %s killed", component)

    def restart(self, component: Component, *, timeout: float = 60) -> None:
        self.stop_component(component)
        self.start_component(component, timeout=timeout)

    def is_running(self, component: Component) -> bool:
        if component == "pg-primary":
            return self.primary.is_running()
        if component == "pg-replica":
            return self.replica.is_running()
        return self._weed_pid(component) is not None and port_open(self.port(component))

    def status(self) -> dict[Component, bool]:
        return {c: self.is_running(c) for c in COMPONENTS}


class _Gateway(EmbeddedSeaweed):
    """The S3 identities (owner and lanes, s3.json and the lanes file in the cluster's weed
    config directory) of `EmbeddedSeaweed`, applied to the cluster's `weed s3` process."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        super().__init__(
            data_dir=cluster.conf_dir,
            base_port=cluster.port("s3"),
            access_key=cluster.state.s3_access_key,
            secret_key=cluster.state.s3_secret_key,
        )
        self.cluster = cluster

    def _pid(self) -> int | None:
        return self.cluster._weed_pid("s3")

    def _closed(self, pid: int) -> bool:
        cmdline = command_line(pid)
        wanted = (f"-config_dir={self.cluster.conf_dir}".encode(), b"-iam=false")
        return cmdline is None or all(w in cmdline for w in wanted)

    def is_running(self) -> bool:
        return self.cluster.is_running("s3")

    def start(self, *, timeout: float = 60) -> bool:
        running = self.is_running()
        self.cluster.start_component("s3", timeout=timeout)
        return not running

    def _launch(self, *, timeout: float) -> None:
        self.cluster.start_component("s3", timeout=timeout)

    def stop(self, *, timeout: float = 15) -> None:
        self.cluster.stop_component("s3")
