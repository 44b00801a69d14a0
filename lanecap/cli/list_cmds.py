"""Watch lists (faces), hot lists (plates) and the matcher: `lanecap watchlist|hotlist|match`.

List entries are sealed (plate, label, reason) under a key derived from the officer
service's search key; each list command first seals entries left in clear from before
migration 011 (`lanecap hotlist seal` does only that). A `--reason` with a plate in it is
refused before anything is stored (`lanecap.security.reasons`).
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime, timedelta
from pathlib import Path

import click
import cv2
import numpy as np

from lanecap.api import watchlist as wl
from lanecap.archive import Archive, open_archive
from lanecap.cli.base import (
    CliLogin,
    Context,
    checked_reason,
    cli_login,
    cli_trail,
    pass_ctx,
    reader_login,
    reports_errors,
)
from lanecap.ingest import officer_ingest
from lanecap.keys import keys_dir, load_search_key
from lanecap.matcher import Matcher
from lanecap.security.roles import Permission, Principal, authorize
from lanecap.security.trail import AuditTrail
from recognition.faces.match import OperatingPoint
from storage.crypto import SearchKey


def _supervisor() -> Principal:
    """The local operator of the officer service (maintenance only: `hotlist seal`)."""
    return Principal(name=getpass.getuser(), role="supervisor", kind="system")


def _signed_in(ctx: Context, a: Archive, login: CliLogin) -> tuple[Principal, AuditTrail]:
    """The named supervisor (password + TOTP), and the CLI's trail (channel cli)."""
    trail = cli_trail(ctx.settings, a.pool)
    return cli_login(a.pool, trail, login, permission=Permission.WATCHLIST_ENROL), trail


def _sealed(ctx: Context, a: Archive) -> SearchKey:
    """The officer service's search key, after sealing any entry still stored in clear."""
    search = load_search_key(keys_dir(ctx.settings))
    wl.seal_clear_entries(a.pool, search, admin_url=a.endpoints.admin_url)
    return search


@click.group("watchlist")
def watchlist_group() -> None:
    """Face watch list (supervisors): enrol, list, expire."""


@watchlist_group.command("enroll")
@click.option("--name", required=True, help="Who this is (kept in the list, never in logs).")
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why the person is listed (shown with alerts); no plate text.",
)
@click.option(
    "--expires", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day in force."
)
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reader_login
@pass_ctx
@reports_errors
def enroll(
    ctx: Context,
    name: str,
    reason: str,
    expires: datetime | None,
    photo: Path,
    login: CliLogin,
) -> None:
    """Enrol PHOTO as a signed-in supervisor; refused unless it holds exactly one usable face."""
    from recognition.faces.encoder import FaceRecognitionEncoder

    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise click.BadParameter(f"{photo} is not an image OpenCV can read", param_hint="PHOTO")
    with open_archive(ctx.settings) as a:
        who, trail = _signed_in(ctx, a, login)
        search = _sealed(ctx, a)
        entry = wl.add_face(
            a.pool,
            search,
            FaceRecognitionEncoder(model="hog+cnn"),
            image=np.asarray(image, dtype=np.uint8),
            label=name,
            reason=reason,
            by=who.actor,
            expires_at=wl.until(expires.date() if expires else None),
        )
        trail.record(who, "watchlist.enrol", target=f"watchlist:{entry}", reason=reason)
    click.echo(f"enrolled as watch-list entry {entry}")


@watchlist_group.command("list")
@click.option("--kind", type=click.Choice(["face", "plate"]), default="face")
@reader_login
@pass_ctx
@reports_errors
def list_entries(ctx: Context, kind: str, login: CliLogin) -> None:
    """Active entries: id, label, reason, expiry (a signed-in supervisor; audited)."""
    with open_archive(ctx.settings) as a:
        who, trail = _signed_in(ctx, a, login)
        trail.record(who, "watchlist.view", target=f"watchlist:{kind}")
        entries = wl.entries(
            a.pool,
            kind="face" if kind == "face" else "plate",
            active_only=True,
            search=_sealed(ctx, a),
        )
    for e in entries:
        # expires_at is the start of the day after the last day in force
        until = f"{e.expires_at - timedelta(days=1):%Y-%m-%d}" if e.expires_at else "-"
        click.echo(f"{e.id:>6}  {e.plate_text or e.label:<24} until {until:<10}  {e.reason}")
    click.echo(f"{len(entries)} active {kind} entr{'y' if len(entries) == 1 else 'ies'}")


@watchlist_group.command("expire")
@click.argument("entry_id", type=int)
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why the entry is taken off the list; no plate text.",
)
@reader_login
@pass_ctx
@reports_errors
def expire_entry(ctx: Context, entry_id: int, reason: str, login: CliLogin) -> None:
    """End an entry (face or plate) now (a signed-in supervisor)."""
    with open_archive(ctx.settings) as a:
        who, trail = _signed_in(ctx, a, login)
        _sealed(ctx, a)
        wl.expire(a.pool, entry_id)
        trail.record(who, "watchlist.expire", target=f"watchlist:{entry_id}", reason=reason)
    click.echo(f"entry {entry_id} expired")


@click.group("hotlist")
def hotlist_group() -> None:
    """Plate hot list (supervisors): add plates one by one or from CSV."""


@hotlist_group.command("add")
@click.argument("plate")
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why the plate is listed (shown with alerts); the case, never the plate.",
)
@click.option(
    "--expires", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day in force."
)
@reader_login
@pass_ctx
@reports_errors
def hotlist_add(
    ctx: Context, plate: str, reason: str, expires: datetime | None, login: CliLogin
) -> None:
    """List PLATE: alerts on exact, look-alike (0/O, 1/I, ...) and one-edit reads."""
    with open_archive(ctx.settings) as a:
        who, trail = _signed_in(ctx, a, login)
        search = _sealed(ctx, a)
        entry = wl.add_plate(
            a.pool,
            search,
            plate=plate,
            label=plate,
            reason=reason,
            by=who.actor,
            expires_at=wl.until(expires.date() if expires else None),
        )
        trail.record(who, "hotlist.add", target=f"watchlist:{entry}", reason=reason)
    click.echo(f"hot-list entry {entry} added")


@hotlist_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why this list is imported (audited); no plate text.",
)
@reader_login
@pass_ctx
@reports_errors
def hotlist_import(ctx: Context, csv_file: Path, reason: str, login: CliLogin) -> None:
    """Import a CSV (plate[,reason,region,expires,note]); bad rows are reported, good ones load."""
    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise click.ClickException(f"{csv_file}: not UTF-8 text (byte {err.start})") from None
    with open_archive(ctx.settings) as a:
        who, trail = _signed_in(ctx, a, login)
        search = _sealed(ctx, a)
        ids, rejected = wl.import_plates(a.pool, search, text=text, reason=reason, by=who.actor)
        trail.record(
            who,
            "hotlist.import",
            target="watchlist",
            reason=reason,
            detail={"accepted": len(ids), "rejected": len(rejected)},
        )
    for r in rejected:
        click.echo(f"rejected line {r.line}: {r.reason}", err=True)
    click.echo(f"imported {len(ids)} plate(s), rejected {len(rejected)} row(s)")


@hotlist_group.command("seal")
@pass_ctx
@reports_errors
def hotlist_seal(ctx: Context) -> None:
    """Seal watch-list and hot-list entries stored in clear (before migration 011), then
    rewrite the table so the clear values leave its files. Needs the officer service's keys."""
    authorize(_supervisor(), Permission.WATCHLIST_ENROL)
    with open_archive(ctx.settings) as a:
        search = load_search_key(keys_dir(ctx.settings))
        n = wl.seal_clear_entries(a.pool, search, admin_url=a.endpoints.admin_url)
    click.echo(f"sealed {n} entr{'y' if n == 1 else 'ies'} stored in clear; none is left")


@click.command("match")
@click.option("--once", is_flag=True, help="Match what is pending, then exit.")
@click.option(
    "--interval", type=click.FloatRange(0.05, 60), default=0.5, help="Seconds between passes."
)
@pass_ctx
@reports_errors
def match(ctx: Context, once: bool, interval: float) -> None:
    """Ingest new crossings (search indexes), match them against the hot list and the face
    watch list, and raise alerts. Needs the officer service's keys."""
    with open_archive(ctx.settings) as a:
        ingest = officer_ingest(ctx.settings, a.pool, a.objects)
        point = OperatingPoint.shipped(ctx.settings.recognition.face_encoder)
        matcher = Matcher(a.pool, operating_point=point)
        while True:
            ingest.run_all()
            done = matcher.run_once()
            if once:
                click.echo(
                    f"matched {len(done)} crossing(s), {sum(o.alert for o in done)} alert(s)"
                )
                return
            if not done:
                time.sleep(interval)
