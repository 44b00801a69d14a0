"""Embedded PostgreSQL and SeaweedFS: credentials kept private, reuse, clean stop."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from lanecap.cli import main
from lanecap.config import settings_from_dict
from lanecap.services.runtime import embedded_pair, storage_endpoints


def test_services_start_reuse_and_stop(tmp_path: Path) -> None:
    data = tmp_path / "svc"
    settings = settings_from_dict({"data_dir": str(data)}, env={})
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'data_dir = "{data}"\n')
    runner = CliRunner()
    try:
        started = runner.invoke(main, ["-c", str(cfg), "services", "start"])
        assert started.exit_code == 0, started.output
        assert "postgres, seaweedfs" in started.output
        state = data / "services.json"
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "s3.json").stat().st_mode) == 0o600

        pg, s3, _ = embedded_pair(settings)
        pid_before = (pg.pgdata / "postmaster.pid").read_text().split()[0]
        with storage_endpoints(settings) as ep:  # reuses, and leaves them running
            with psycopg.connect(ep.database_url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            bad = ep.database_url.replace(
                ":" + ep.database_url.split(":")[2].split("@")[0] + "@", ":wrong@"
            )
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(bad)
        assert pg.is_running() and s3.is_running()
        assert (pg.pgdata / "postmaster.pid").read_text().split()[0] == pid_before

        status = runner.invoke(main, ["-c", str(cfg), "services", "status"])
        assert "postgres:  running" in status.output and "seaweedfs: running" in status.output
    finally:
        stopped = runner.invoke(main, ["-c", str(cfg), "services", "stop"])
    assert stopped.exit_code == 0, stopped.output
    assert not pg.is_running() and not s3.is_running()


def test_storage_context_stops_what_it_started(tmp_path: Path) -> None:
    settings = settings_from_dict({"data_dir": str(tmp_path / "svc2")}, env={})
    with storage_endpoints(settings) as ep:
        assert ep.embedded == ("postgres", "seaweedfs")
        pg, s3, _ = embedded_pair(settings)
        assert pg.is_running() and s3.is_running()
    assert not pg.is_running() and not s3.is_running()


def test_external_s3_without_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lanecap.errors import ServiceError

    monkeypatch.delenv("LANECAP_S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("LANECAP_S3_SECRET_KEY", raising=False)
    settings = settings_from_dict(
        {
            "database": {"url": "postgresql://x@127.0.0.1:9/x"},
            "object_store": {"endpoint": "127.0.0.1:9"},
        },
        env={},
    )
    with pytest.raises(ServiceError, match="no credentials") as info, storage_endpoints(settings):
        pass
    assert "LANECAP_S3_ACCESS_KEY" in info.value.hint
