"""Training end to end (tiny, slow): dataset generation, ultralytics, ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_train_tiny_then_detect(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lanecap.cli.plates_cmds import train_detector
    from recognition.plates.detector import YoloPlateDetector

    out = tmp_path / "run"
    args = ["--out", str(out), "--epochs", "1", "--synthetic", "16", "--imgsz", "128", "--no-real",
            "--batch", "8", "--device", "cpu", "--threads", "2"]  # fmt: skip
    res = CliRunner().invoke(train_detector, args)
    assert res.exit_code == 0, res.output
    assert (out / "plate_yolo.pt").is_file() and (out / "plate_yolo.onnx").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["seed"] == 0 and metrics["dataset"]["images"]["train"] == 16
    import numpy as np

    dets = YoloPlateDetector(out / "plate_yolo.onnx", threads=2).detect(
        np.zeros((72, 128, 3), np.uint8)
    )
    assert isinstance(dets, list)


def test_base_checkpoint_is_only_taken_with_finetune(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lanecap.cli.plates_cmds import train_detector

    ckpt = tmp_path / "finder.pt"
    ckpt.write_bytes(b"not used")
    res = CliRunner().invoke(train_detector, ["--base", str(ckpt), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--base needs --finetune" in res.output
    assert not (tmp_path / "o").exists()
