"""`lanecap services ...` and `lanecap db ...`: the embedded PostgreSQL and SeaweedFS, or
(`--cluster`) the one-machine cluster of `lanecap.services.cluster`."""

from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING

import click

from lanecap.cli.base import Context, pass_ctx, reports_errors
from lanecap.services.runtime import embedded_pair, storage_endpoints
from storage.db import migrate

if TYPE_CHECKING:
    from lanecap.services.cluster import EmbeddedCluster


@click.group()
def services() -> None:
    """Start, stop or inspect the embedded PostgreSQL and SeaweedFS."""


_CLUSTER = click.option(
    "--cluster",
    is_flag=True,
    help="The one-machine cluster under data_dir/cluster (SeaweedFS master, 3 volume servers"
    " with replication 001, filer, S3 gateway; PostgreSQL primary and streaming replica).",
)


def _cluster(ctx: Context) -> EmbeddedCluster:
    from lanecap.services.cluster import EmbeddedCluster

    return EmbeddedCluster(data_dir=ctx.settings.data_dir)


def _mask(url: str) -> str:
    """A URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


@services.command()
@_CLUSTER
@pass_ctx
@reports_errors
def start(ctx: Context, cluster: bool) -> None:
    """Start the embedded services (if not configured externally) and leave them running."""
    if cluster:
        _start_cluster(ctx)
        return
    with storage_endpoints(ctx.settings, keep_running=True) as ep:
        names = ", ".join(ep.embedded) or "none (all external)"
        click.echo(f"embedded services running: {names}")
        click.echo(f"S3 endpoint: {ep.s3_endpoint}; data under {ctx.settings.data_dir}")


def _start_cluster(ctx: Context) -> None:
    c = _cluster(ctx)
    took = c.start()
    applied = migrate(c.admin_url())
    env = c.settings_env()
    env_file = c.root / "site.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(f"{k}={shlex.quote(v)}\n" for k, v in env.items())
    click.echo(f"cluster running under {c.root} (started in {took:.1f} s)")
    click.echo(f"migrations applied: {len(applied)}")
    for key in ("LANECAP_DATABASE_URL", "LANECAP_DATABASE_READ_URL", "LANECAP_S3_ENDPOINT"):
        click.echo(f"  {key}={_mask(env[key])}")
    click.echo(f"all settings with their secrets (mode 0600): set -a; . {env_file}; set +a")


@services.command()
@_CLUSTER
@pass_ctx
@reports_errors
def stop(ctx: Context, cluster: bool) -> None:
    """Stop the embedded services."""
    if cluster:
        _cluster(ctx).stop()
        click.echo("cluster stopped")
        return
    pg, s3, _ = embedded_pair(ctx.settings)
    s3.stop()
    pg.stop()
    click.echo("embedded services stopped")


@services.command()
@_CLUSTER
@pass_ctx
@reports_errors
def status(ctx: Context, cluster: bool) -> None:
    """Say whether the embedded services are running."""
    if cluster:
        c = _cluster(ctx)
        for name, up in c.status().items():
            click.echo(
                f"{name + ':':12}{'running' if up else 'stopped'} (127.0.0.1:{c.port(name)})"
            )
        if c.is_running("pg-primary"):
            for r in c.replication():
                click.echo(
                    f"replication: {r['application_name']} {r['state']},"
                    f" {r['lag_bytes'] or 0} bytes behind"
                )
        if c.is_running("master"):
            copies = c.volume_copies()
            short = sum(1 for n in copies.values() if n < 2)
            click.echo(f"volumes: {len(copies)}, {short} with fewer than 2 copies")
        return
    pg, s3, _ = embedded_pair(ctx.settings)
    click.echo(f"postgres:  {'running' if pg.is_running() else 'stopped'} (127.0.0.1:{pg.port})")
    click.echo(f"seaweedfs: {'running' if s3.is_running() else 'stopped'} ({s3.endpoint})")


@click.group()
def db() -> None:
    """Database schema."""


@db.command("migrate")
@pass_ctx
@reports_errors
def migrate_cmd(ctx: Context) -> None:
    """Apply pending migrations."""
    with storage_endpoints(ctx.settings) as ep:
        applied = migrate(ep.admin_url)
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
