"""Resolve where PostgreSQL and S3 are: external from config/env, else embedded and started here."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from lanecap.config import Settings
from lanecap.errors import ServiceError
from lanecap.services.postgres import APP_USER, EmbeddedPostgres
from lanecap.services.seaweed import EmbeddedSeaweed
from lanecap.services.state import load_or_create

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    """Where storage lives. `admin_url` owns the schema (migrations); `database_url` is the app's."""

    database_url: str = field(repr=False)
    admin_url: str = field(repr=False)
    s3_endpoint: str
    s3_access_key: str = field(repr=False)
    s3_secret_key: str = field(repr=False)
    s3_secure: bool
    s3_region: str | None
    embedded: tuple[str, ...]


def _secret(name: str) -> str | None:
    """A secret from env NAME, or from the file named by env NAME_FILE."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(name + "_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip()
        except OSError as err:
            raise ServiceError(
                f"cannot read {name}_FILE ({err.strerror})", service="config"
            ) from None
    return None


def embedded_pair(settings: Settings) -> tuple[EmbeddedPostgres, EmbeddedSeaweed, str]:
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    state = load_or_create(data / "services.json")
    pg = EmbeddedPostgres(data_dir=data, port=state.pg_port, admin_password=state.pg_admin_password)
    s3 = EmbeddedSeaweed(
        data_dir=data,
        base_port=state.s3_base_port,
        access_key=state.s3_access_key,
        secret_key=state.s3_secret_key,
    )
    return pg, s3, state.pg_app_password


@contextlib.contextmanager
def storage_endpoints(settings: Settings, *, keep_running: bool = False) -> Iterator[Endpoints]:
    """Yield endpoints; embedded services started here are stopped on exit unless keep_running."""
    started: list[EmbeddedPostgres | EmbeddedSeaweed] = []
    embedded: list[str] = []
    try:
        pg_url = settings.database.url
        admin_url = _secret("LANECAP_DATABASE_ADMIN_URL") or pg_url
        s3_endpoint = settings.object_store.endpoint
        need_embedded = pg_url is None or s3_endpoint is None
        if need_embedded:
            pg, s3, app_password = embedded_pair(settings)
        if pg_url is None or admin_url is None:
            if pg.start():
                started.append(pg)
            pg.ensure_database(app_password=app_password)
            pg_url = pg.url(user=APP_USER, password=app_password)
            admin_url = pg.admin_url()
            embedded.append("postgres")
        if s3_endpoint is None:
            if s3.start():
                started.append(s3)
            s3_endpoint, access, secret, secure = s3.endpoint, s3.access_key, s3.secret_key, False
            embedded.append("seaweedfs")
        else:
            access = _secret("LANECAP_S3_ACCESS_KEY") or ""
            secret = _secret("LANECAP_S3_SECRET_KEY") or ""
            secure = settings.object_store.secure
            if not access or not secret:
                raise ServiceError(
                    "an external S3 endpoint is set but no credentials",
                    service="s3",
                    hint="set LANECAP_S3_ACCESS_KEY and LANECAP_S3_SECRET_KEY (or their _FILE forms)",
                )
        yield Endpoints(
            database_url=pg_url,
            admin_url=admin_url,
            s3_endpoint=s3_endpoint,
            s3_access_key=access,
            s3_secret_key=secret,
            s3_secure=secure,
            s3_region=settings.object_store.region,
            embedded=tuple(embedded),
        )
    finally:
        if not keep_running:
            for svc in reversed(started):
                svc.stop()
