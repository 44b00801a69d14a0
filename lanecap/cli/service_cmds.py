"""`lanecap services ...` and `lanecap db ...`: the embedded PostgreSQL and SeaweedFS."""

from __future__ import annotations

import click

from lanecap.cli.base import Context, pass_ctx, reports_errors
from lanecap.services.runtime import embedded_pair, storage_endpoints
from storage.db import migrate


@click.group()
def services() -> None:
    """Start, stop or inspect the embedded PostgreSQL and SeaweedFS."""


@services.command()
@pass_ctx
@reports_errors
def start(ctx: Context) -> None:
    """Start the embedded services (if not configured externally) and leave them running."""
    with storage_endpoints(ctx.settings, keep_running=True) as ep:
        names = ", ".join(ep.embedded) or "none (all external)"
        click.echo(f"embedded services running: {names}")
        click.echo(f"S3 endpoint: {ep.s3_endpoint}; data under {ctx.settings.data_dir}")


@services.command()
@pass_ctx
@reports_errors
def stop(ctx: Context) -> None:
    """Stop the embedded services."""
    pg, s3, _ = embedded_pair(ctx.settings)
    s3.stop()
    pg.stop()
    click.echo("embedded services stopped")


@services.command()
@pass_ctx
@reports_errors
def status(ctx: Context) -> None:
    """Say whether the embedded services are running."""
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
