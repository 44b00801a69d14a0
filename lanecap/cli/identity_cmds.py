"""`lanecap identity ...`: 1:1 document checks and policy-gated history linkage; and
`lanecap audit flags`: the read-volume flags and refusals, for supervisors and auditors.

Each acts as a named user who signs in (`--as`, password + TOTP, see lanecap.cli.base);
its reads are audited like the API's and count against the same budget.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import cv2
import numpy as np

from lanecap.archive import open_archive
from lanecap.cli.base import (
    CliLogin,
    Context,
    cli_login,
    cli_reader,
    cli_reason,
    cli_trail,
    pass_ctx,
    reader_login,
    reports_errors,
)
from lanecap.cli.security_cmds import audit_group
from lanecap.identity import history_links, verify_document
from lanecap.security import ratelimit
from lanecap.security.roles import Permission
from recognition.faces.match import OperatingPoint


@click.group("identity")
def identity_group() -> None:
    """Check a driver against a document photo; link crossings where policy allows."""


@identity_group.command("verify-document")
@click.argument("crossing_id", type=click.UUID)
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why the check is made (audited).")
@reader_login
@pass_ctx
@reports_errors
def verify_document_cmd(
    ctx: Context, crossing_id: uuid.UUID, photo: Path, reason: str, login: CliLogin
) -> None:
    """1:1: is the crossing's driver the person in PHOTO (a document's portrait)?"""
    from recognition.faces.encoder import FaceRecognitionEncoder

    why = cli_reason(reason)
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise click.BadParameter(f"{photo} is not an image OpenCV can read", param_hint="PHOTO")
    with open_archive(ctx.settings) as archive:
        reader, who = cli_reader(ctx.settings, archive, login, permission=Permission.IMAGE_VIEW)
        result = verify_document(
            reader,
            who,
            crossing_id,
            np.asarray(image, dtype=np.uint8),
            encoder=FaceRecognitionEncoder(
                model="hog+cnn",
                detector=ctx.settings.recognition.face_detector,
                encoder=ctx.settings.recognition.face_encoder,
            ),
            reason=why,
        )
    because = f" ({result.reason})" if result.reason else ""
    dist = f"; distance {result.distance:.3f}" if result.distance is not None else ""
    click.echo(f"{result.decision}{because}{dist}; threshold {result.threshold:.2f}")


@identity_group.command("links")
@click.argument("crossing_id", type=click.UUID)
@click.option("--reason", required=True, help="Why the history is searched (audited).")
@reader_login
@pass_ctx
@reports_errors
def links_cmd(ctx: Context, crossing_id: uuid.UUID, reason: str, login: CliLogin) -> None:
    """The same face with another plate; the same plate with another driver."""
    why = cli_reason(reason)
    with open_archive(ctx.settings) as archive:
        reader, who = cli_reader(
            ctx.settings, archive, login, permission=Permission.CROSSING_SEARCH
        )
        links = history_links(
            reader,
            who,
            crossing_id,
            enabled=ctx.settings.security.history_linkage,
            reason=why,
            threshold=OperatingPoint.shipped(ctx.settings.recognition.face_encoder).threshold,
        )
    click.echo("same face, other plate:")
    for cid, d in links.same_face_other_plate:
        click.echo(f"  {cid}  distance {d:.3f}")
    click.echo("same plate, other driver:")
    for cid, d in links.same_plate_other_driver:
        click.echo(f"  {cid}  distance {d:.3f}")


_COUNTS = (
    "reads_last_minute",
    "reads_last_hour",
    "reads_last_day",
    "searches_last_hour",
    "searches_last_day",
)


@audit_group.command("flags")
@click.option("--days", type=click.IntRange(1, 366), default=7, help="Flags of the last DAYS.")
@click.option("--actor", default=None, help="Only this actor (e.g. user:olivia).")
@click.option("--no-refusals", is_flag=True, help="Flags only, not the refused reads.")
@reader_login
@pass_ctx
@reports_errors
def audit_flags(
    ctx: Context, days: int, actor: str | None, no_refusals: bool, login: CliLogin
) -> None:
    """Unusual read volume (daily volume, bursts) and refused reads, oldest first
    (supervisors and auditors; the review itself is audited as `volume.review`)."""
    since = datetime.now(UTC) - timedelta(days=days)
    with open_archive(ctx.settings) as archive:
        trail = cli_trail(ctx.settings, archive.pool)
        who = cli_login(archive.pool, trail, login, permission=Permission.SEARCH_VOLUME_REVIEW)
        rows = ratelimit.flags(
            archive.pool, since=since, actor=actor, with_refusals=not no_refusals
        )
        trail.record(
            who,
            "volume.review",
            target=actor or "all",
            detail={"days": days, "entries": len(rows)},
        )
    for e in rows:
        counts = ", ".join(f"{k} {e.detail[k]}" for k in _COUNTS if k in e.detail)
        limit = e.detail.get("threshold", e.detail.get("limit"))
        channel = e.detail.get("channel", "api")
        click.echo(
            f"{e.seq:>8} {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<20} {e.action:<22}"
            f" {counts} (limit {limit}) via {channel}"
        )
    click.echo(f"{len(rows)} flag(s) and refusal(s) in the last {days} day(s)")
