"""`lanecap eval faces` and `lanecap calibrate faces` (added to their groups by the CLI)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from lanecap.config import RecognitionConfig

log = logging.getLogger(__name__)

_DEFAULTS = RecognitionConfig()


def _fmt(x: float | int | None, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


@click.command("faces")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the figures as JSON here (keys: n_images, detect_rate, tar_far_1e3, "
    "tar_far_1e2, eer, rank1, ms_p50, then per_size and sized_by).",
)
@click.option(
    "--detector",
    type=click.Choice(["yunet", "dlib"]),
    default="yunet",
    show_default=True,
    help="Face detector: OpenCV's YuNet, or dlib's (chosen by --model); the lane's "
    "default is recognition.face_detector.",
)
@click.option(
    "--model",
    type=click.Choice(["hog", "cnn", "hog+cnn"]),
    default="hog",
    show_default=True,
    help="dlib detector (with --detector dlib); hog+cnn runs the CNN only on images where "
    "HOG finds nothing.",
)
@click.option(
    "--encoder",
    type=click.Choice(["dlib", "sface"]),
    default=_DEFAULTS.face_encoder,
    show_default=True,
    help="Face encoder: dlib's ResNet or OpenCV's SFace (needs --detector yunet); the "
    "lane's default is recognition.face_encoder.",
)
@click.option(
    "--clahe", type=click.Choice(["auto", "off", "always"]), default="auto", show_default=True
)
@click.option("--threads", type=click.IntRange(1, 64), default=2, show_default=True)
def eval_faces(
    *,
    manifest: Path,
    json_out: Path | None,
    detector: str,
    model: str,
    encoder: str,
    clahe: str,
    threads: int,
) -> None:
    """Face detection rate, verification TAR at FAR 1e-3/1e-2, EER, rank-1 and ms/face on a
    `file,identity` MANIFEST, overall and per face-size bucket.

    Every manifest row counts in the detection rate (unreadable or faceless images are
    misses); pair and rank-1 figures use the largest face of each image that has one.
    Optional x,y,w,h columns (a true face box, as `lanesim.render_face_set` writes) size
    the buckets; without them the largest detected face does.
    """
    from recognition.faces.encoder import FaceRecognitionEncoder
    from recognition.faces.evaluate import evaluate_faces_detailed

    if encoder == "sface" and detector != "yunet":
        raise click.BadParameter("sface aligns on YuNet's points: use --detector yunet")
    enc = FaceRecognitionEncoder(
        detector=detector,  # type: ignore[arg-type]
        encoder=encoder,  # type: ignore[arg-type]
        model=model,  # type: ignore[arg-type]
        clahe=clahe,  # type: ignore[arg-type]
        threads=threads,
    )
    ev = evaluate_faces_detailed(manifest, encoder=enc)
    what = f"detector {detector}" + (f" ({model})" if detector == "dlib" else "")
    what += f", encoder {encoder}"
    click.echo(f"{manifest}  ({what}, CLAHE {clahe})")
    click.echo(
        f"images {ev.n_images}  detected {ev.n_detected}  detect_rate {_fmt(ev.detect_rate)}  "
        f"(quality-rejected {ev.n_rejected_by_quality})"
    )
    click.echo(
        f"pairs genuine {ev.n_genuine} impostor {ev.n_impostor}  "
        f"TAR@FAR1e-3 {_fmt(ev.tar_far_1e3)} (t={_fmt(ev.threshold_far_1e3, '.3f')})  "
        f"TAR@FAR1e-2 {_fmt(ev.tar_far_1e2)} (t={_fmt(ev.threshold_far_1e2, '.3f')})  "
        f"EER {_fmt(ev.eer)} (t={_fmt(ev.threshold_eer, '.3f')})"
    )
    click.echo(
        f"rank-1 {_fmt(ev.rank1)} over {ev.n_rank1_probes} probes  "
        f"ms/face p50 {_fmt(ev.ms_p50, '.1f')}"
    )
    for bucket, fig in ev.per_size.items():
        click.echo(
            f"  {bucket:>7} px: images {fig['n_images']}  detect_rate {_fmt(fig['detect_rate'])}"
            f"  hit_rate {_fmt(fig['hit_rate'])}  TAR@FAR1e-3 {_fmt(fig['tar_far_1e3'])}"
            f" ({fig['n_genuine']} genuine)  (sized by {ev.sized_by})"
        )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(ev.as_json(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_out}")


@click.command("faces")
@click.argument(
    "manifests",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Calibration JSON to write (the shipped ones are recognition/faces/calibration.json "
    "for dlib and calibration_sface.json for sface).",
)
@click.option("--far", "far_target", type=float, default=1e-3, show_default=True)
@click.option(
    "--encoder",
    type=click.Choice(["dlib", "sface"]),
    default=_DEFAULTS.face_encoder,
    show_default=True,
    help="Encoder whose threshold is calibrated.",
)
@click.option(
    "--detector",
    type=click.Choice(["yunet", "dlib"]),
    default=_DEFAULTS.face_detector,
    show_default=True,
    help="Face detector used to find the faces (sface needs yunet).",
)
def calibrate_faces(
    *, manifests: tuple[Path, ...], out: Path, far_target: float, encoder: str, detector: str
) -> None:
    """Calibrate the face-match threshold at a pair-level FAR on `file,identity` MANIFESTS.

    Pairs of two images rendered from one photo (a `source` column) are left out."""
    from recognition.faces.calibrate import calibrate
    from recognition.faces.encoder import FaceRecognitionEncoder

    if not 0.0 < far_target < 1.0:
        raise click.BadParameter("must be in (0, 1)", param_hint="--far")
    if encoder == "sface" and detector != "yunet":
        raise click.BadParameter("sface aligns on YuNet's points: use --detector yunet")
    enc = FaceRecognitionEncoder(
        detector=detector,  # type: ignore[arg-type]
        encoder=encoder,  # type: ignore[arg-type]
    )
    record = calibrate(
        list(manifests),
        encoder=enc,
        far_target=far_target,
        kind=encoder,  # type: ignore[arg-type]
    )
    op = record["operating_point"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"threshold {op['threshold']:.2f}: FAR {op['far']:.5f} over {op['n_impostor']} impostor "
        f"pairs, FRR {op['frr']:.4f} over {op['n_genuine']} genuine pairs; "
        f"strict {op['strict']:.2f} ({encoder}); wrote {out}"
    )
