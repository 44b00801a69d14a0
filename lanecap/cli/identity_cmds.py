"""`lanecap identity ...`: 1:1 document checks and policy-gated history linkage (audited)."""

from __future__ import annotations

import getpass
import uuid
from pathlib import Path

import click
import cv2
import numpy as np

from lanecap.archive import open_archive
from lanecap.cli.base import Context, pass_ctx, reports_errors
from lanecap.evidence import evidence_reader
from lanecap.identity import history_links, verify_document
from lanecap.security.roles import Principal
from recognition.faces.match import OperatingPoint


def _officer() -> Principal:
    return Principal(name=getpass.getuser(), role="officer", kind="system")


@click.group("identity")
def identity_group() -> None:
    """Check a driver against a document photo; link crossings where policy allows."""


@identity_group.command("verify-document")
@click.argument("crossing_id", type=click.UUID)
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why the check is made (audited).")
@pass_ctx
@reports_errors
def verify_document_cmd(ctx: Context, crossing_id: uuid.UUID, photo: Path, reason: str) -> None:
    """1:1: is the crossing's driver the person in PHOTO (a document's portrait)?"""
    from recognition.faces.encoder import FaceRecognitionEncoder

    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise click.BadParameter(f"{photo} is not an image OpenCV can read", param_hint="PHOTO")
    with open_archive(ctx.settings) as archive:
        reader = evidence_reader(ctx.settings, archive.pool, archive.objects)
        result = verify_document(
            reader,
            _officer(),
            crossing_id,
            np.asarray(image, dtype=np.uint8),
            encoder=FaceRecognitionEncoder(model="hog+cnn"),
            reason=reason,
        )
    why = f" ({result.reason})" if result.reason else ""
    dist = f"; distance {result.distance:.3f}" if result.distance is not None else ""
    click.echo(f"{result.decision}{why}{dist}; threshold {result.threshold:.2f}")


@identity_group.command("links")
@click.argument("crossing_id", type=click.UUID)
@click.option("--reason", required=True, help="Why the history is searched (audited).")
@pass_ctx
@reports_errors
def links_cmd(ctx: Context, crossing_id: uuid.UUID, reason: str) -> None:
    """The same face with another plate; the same plate with another driver."""
    with open_archive(ctx.settings) as archive:
        reader = evidence_reader(ctx.settings, archive.pool, archive.objects)
        links = history_links(
            reader,
            _officer(),
            crossing_id,
            enabled=ctx.settings.security.history_linkage,
            reason=reason,
            threshold=OperatingPoint.shipped().threshold,
        )
    click.echo("same face, other plate:")
    for cid, d in links.same_face_other_plate:
        click.echo(f"  {cid}  distance {d:.3f}")
    click.echo("same plate, other driver:")
    for cid, d in links.same_plate_other_driver:
        click.echo(f"  {cid}  distance {d:.3f}")
