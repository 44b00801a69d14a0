"""Reader training: network initialisation from english_g2, samples, a tiny run, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from recognition.ocr.network import CHARSET, NETWORK_NAME
from recognition.ocr.prep import IMG_H, IMG_W
from recognition.ocr.samples import RealCrop, real_sample, synthetic_sample


def test_synthetic_samples_are_lines_with_plate_labels() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        line, text = synthetic_sample(rng)
        assert line.shape == (IMG_H, IMG_W) and line.dtype == np.float32
        assert text and set(text) <= set(CHARSET)


def test_samples_are_reproducible_from_the_seed() -> None:
    a = [synthetic_sample(np.random.default_rng(7))[1] for _ in range(3)]
    b = [synthetic_sample(np.random.default_rng(7))[1] for _ in range(3)]
    assert a == b


def test_real_sample_keeps_the_label() -> None:
    crop = RealCrop(np.full((80, 160, 3), 200, np.uint8), "ABC123")
    line, text = real_sample(np.random.default_rng(1), crop)
    assert text == "ABC123" and line.shape == (IMG_H, IMG_W)


def test_english_g2_rows_are_remapped() -> None:
    torch = pytest.importorskip("torch")
    from recognition.ocr.network import G2_CHARACTERS, english_g2_path, from_english_g2

    model = from_english_g2()
    g2 = torch.load(english_g2_path(), map_location="cpu", weights_only=True)
    w = g2["module.Prediction.weight"]
    k = CHARSET.index("Q")
    assert torch.equal(model.Prediction.weight[k + 1], w[G2_CHARACTERS.index("Q") + 1])
    assert torch.equal(model.Prediction.weight[0], w[0])


@pytest.mark.slow
def test_tiny_training_run_writes_easyocr_network(tmp_path: Path) -> None:
    from lanecap.cli.reader_cmds import train_reader
    from recognition.plates.reader import EasyOcrReader, shipped_network

    result = CliRunner().invoke(
        train_reader,
        [
            "--out",
            str(tmp_path),
            "--no-real",
            "--steps",
            "2",
            "--batch",
            "4",
            "--workers",
            "0",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    best = tmp_path / "best"
    assert shipped_network(best)
    assert json.loads((tmp_path / "history.json").read_text())[-1]["step"] == 2.0
    reader = EasyOcrReader(models_dir=best, threads=1)
    assert reader.network == NETWORK_NAME
    reader.read(np.full((60, 200, 3), 200, np.uint8))
