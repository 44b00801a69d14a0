"""The root command group and what every command shares: settings, error reporting, and
who reads traveller data.

A command that reads traveller data (decrypted plates, faces, crops, searches, volume
flags) acts as a named lanecap user, never as the OS account that runs it: `--as NAME` (or
LANECAP_USER) names a user of `lanecap users`, who signs in like on the web console
(password prompted, never an option; TOTP code from `--totp` or prompted; the same lockout
and one-use codes). Its role must grant the read. Every entry such a command writes (the
login, each read, refusals, flags) carries `channel: cli` and the OS account in its
detail; the reads are the API's actions (`crossing.view`, `face.verify`, ...) and count
against the same per-user budget (`lanecap.security.ratelimit`).
"""

from __future__ import annotations

import functools
import getpass
import logging
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from psycopg_pool import ConnectionPool

from capture.errors import CaptureError
from lanecap.config import Settings, load_settings
from lanecap.errors import LanecapError
from lanecap.security.errors import Forbidden
from lanecap.security.roles import Permission, Principal, can
from lanecap.security.trail import AuditTrail
from storage.errors import StorageError

if TYPE_CHECKING:
    from lanecap.archive import Archive
    from lanecap.evidence import EvidenceReader

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


# Named users for reads of traveller data ---------------------------------------------------

MAX_LIST = 100
"""The most rows a CLI list opens at once (each decrypted row is one read)."""


@dataclass(frozen=True)
class CliLogin:
    """Who the command acts as (`--as`) and the TOTP code given on the command line."""

    name: str | None
    totp: str | None = field(default=None, repr=False)


def reader_login(fn: F) -> F:
    """Add `--as NAME` (env LANECAP_USER) and `--totp CODE`; the command gets `login`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, as_user: str | None, totp: str | None, **kwargs: Any) -> Any:
        return fn(*args, login=CliLogin(as_user, totp), **kwargs)

    wrapper = click.option(
        "--totp",
        default=None,
        metavar="CODE",
        help="The user's current TOTP code (prompted when not given).",
    )(wrapper)
    wrapper = click.option(
        "--as",
        "as_user",
        envvar="LANECAP_USER",
        default=None,
        metavar="NAME",
        help="The lanecap user reading (signs in with password + TOTP); env LANECAP_USER.",
    )(wrapper)
    return wrapper  # type: ignore[return-value]


def cli_reason(reason: str, *, param_hint: str = "--reason") -> str:
    """A reason by the API's rule (`lanecap.security.reasons.valid_reason`), as a usage error."""
    from lanecap.security.errors import ReasonRequired
    from lanecap.security.reasons import valid_reason

    try:
        return valid_reason(reason, action="this command")
    except ReasonRequired as err:
        raise click.BadParameter(
            f"{err} ({err.hint})" if err.hint else str(err), param_hint=param_hint
        ) from None


def checked_reason(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback of a `--reason` option: `cli_reason`, before anything is done."""
    return None if value is None else cli_reason(value)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class ChannelTrail(AuditTrail):
    """The audit trail of a CLI command: every entry says `channel` and the OS account."""

    channel: str = "cli"
    os_account: str = ""

    def record(
        self,
        principal: Principal | str,
        action: str,
        *,
        target: str = "",
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        tagged = {**(detail or {}), "channel": self.channel}
        if self.os_account:
            tagged["os_user"] = self.os_account
        return super().record(principal, action, target=target, reason=reason, detail=tagged)


def cli_trail(settings: Settings, pool: ConnectionPool) -> ChannelTrail:
    from lanecap.evidence import audit_trail

    base = audit_trail(settings, pool)
    return ChannelTrail(
        pool=pool,
        signing_key=base.signing_key,
        checkpoint_every=base.checkpoint_every,
        os_account=os_user(),
    )


def cli_login(
    pool: ConnectionPool, trail: AuditTrail, login: CliLogin, *, permission: Permission
) -> Principal:
    """The named user, signed in (password prompted, TOTP from --totp or prompted), whose
    role grants `permission`; UsageError without a name, AuthenticationFailed or Forbidden
    (both audited) otherwise."""
    from lanecap.security.users import authenticate

    if not login.name:
        raise click.UsageError(
            "reading traveller data needs a named lanecap user: --as NAME (or LANECAP_USER);"
            " the OS account is not one (`lanecap users add NAME --role officer`)"
        )
    password = click.prompt(f"password for {login.name}", hide_input=True, err=True)
    code = login.totp or click.prompt("TOTP code", err=True)
    who = authenticate(pool, trail, name=login.name, password=password, totp_code=code.strip())
    if not can(who, permission):
        trail.record(
            who,
            "access.denied",
            target="cli",
            detail={"permission": permission.value, "role": who.role},
        )
        raise Forbidden(actor=who.actor, permission=permission.value)
    return who


def cli_reader(
    settings: Settings, archive: Archive, login: CliLogin, *, permission: Permission
) -> tuple[EvidenceReader, Principal]:
    """The evidence reader with the CLI's trail (and budget), and the signed-in user."""
    from lanecap.evidence import evidence_reader

    reader = evidence_reader(settings, archive.pool, archive.objects)
    trail = cli_trail(settings, archive.pool)
    who = cli_login(archive.pool, trail, login, permission=permission)
    reader.trail = trail
    reader.limiter = replace(reader.limiter, trail=trail)
    return reader, who


def open_plates(
    settings: Settings,
    archive: Archive,
    ids: Sequence[uuid.UUID],
    *,
    login: CliLogin,
    reason: str,
) -> dict[uuid.UUID, str | None]:
    """Each crossing opened for the signed-in user (audited `crossing.view`, one read each);
    the whole list is refused up front when it would not fit in the hourly budget."""
    reader, who = cli_reader(settings, archive, login, permission=Permission.CROSSING_VIEW)
    if ids:
        reader.limiter.admit(who, reads=len(ids))
    return {i: reader.view(who, i, reason=reason).plate_text for i in ids}
