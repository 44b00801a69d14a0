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


def test_real_sample_with_surroundings_keeps_the_label() -> None:
    photo = np.full((120, 300, 3), 90, np.uint8)
    photo[40:80, 100:200] = 230
    crop = RealCrop(photo, "XYZ789", (100.0, 40.0, 200.0, 80.0))
    for seed in range(5):
        line, text = real_sample(np.random.default_rng(seed), crop)
        assert text == "XYZ789" and line.shape == (IMG_H, IMG_W)


def test_box_manifests_train_on_plates_with_surroundings(tmp_path: Path) -> None:
    import cv2

    from recognition.ocr.train import CONTEXT, load_real
    from recognition.plates.manifest import split_of

    rows = ["file,plate_text,x,y,w,h"]
    for k in range(12):
        cv2.imwrite(str(tmp_path / f"car{k}.png"), np.full((200, 300, 3), 120, np.uint8))
        rows.append(f"car{k}.png,AB{k}C,100,80,100,40")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    train, val = load_real((tmp_path / "m.csv",))
    assert len(train) + len(val) == 12
    assert len(val) == sum(split_of(f"car{k}.png") == "val" for k in range(12))
    for c in train:
        assert c.box == (100 * CONTEXT, 40 * CONTEXT, 100 * (1 + CONTEXT), 40 * (1 + CONTEXT))
        assert c.image.shape[:2] == (round(40 * (1 + 2 * CONTEXT)), round(100 * (1 + 2 * CONTEXT)))
    assert all(c.box is None for c in val)


def test_shipped_weights_load_back(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from recognition.ocr.network import build_model, load_network, save_for_easyocr

    model = build_model()
    pth = save_for_easyocr(model, tmp_path)
    back = load_network(pth)
    w = model.Prediction.weight.detach()
    assert torch.allclose(back.Prediction.weight, w.half().float())
