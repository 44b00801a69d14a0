"""`lanecap train detector` and `lanecap eval plates` (added to their groups by the CLI)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

MAP_FLOOR_CONF = 0.01
"""Detections down to this score feed mAP50; precision/recall use --conf."""


@click.command("detector")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("var/plate_detector"),
    show_default=True,
    help="Folder for dataset, run, weights, ONNX and metrics.",
)
@click.option("--epochs", type=int, default=14, show_default=True)
@click.option(
    "--imgsz",
    type=int,
    default=None,
    help="Training image size [default: 320 tiles cut at inference scale from scratch; "
    "640 (= inference size, whole frames) with --finetune].",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--synthetic",
    "synthetic",
    type=int,
    default=3000,
    show_default=True,
    help="Number of synthetic training scenes.",
)
@click.option(
    "--finetune",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Site dataset (YOLO data yaml or folder with images/ labels/): fine-tune the shipped model.",
)
@click.option(
    "--base",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Checkpoint --finetune starts from (default: the shipped plate_yolo.pt).",
)
@click.option("--threads", type=int, default=2, show_default=True, help="Torch CPU threads.")
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option(
    "--real-repeat",
    type=int,
    default=3,
    show_default=True,
    help="Tiles cut from each real training image per pass.",
)
@click.option("--no-real", is_flag=True, help="Synthetic data only (ignore the shared dev sets).")
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Root of the shared data (default $LANECAP_DATA or /work/shared/data).",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run in --out from its last.pt."
)
def train_detector(
    *,
    out: Path,
    epochs: int,
    imgsz: int | None,
    seed: int,
    device: str,
    synthetic: int,
    finetune: Path | None,
    base: Path | None,
    threads: int,
    batch: int,
    workers: int,
    real_repeat: int,
    no_real: bool,
    data_root: Path | None,
    resume: bool,
) -> None:
    """Train the plate detector (or fine-tune it on a site's footage) and export ONNX."""
    if base is not None and finetune is None:
        raise click.UsageError(
            "--base needs --finetune (it is the checkpoint fine-tuning starts from)"
        )
    from recognition.plates.train import DATA_ROOT, TrainConfig, default_real_sources
    from recognition.plates.train import train_detector as run_training

    sources: dict[str, Any] = {}
    if not no_real and finetune is None:
        sources = default_real_sources(data_root or DATA_ROOT)
    config = TrainConfig(
        out=out, epochs=epochs, imgsz=imgsz or (640 if finetune else 320), seed=seed, device=device,  # type: ignore[arg-type]
        synthetic=synthetic, finetune=finetune, base=base, threads=threads, batch=batch, workers=workers,
        real_repeat=real_repeat, resume=resume, **sources,
    )  # fmt: skip
    result = run_training(config)
    click.echo(f"weights: {result.weights}")
    click.echo(f"onnx:    {result.onnx}")
    click.echo(f"metrics: {result.metrics_json}")


def _load_reader(threads: int, second: str = "rapidocr") -> Any:
    try:
        from recognition.plates.reader import EasyOcrReader
    except ImportError as err:
        log.warning("no plate reader available (%s); reading keys will be null", err)
        return None
    from lanecap.components import with_second_reader

    return with_second_reader(EasyOcrReader(threads=threads), second)


def _cell(v: float | None, digits: int) -> str:
    return f"{'-' if v is None else f'{v:.{digits}f}':>8}"


def report_lines(report: dict[str, Any]) -> list[str]:
    """The `eval plates` report as two text tables: per folder, then per plate group."""
    cols = [("det_precision", "prec", 3), ("det_recall", "recall", 3), ("map50", "mAP50", 3),
            ("found_recall", "found", 3),
            ("read_exact", "read", 3), ("read_cer", "cer", 3), ("reader_exact", "reader", 3),
            ("reader_cer", "r.cer", 3), ("ms_p50", "det.ms", 1), ("reader_ms_p50", "read.ms", 1)]  # fmt: skip
    lines = [f"{'folder':<16}{'images':>7}" + "".join(f"{h:>8}" for _, h, _ in cols)]
    for name, r in [("ALL", report), *report["per_group"].items()]:
        cells = "".join(_cell(r[k], d) for k, _, d in cols)
        lines.append(f"{name:<16}{r['n_images']:>7}{cells}")
    gcols = [("det_recall", "recall"), ("read_exact", "read"), ("read_cer", "cer"),
             ("reader_exact", "reader"), ("reader_cer", "r.cer")]  # fmt: skip
    lines.append(f"{'plate group':<16}{'plates':>7}" + "".join(f"{h:>8}" for _, h in gcols))
    for name, g in report["groups"].items():
        lines.append(f"{name:<16}{g['n']:>7}" + "".join(_cell(g[k], 3) for k, _ in gcols))
    return lines


@click.command("plates")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as JSON here.",
)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--no-read", is_flag=True, help="Detection only; the reading keys are null.")
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ONNX detector (default: the shipped recognition/models/plate_yolo.onnx).",
)
@click.option(
    "--detector",
    "detector_kind",
    type=click.Choice(["paired", "yolo"]),
    default="paired",
    show_default=True,
    help="As recognition.plate_detector: paired (the finder's plates in --model's boxes) "
    "or --model alone.",
)
@click.option(
    "--finder-model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The paired detector's finder (default: recognition/models/plate_yolo_finder.onnx).",
)
@click.option(
    "--pair",
    type=click.Choice(["finder", "union"]),
    default="finder",
    show_default=True,
    help="Paired: the finder's plates only, or both detectors' plates.",
)
@click.option(
    "--conf", type=float, default=None, help="Operating score threshold for precision/recall."
)
@click.option("--imgsz", type=int, default=None, help="Letterbox size (default 640).")
@click.option(
    "--confirm-floor",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="Detections from this score up to --conf count when the reader is sure of them, as "
    "in a lane (found_precision/found_recall, read_exact); a floor at or above --conf turns "
    "this off.",
)
@click.option(
    "--precision-rule",
    type=click.Choice(["strict", "single-label-lenient"]),
    default="strict",
    show_default=True,
    help="strict: every unmatched detection is a false positive. single-label-lenient: in images "
    "with exactly one labelled plate, unmatched detections are not counted (for sets that label "
    "one plate per image).",
)
@click.option(
    "--calibration",
    "calibration_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Confidence calibration JSON (default: the shipped plate_confidence.json; 'none' for "
    "raw scores).",
)
@click.option("--plots/--no-plots", default=True, help="PNG plots beside the JSON.")
@click.option(
    "--second-reader",
    type=click.Choice(["rapidocr", "none"]),
    default="rapidocr",
    help="Second opinion on unsure reads, as recognition.plate_second_reader.",
)
def eval_plates(
    *,
    manifest: Path,
    json_out: Path | None,
    threads: int,
    no_read: bool,
    model: Path | None,
    detector_kind: str,
    finder_model: Path | None,
    pair: str,
    conf: float | None,
    imgsz: int | None,
    confirm_floor: float,
    precision_rule: str,
    calibration_file: Path | None,
    plots: bool,
    second_reader: str,
) -> None:
    """Detection, end-to-end reading and reader-only accuracy on MANIFEST, with a breakdown.

    Reports detection precision/recall (IoU 0.5), mAP50 and ms per image; exact match
    and character error rate end to end and for the reader alone on ground-truth boxes;
    and the same per plate group (height, shape, folder); recall at IoU 0.7; the
    calibration of the plate confidence (ECE, reliability bins) and every misread. With
    --json, a precision-recall curve and a reliability diagram are written beside it.
    Crop manifests (no boxes) fill the reading keys only.
    """
    from recognition.plates.detector import DEFAULT_CONF, DEFAULT_IMGSZ, YoloPlateDetector
    from recognition.plates.ensemble import paired_yolo
    from recognition.plates.evaluate import evaluate_plates

    size = imgsz or DEFAULT_IMGSZ
    detector: Any = (
        paired_yolo(
            threads=threads,
            conf=MAP_FLOOR_CONF,
            framer_path=model,
            finder_path=finder_model,
            imgsz=size,
            how=pair,  # type: ignore[arg-type]
        )
        if detector_kind == "paired"
        else YoloPlateDetector(model, threads=threads, conf=MAP_FLOOR_CONF, imgsz=size)
    )
    reader = None if no_read else _load_reader(threads, second_reader)
    operating = DEFAULT_CONF if conf is None else conf
    report = evaluate_plates(
        manifest, detector=detector, reader=reader, score_threshold=operating,
        rule=precision_rule,  # type: ignore[arg-type]
        confirm_floor=confirm_floor if confirm_floor < operating else None,
        calibration=_calibration(calibration_file), progress=True,
    )  # fmt: skip
    click.echo(
        f"{manifest}  (IoU 0.5, score >= {operating}, confirmed from {confirm_floor},"
        f" precision rule: {precision_rule})"
    )
    for line in report_lines(report):
        click.echo(line)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))
        click.echo(f"wrote {json_out}")
        if plots:
            from recognition.plates.plots import write_plots

            for png in write_plots(report, json_out):
                click.echo(f"wrote {png}")


def _calibration(path: Path | None) -> Any:
    from recognition.plates.calibrate import DEFAULT_FILE, Calibration

    if path is not None and str(path) == "none":
        return None
    chosen = path or DEFAULT_FILE
    if not chosen.exists():
        if path is not None:
            raise click.BadParameter(f"{path} does not exist", param_hint="--calibration")
        return None
    return Calibration.load(chosen)


@click.command("plates")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the calibration (default: the shipped plate_confidence.json).",
)
@click.option("--threads", type=int, default=2, show_default=True)
def calibrate_plates(*, manifest: Path, out: Path | None, threads: int) -> None:
    """Fit the plate confidence to the share of exact reads on MANIFEST (labelled texts the
    reader did not train on): isotonic steps, end-to-end and ground-truth-box reads."""
    from recognition.plates.calibrate import DEFAULT_FILE, fit
    from recognition.plates.detector import DEFAULT_CONF, YoloPlateDetector
    from recognition.plates.evaluate import evaluate_plates

    reader = _load_reader(threads)
    if reader is None:
        raise click.ClickException("calibration needs the plate reader")
    detector = YoloPlateDetector(None, threads=threads, conf=MAP_FLOOR_CONF)
    report = evaluate_plates(
        manifest, detector=detector, reader=reader, score_threshold=DEFAULT_CONF, progress=True
    )
    pairs = [(float(c), bool(ok)) for c, ok in report["read_confidences"]]
    cal = fit(pairs, fitted_on=str(manifest))
    target = out or DEFAULT_FILE
    cal.save(target)
    click.echo(f"{len(pairs)} reads; {len(cal.scores)} steps written to {target}")
    for x, y in zip(cal.scores, cal.exact, strict=True):
        click.echo(f"  raw {x:.3f} -> {y:.3f}")
