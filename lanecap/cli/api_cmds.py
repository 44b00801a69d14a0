"""`lanecap serve`: the officer API and web console (uvicorn), optionally over TLS."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from lanecap.cli.base import Context, pass_ctx, reports_errors

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8443, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TLS certificate chain (PEM). With --keyfile: serve HTTPS and mark cookies Secure.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TLS private key (PEM).",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address (never in production).",
)
@click.option("--session-hours", default=8.0, type=click.FloatRange(0.1, 24), help="Session life.")
@click.option("--face-search/--no-face-search", default=True, help="Load the face encoder.")
@pass_ctx
@reports_errors
def serve(
    ctx: Context,
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    insecure_http: bool,
    session_hours: float,
    face_search: bool,
) -> None:
    """Serve the officer API (OpenAPI at /api/openapi.json) and the web console.

    Needs the officer service's keys (agency private key, search key, audit signing key)
    in the keys directory to open sealed crossings. Storage as for every command: external
    from settings/environment, else the embedded services.
    """
    import signal

    import uvicorn

    from lanecap.api import create_app
    from lanecap.api.services import build_services
    from lanecap.errors import LanecapError
    from lanecap.services.runtime import storage_endpoints

    tls = certfile is not None and keyfile is not None
    if (certfile is None) != (keyfile is None):
        raise LanecapError("--certfile and --keyfile go together")
    if not tls and host not in ("127.0.0.1", "::1", "localhost") and not insecure_http:
        raise LanecapError(
            f"refusing plain HTTP on {host}",
            hint="give --certfile and --keyfile, or listen on 127.0.0.1 behind a TLS proxy",
        )
    settings = ctx.settings
    proxied = settings.api.behind_tls_proxy  # Secure cookies, HSTS, trusted X-Forwarded-*
    with storage_endpoints(settings) as endpoints:
        services = build_services(
            settings,
            endpoints,
            secure_cookies=tls or proxied,
            session_ttl_s=int(session_hours * 3600),
            load_face_encoder=face_search,
        )
        # uvicorn re-raises SIGTERM after its graceful shutdown; exit through the context
        # managers instead, so embedded services started here are stopped too.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            app = create_app(settings, services)
            click.echo(f"serving on {'https' if tls else 'http'}://{host}:{port}/", err=True)
            uvicorn.run(
                app,
                host=host,
                port=port,
                ssl_certfile=str(certfile) if certfile else None,
                ssl_keyfile=str(keyfile) if keyfile else None,
                log_level="warning",
                proxy_headers=proxied,
                forwarded_allow_ips=list(settings.api.forwarded_allow_ips) if proxied else None,
                server_header=False,
                timeout_graceful_shutdown=3,
            )
        finally:
            services.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)
