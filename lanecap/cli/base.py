"""The root command group and what every command shares: settings, error reporting."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from capture.errors import CaptureError
from lanecap.config import Settings, load_settings
from lanecap.errors import LanecapError
from storage.errors import StorageError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    """Turn our errors into a clear message and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LanecapError as err:
            click.echo(f"error: {err}", err=True)
            if err.hint:
                click.echo(f"hint: {err.hint}", err=True)
        except (StorageError, CaptureError) as err:
            click.echo(f"error: {err}", err=True)
            click.echo("hint: check that storage is reachable and the sources exist", err=True)
        sys.exit(1)

    return wrapper  # type: ignore[return-value]


class Context:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "-c",
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="LANECAP_CONFIG",
    help="Settings file (TOML). Default: built-in defaults plus environment.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="lanecap")
@click.pass_context
def main(ctx: click.Context, config: Path | None, verbose: int) -> None:
    """lanecap: border lane plate-and-face capture.

    Reads lane cameras, detects and reads plates, captures the driver's face,
    and archives crossings in PostgreSQL and S3. Without external services
    configured it runs embedded PostgreSQL and SeaweedFS under data_dir.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config)


@main.group("eval")
def eval_group() -> None:
    """Measure detectors, readers and face matching on labelled manifests."""


@main.group("train")
def train_group() -> None:
    """Train the models lanecap ships (offline, reproducible from a seed)."""


@main.group("calibrate")
def calibrate_group() -> None:
    """Calibrate decision thresholds on labelled data."""
