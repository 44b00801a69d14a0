"""`lanecap train reader` and `lanecap eval reader` (added to their groups by the CLI)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import click

log = logging.getLogger(__name__)

DATA_ROOT = Path(os.environ.get("LANECAP_DATA", "/work/shared/data"))
REAL_CROPS = "plates/openalpr-us-crops/manifest.csv"


@click.command("reader")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/plate_reader"),
    show_default=True,
    help="Folder for checkpoints (best/, last/), config.json and history.json.",
)
@click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Real plates manifest(s) whose train split is mixed in [default: "
    "openalpr-us-crops under --data-root, when present].",
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Root of the shared data (default $LANECAP_DATA or /work/shared/data).",
)
@click.option("--no-real", is_flag=True, help="Rendered plates only.")
@click.option("--steps", type=int, default=2400, show_default=True)
@click.option("--batch", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=3e-4, show_default=True)
@click.option("--head-lr", type=float, default=1e-3, show_default=True, help="Output layer's rate.")
@click.option("--warmup", type=int, default=60, show_default=True, help="Warm-up steps.")
@click.option(
    "--init",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Start from these EasyOCR-format weights (e.g. recognition/models/plate_reader.pth) "
    "instead of english_g2.",
)
@click.option("--real-fraction", type=float, default=0.5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="Torch CPU threads.")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Sample-rendering processes (0 or 1 keep the run reproducible from the seed).",
)
@click.option(
    "--max-minutes",
    type=float,
    default=None,
    help="Stop (and anneal the learning rate) by this wall-clock budget; not reproducible.",
)
@click.option(
    "--install/--no-install",
    default=False,
    show_default=True,
    help="Copy the final weights (last/, not the validation-selected best/) into "
    "recognition/models, the shipped reader network.",
)
def train_reader(
    *,
    out: Path,
    manifests: tuple[Path, ...],
    data_root: Path | None,
    no_real: bool,
    steps: int,
    batch: int,
    lr: float,
    head_lr: float,
    warmup: int,
    init: Path | None,
    real_fraction: float,
    seed: int,
    threads: int,
    workers: int,
    max_minutes: float | None,
    install: bool,
) -> None:
    """Fine-tune the plate reader's recognition network (EasyOCR english_g2 -> plates, CTC)."""
    from recognition.ocr.network import MODELS_DIR, NETWORK_NAME
    from recognition.ocr.train import TrainConfig
    from recognition.ocr.train import train_reader as run_training

    if not manifests and not no_real:
        default = (data_root or DATA_ROOT) / REAL_CROPS
        manifests = (default,) if default.is_file() else ()
        if not manifests:
            click.echo(f"note: {default} not found; training on rendered plates only", err=True)
    config = TrainConfig(
        out=out, manifests=() if no_real else manifests, steps=steps, batch=batch, lr=lr,
        head_lr=head_lr, warmup=warmup, init=init,
        real_fraction=real_fraction if manifests and not no_real else 0.0, seed=seed,
        threads=threads, workers=workers, max_minutes=max_minutes,
    )  # fmt: skip
    result = run_training(config)
    click.echo(f"best: {result.best_dir} (validation exact {result.best_val_exact})")
    click.echo(f"last: {result.last_dir}")
    if install:
        for ext in (".pth", ".yaml", ".py"):
            shutil.copy2(
                result.last_dir / f"{NETWORK_NAME}{ext}", MODELS_DIR / f"{NETWORK_NAME}{ext}"
            )
        from recognition.ocr.onnx_export import export

        onnx = export()  # the lane reads with ONNX Runtime (see recognition/ocr/onnx_export.py)
        click.echo(f"installed into {MODELS_DIR} (and {onnx.name})")


@click.command("reader")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--split",
    type=click.Choice(["all", "train", "val"]),
    default="all",
    show_default=True,
    help="Hash split of the manifest's files (val: never trained on).",
)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option(
    "--network",
    type=click.Choice(["auto", "plate_reader", "english_g2"]),
    default="auto",
    show_default=True,
)
@click.option("--pad", type=float, default=0.0, show_default=True, help="Grow boxes by this share.")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report (with the wrong reads) as JSON here.",
)
def eval_reader(
    *, manifest: Path, split: str, threads: int, network: str, pad: float, json_out: Path | None
) -> None:
    """Reader-only accuracy on a manifest's ground-truth plates (exact, CER, ms per crop)."""
    from recognition.plates.read_eval import evaluate_reader
    from recognition.plates.reader import EasyOcrReader

    reader = EasyOcrReader(threads=threads, network=network)  # type: ignore[arg-type]
    report = evaluate_reader(manifest, reader=reader, split=split, pad=pad)  # type: ignore[arg-type]
    o = report["overall"]
    click.echo(
        f"{manifest} [{split}] n={o['n']} exact={o['exact']:.3f} cer={o['cer']:.3f} "
        f"no_read={o['no_read']} ms p50={o['ms_p50']:.1f} p95={o['ms_p95']:.1f}"
        if o["n"]
        else f"{manifest}: no labelled plates"
    )
    for group, g in report["groups"].items():
        if g["n"]:
            click.echo(f"  {group}: n={g['n']} exact={g['exact']:.3f} cer={g['cer']:.3f}")
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2))
