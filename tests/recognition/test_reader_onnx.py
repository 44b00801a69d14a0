"""The plate network under ONNX Runtime: exported from the shipped weights, same reads as torch."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.ocr.network import NETWORK_NAME
from recognition.ocr.onnx_export import ONNX_PATH, PTH_PATH, SHA_KEY, sha256
from recognition.plates.reader import EasyOcrReader, shipped_network

pytestmark = pytest.mark.skipif(not shipped_network(), reason="plate network not shipped")


def _plate(text: str, *, h: int = 60, w: int = 210, tilt: float = 0.0) -> np.ndarray:
    img = np.full((h, w, 3), 230, np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), (25, 25, 25), 2)
    cv2.putText(img, text, (10, int(h * 0.74)), cv2.FONT_HERSHEY_SIMPLEX, h / 42, (15, 15, 15), 3)
    if tilt:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return img


def test_shipped_onnx_was_exported_from_the_shipped_weights() -> None:
    # Fails after a retrain without `python -m recognition.ocr.onnx_export`.
    import onnxruntime as ort

    assert ONNX_PATH.is_file(), "export with `python -m recognition.ocr.onnx_export`"
    meta = ort.InferenceSession(str(ONNX_PATH)).get_modelmeta().custom_metadata_map
    assert meta[SHA_KEY] == sha256(PTH_PATH)
    assert ONNX_PATH.stat().st_size < PTH_PATH.stat().st_size * 1.1  # float16 weights


def test_onnx_and_torch_read_alike() -> None:
    pytest.importorskip("easyocr")
    onnx = EasyOcrReader(threads=1, backend="onnx")
    torch = EasyOcrReader(threads=1, backend="torch")
    assert (onnx.backend, torch.backend) == ("onnx", "torch")
    rng = np.random.default_rng(7)
    crops = [_plate("ABC1234"), _plate("7XK219", tilt=4.0), _plate("B", h=80, w=90)]
    crops += [rng.integers(0, 255, (40, 160, 3), dtype=np.uint8)]
    crops += [cv2.GaussianBlur(_plate("KD55MW"), (5, 5), 0), _plate("GX07PLN", h=36, w=150)]
    got, want = onnx.read_many(crops), torch.read_many(crops)
    for a, b in zip(got, want, strict=True):
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a.text == b.text
            assert a.confidence == pytest.approx(b.confidence, abs=1e-3)
            assert np.allclose(a.char_confidences, b.char_confidences, atol=1e-3)
    probs = onnx._probs([np.zeros((64, 192), np.float32)] * 2)
    assert probs.shape[0] == 2 and np.allclose(probs.sum(axis=2), 1.0, atol=1e-4)


def _models_copy(tmp_path: Path) -> Path:
    for ext in (".pth", ".yaml", ".py", ".onnx"):
        shutil.copy(PTH_PATH.with_suffix(ext), tmp_path / f"{NETWORK_NAME}{ext}")
    return tmp_path


def test_a_stale_onnx_falls_back_to_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("easyocr")
    onnx = pytest.importorskip("onnx")
    models = _models_copy(tmp_path)
    model = onnx.load(str(models / f"{NETWORK_NAME}.onnx"))
    for p in model.metadata_props:
        if p.key == SHA_KEY:
            p.value = "0" * 64  # as if the .pth had been retrained since the export
    onnx.save(model, str(models / f"{NETWORK_NAME}.onnx"))
    with caplog.at_level(logging.WARNING):
        r = EasyOcrReader(threads=1, models_dir=models)
    assert r.backend == "torch"
    assert "re-export" in caplog.text
    assert r.read(_plate("ABC1234")) is not None
    with pytest.raises(RuntimeError, match="onnx_export"):
        EasyOcrReader(threads=1, models_dir=models, backend="onnx")


def test_no_onnx_reads_with_torch(tmp_path: Path) -> None:
    pytest.importorskip("easyocr")
    models = _models_copy(tmp_path)
    (models / f"{NETWORK_NAME}.onnx").unlink()
    assert EasyOcrReader(threads=1, models_dir=models).backend == "torch"
    assert EasyOcrReader(threads=1).backend == "onnx"  # the shipped default


def test_export_gives_the_shipped_network(tmp_path: Path) -> None:
    pytest.importorskip("easyocr")
    import onnxruntime as ort

    from recognition.ocr.onnx_export import export

    out = export(PTH_PATH, tmp_path / "again.onnx")
    x = np.random.default_rng(1).uniform(-1, 1, (3, 1, 64, 192)).astype(np.float32)
    a = ort.InferenceSession(str(out)).run(None, {"image": x})[0]
    b = ort.InferenceSession(str(ONNX_PATH)).run(None, {"image": x})[0]
    # logits reach ~10; a fresh export differs from the shipped file by ~3e-5
    assert a.shape == b.shape and np.allclose(a, b, atol=1e-4)
