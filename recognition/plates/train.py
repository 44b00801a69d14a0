"""Train the plate detector (ultralytics YOLO from a yaml, offline) and export ONNX.

Two modes:

* from scratch: generate a synthetic + real-tile dataset (recognition.synth) and
  train `yolo11n.yaml` with one class, `plate`;
* fine-tune (`finetune=DATA`): continue from the shipped `plate_yolo.pt` on a
  site's own YOLO-format dataset (a data yaml or a folder with images/ labels/).

Writes to `out`: `plate_yolo.pt`, `plate_yolo.onnx`, `metrics.json` (and the
ultralytics run folder `run/`). Reproducible for a given seed on the same
hardware and library versions.

    python -m recognition.plates.train --out var/plate_detector --epochs 12
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from recognition.plates.offline import setup_offline
from recognition.synth.dataset import DatasetSpec, write_dataset

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SHIPPED_PT = MODELS_DIR / "plate_yolo.pt"
DATA_ROOT = Path(os.environ.get("LANECAP_DATA", "/work/shared/data"))
EXPORT_IMGSZ = 640

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (saved into metrics.json)."""

    out: Path
    epochs: int = 12
    imgsz: int = 320
    seed: int = 0
    device: Device = "auto"
    synthetic: int = 3000
    finetune: Path | None = None
    base: Path | None = None
    """Checkpoint fine-tuning starts from (default: the shipped `plate_yolo.pt`)."""
    threads: int = 2
    batch: int = 16
    workers: int = 2
    model_yaml: str = "yolo11n.yaml"
    real_manifests: tuple[Path, ...] = field(default_factory=tuple)
    real_crops_manifest: Path | None = None
    background_video: Path | None = None
    real_repeat: int = 3
    resume: bool = False


@dataclass(frozen=True)
class TrainResult:
    weights: Path
    onnx: Path
    metrics_json: Path
    metrics: dict[str, Any]


def default_real_sources(root: Path = DATA_ROOT) -> dict[str, Any]:
    """The shared dev sets, where present (training uses only their train split)."""
    manifests = tuple(
        p for p in (root / "plates/openalpr-us-dev/manifest.csv", root / "plates/romania-detect/manifest.csv")
        if p.is_file()
    )  # fmt: skip
    crops = root / "plates/openalpr-us-crops/manifest.csv"
    video = root / "video/car-detection.mp4"
    return {
        "real_manifests": manifests,
        "real_crops_manifest": crops if crops.is_file() else None,
        "background_video": video if video.is_file() else None,
    }


def _resolve_device(device: Device) -> str:
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return "0"
    return "cpu"


def finetune_data_yaml(data: Path, work: Path) -> Path:
    """A data yaml for a site's dataset: the yaml itself, or one written for a folder.

    A folder must hold `images/train` and `labels/train` (and optionally
    `images/val`; the train images are used for validation when it is missing).
    """
    if data.is_file():
        return data
    for name in ("data.yaml", "dataset.yaml"):
        if (data / name).is_file():
            return data / name
    if not (data / "images" / "train").is_dir():
        raise FileNotFoundError(f"{data}: expected a data yaml or images/train + labels/train")
    val = "images/val" if (data / "images" / "val").is_dir() else "images/train"
    work.mkdir(parents=True, exist_ok=True)
    out = work / "site_data.yaml"
    out.write_text(f"path: {data.resolve()}\ntrain: images/train\nval: {val}\nnames:\n  0: plate\n")
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def train_detector(config: TrainConfig) -> TrainResult:
    """Run one training (or fine-tuning) and export; returns the written files."""
    out = config.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    setup_offline()
    import torch
    from ultralytics import YOLO  # type: ignore[attr-defined]

    torch.set_num_threads(max(1, config.threads))
    started = time.time()
    dataset_info: dict[str, Any] = {}
    run_dir = out / "run"
    summary_json = out / "dataset_summary.json"
    if config.resume:
        # continue an interrupted run from its last checkpoint (same data, same arguments)
        last = run_dir / "weights" / "last.pt"
        if not last.is_file():
            raise FileNotFoundError(f"nothing to resume: {last} missing")
        if summary_json.is_file():
            dataset_info = json.loads(summary_json.read_text())
        YOLO(str(last)).train(resume=True)
        return _finish(config, out, run_dir, started, dataset_info, _resolve_device(config.device))
    if config.finetune is not None:
        data_yaml = finetune_data_yaml(config.finetune, out)
        base = config.base or SHIPPED_PT
        if not base.is_file():
            raise FileNotFoundError(f"{base} missing: nothing to fine-tune from")
        model = YOLO(str(base))
        dataset_info = {"finetune_data": str(data_yaml), "base": str(base)}
    else:
        spec = DatasetSpec(
            synthetic_train=config.synthetic,
            synthetic_val=max(50, config.synthetic // 20),
            tile=config.imgsz,
            real_manifests=config.real_manifests,
            real_repeat=config.real_repeat,
            real_crops_manifest=config.real_crops_manifest,
            background_video=config.background_video,
            seed=config.seed,
        )
        summary = write_dataset(out / "dataset", spec)
        data_yaml = summary.data_yaml
        dataset_info = {
            "images": summary.images,
            "boxes": summary.boxes,
            "real_images": summary.real_images,
            "generation_s": round(time.time() - started, 1),
        }
        summary_json.write_text(json.dumps(dataset_info, indent=2))
        model = YOLO(config.model_yaml)
    device = _resolve_device(config.device)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    fine = config.finetune is not None
    model.train(
        data=str(data_yaml),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        device=device,
        workers=config.workers,
        seed=config.seed,
        deterministic=True,
        project=str(out),
        name="run",
        exist_ok=True,
        val=False,
        plots=False,
        amp=device != "cpu",
        warmup_epochs=0.5 if fine else 1.0,
        close_mosaic=max(1, config.epochs // 5),
        patience=0,
        lr0=0.001 if fine else 0.01,
        optimizer="AdamW" if fine else "auto",
        mosaic=1.0,
        scale=0.5,
        fliplr=0.5,
        degrees=0.0,
        verbose=False,
    )
    return _finish(config, out, run_dir, started, dataset_info, device)


def _finish(
    config: TrainConfig,
    out: Path,
    run_dir: Path,
    started: float,
    dataset_info: dict[str, Any],
    device: str,
) -> TrainResult:
    """Copy the final weights, export ONNX and write metrics.json."""
    import torch
    from ultralytics import YOLO  # type: ignore[attr-defined]

    trained = run_dir / "weights" / "last.pt"
    ckpt = torch.load(trained, map_location="cpu", weights_only=False)
    train_args = ckpt.get("train_args", {}) if isinstance(ckpt, dict) else {}
    weights = out / "plate_yolo.pt"
    shutil.copyfile(trained, weights)
    torch.set_num_threads(max(1, config.threads))
    exported = YOLO(str(weights)).export(
        format="onnx", imgsz=EXPORT_IMGSZ, dynamic=True, simplify=True, device="cpu"
    )
    onnx_path = out / "plate_yolo.onnx"
    if Path(exported).resolve() != onnx_path:
        shutil.copyfile(exported, onnx_path)
    results = _last_results(run_dir)
    epochs_done = int(results["epoch"]) if "epoch" in results else None
    metrics = {
        "config": _jsonable(asdict(config)),
        "device": device,
        "host": platform.node(),
        "train_s": round(time.time() - started, 1),
        "epochs_done": epochs_done,
        "ultralytics_epochs_arg": train_args.get("epochs"),
        "dataset": _jsonable(dataset_info),
        "ultralytics_last_epoch_row": results,
    }
    metrics_json = out / "metrics.json"
    metrics_json.write_text(json.dumps(metrics, indent=2))
    log.info("trained in %.0f s: %s, %s", metrics["train_s"], weights, onnx_path)
    return TrainResult(weights=weights, onnx=onnx_path, metrics_json=metrics_json, metrics=metrics)


def _last_results(run_dir: Path) -> dict[str, float]:
    """The last row of ultralytics' results.csv (losses; val metrics on tiles)."""
    csv_path = run_dir / "results.csv"
    if not csv_path.is_file():
        return {}
    lines = [ln for ln in csv_path.read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    keys = [k.strip() for k in lines[0].split(",")]
    vals = lines[-1].split(",")
    out: dict[str, float] = {}
    for k, v in zip(keys, vals, strict=False):
        try:
            out[k] = round(float(v), 4)
        except ValueError:
            continue
    return out


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("var/plate_detector"))
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--imgsz", type=int, default=None, help="default 320, or 640 with --finetune")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--synthetic", type=int, default=3000)
    p.add_argument("--finetune", type=Path, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--real-repeat", type=int, default=3)
    p.add_argument("--no-real", action="store_true", help="synthetic data only")
    p.add_argument("--resume", action="store_true", help="continue OUT/run from its last.pt")
    a = p.parse_args(argv)
    sources: dict[str, Any] = {} if a.no_real else default_real_sources()
    return TrainConfig(
        out=a.out, epochs=a.epochs, imgsz=a.imgsz or (640 if a.finetune else 320), seed=a.seed, device=a.device,
        synthetic=a.synthetic, finetune=a.finetune, threads=a.threads, batch=a.batch,
        workers=a.workers, real_repeat=a.real_repeat, resume=a.resume, **sources,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train_detector(config_from_args(argv))


if __name__ == "__main__":
    main()
