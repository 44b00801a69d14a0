"""Resolve where PostgreSQL and S3 are: external from config/env, else embedded and started here."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lanecap.config import Settings
from lanecap.errors import ServiceError
from lanecap.services.lanes import LaneCredentials, derive, lane_role
from lanecap.services.postgres import APP_USER, EmbeddedPostgres
from lanecap.services.seaweed import EmbeddedSeaweed
from lanecap.services.state import load_or_create

if TYPE_CHECKING:
    from storage.objects import ObjectStore

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


def object_store(
    settings: Settings,
    ep: Endpoints,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> ObjectStore:
    """The object store at these endpoints, with their keys or the ones given (a lane's)."""
    from storage.objects import ObjectStore

    return ObjectStore(
        endpoint=ep.s3_endpoint,
        access_key=ep.s3_access_key if access_key is None else access_key,
        secret_key=ep.s3_secret_key if secret_key is None else secret_key,
        secure=ep.s3_secure,
        region=ep.s3_region,
        bucket_prefix=settings.object_store.bucket_prefix,
    )


def lane_credentials(settings: Settings, ep: Endpoints, lane_id: str) -> LaneCredentials:
    """The lane node's own logins. An embedded service: provision this lane's PostgreSQL
    role or write-only S3 identity (idempotent) with the owner's credentials this process
    holds. An external service: what is configured is the lane's own login (an operator
    provisioned it with `lanecap keys export-lane DIR --lane ID`); the node needs no more."""
    database_url, access, secret = ep.database_url, ep.s3_access_key, ep.s3_secret_key
    if "postgres" in ep.embedded:
        database_url = provision_database_login(settings, ep, lane_id)
    if "seaweedfs" in ep.embedded:
        access, secret = provision_s3_identity(settings, ep, lane_id)
    return LaneCredentials(
        lane_id=lane_id,
        database_url=database_url,
        s3_endpoint=ep.s3_endpoint,
        s3_access_key=access,
        s3_secret_key=secret,
        s3_secure=ep.s3_secure,
        s3_region=ep.s3_region,
    )


def provision_database_login(settings: Settings, ep: Endpoints, lane_id: str) -> str:
    """Create or update a lane's PostgreSQL login with the schema owner's URL; returns the
    lane's database URL. The embedded server's password derives from the lane seed (the same
    each time); an external database gets a fresh random one each time."""
    from psycopg.conninfo import make_conninfo

    from storage.db import migrate
    from storage.roles import provision_lane_login

    if "postgres" in ep.embedded:
        seed = load_or_create(settings.data_dir.resolve() / "services.json").lane_seed
        password = derive(seed, "pg", lane_id)
    else:
        password = secrets.token_hex(24)
    role = lane_role(lane_id)
    migrate(ep.admin_url)
    provision_lane_login(ep.admin_url, lane_id=lane_id, role=role, password=password)
    return make_conninfo(ep.database_url, user=role, password=password)


def provision_s3_identity(settings: Settings, ep: Endpoints, lane_id: str) -> tuple[str, str]:
    """The embedded SeaweedFS's write-only identity for a lane (PutObject under the lane's
    prefix only); keys derive from the lane seed. Creates the buckets first."""
    store = object_store(settings, ep)
    store.ensure_buckets(object_lock=True)
    seed = load_or_create(settings.data_dir.resolve() / "services.json").lane_seed
    access = "ln" + derive(seed, "s3-access", lane_id, length=18)
    secret = derive(seed, "s3-secret", lane_id, length=40)
    embedded_pair(settings)[1].provision_lane(lane_id, access, secret, store.bucket_names())
    return access, secret
