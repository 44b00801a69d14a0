"""Plate reader: preprocessing, CTC decoding, network files, the EasyOCR-backed reader."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.ocr.decode import greedy, softmax
from recognition.ocr.network import CHARSET, NETWORK_NAME, write_network_files
from recognition.ocr.prep import IMG_H, IMG_W, deskew, prepare, skew_angle, split_rows, stretch
from recognition.plates.confirm import sure
from recognition.plates.reader import EasyOcrReader, shipped_network

SHARED = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


def _plate(text: str, *, h: int = 60, w: int = 200, angle: float = 0.0) -> np.ndarray:
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), (20, 20, 20), 2)
    cv2.putText(img, text, (12, int(h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (10, 10, 10), 3)
    if angle:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return img


def _probs(path: list[int], n_classes: int = len(CHARSET) + 1, p: float = 0.9) -> np.ndarray:
    out = np.full((len(path), n_classes), (1 - p) / (n_classes - 1), np.float32)
    for t, k in enumerate(path):
        out[t, k] = p
    return out


def test_greedy_collapses_repeats_and_blanks() -> None:
    a, b = CHARSET.index("A") + 1, CHARSET.index("B") + 1
    dec = greedy(_probs([0, a, a, 0, a, b, b, 0]))
    assert dec.text == "AAB"
    assert len(dec.char_confidences) == 3
    assert dec.confidence == pytest.approx(0.9)
    assert greedy(_probs([0, 0, 0])).text == ""


def test_char_confidence_is_the_best_step_of_its_run() -> None:
    a = CHARSET.index("A") + 1
    probs = _probs([a, a])
    probs[1, a] = 0.99
    assert greedy(probs).char_confidences == (pytest.approx(0.99),)


def test_softmax_rows_sum_to_one() -> None:
    p = softmax(np.random.default_rng(0).normal(size=(5, 37)).astype(np.float32))
    assert np.allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize("shape", [(12, 30), (60, 200), (200, 400), (90, 60)])
def test_prepare_gives_one_network_line(shape: tuple[int, int]) -> None:
    crop = _plate("AB123", h=shape[0], w=shape[1])
    line = prepare(crop)
    assert line.shape == (IMG_H, IMG_W) and line.dtype == np.float32
    assert line.min() >= -1.0 and line.max() <= 1.0
    assert prepare(crop, two_rows=True).shape == (IMG_H, IMG_W)


def test_stretch_expands_low_contrast() -> None:
    flat = np.full((20, 40), 120, np.uint8)
    flat[5:15, 10:30] = 140
    out = stretch(flat)
    assert out.max() - out.min() > 200
    assert stretch(np.full((5, 5), 9, np.uint8)).max() == 9  # nothing to stretch


def test_deskew_levels_a_rotated_plate() -> None:
    gray = cv2.cvtColor(_plate("ABC1234", h=80, w=260, angle=7.0), cv2.COLOR_BGR2GRAY)
    assert abs(skew_angle(gray)) >= 4.0
    assert abs(skew_angle(deskew(gray))) < 2.5
    level = cv2.cvtColor(_plate("ABC1234", h=80, w=260), cv2.COLOR_BGR2GRAY)
    assert skew_angle(level) == 0.0


def test_split_rows_puts_two_rows_side_by_side() -> None:
    img = np.full((100, 120), 230, np.uint8)
    cv2.putText(img, "AB", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    cv2.putText(img, "123", (10, 90), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 3)
    out = split_rows(img)
    assert out.shape[0] < 70 and out.shape[1] > 200


def test_network_files_are_what_easyocr_reads(tmp_path: Path) -> None:
    import yaml

    write_network_files(tmp_path)
    cfg = yaml.safe_load((tmp_path / f"{NETWORK_NAME}.yaml").read_text())
    assert cfg["character_list"] == CHARSET and cfg["imgH"] == IMG_H
    assert cfg["network_params"] == {"input_channel": 1, "output_channel": 256, "hidden_size": 256}
    assert "Model" in (tmp_path / f"{NETWORK_NAME}.py").read_text()
    assert not shipped_network(tmp_path)  # no weights there


@pytest.fixture(scope="module")
def reader() -> EasyOcrReader:
    pytest.importorskip("easyocr")
    return EasyOcrReader(threads=2)


def test_reader_contract(reader: EasyOcrReader) -> None:
    assert reader.read(np.zeros((0, 0, 3), np.uint8)) is None
    assert reader.read(np.zeros((3, 50, 3), np.uint8)) is None
    blank = np.full((60, 200, 3), 200, np.uint8)
    out = reader.read_many([blank, _plate("AB123"), np.zeros((2, 2, 3), np.uint8)])
    assert len(out) == 3 and out[2] is None
    read = out[1]
    if read is not None:
        assert read.text.isalnum() and read.text == read.text.upper()
        assert len(read.char_confidences) == len(read.text)
        assert all(0.0 <= c <= 1.0 for c in read.char_confidences)
        assert 0.0 <= read.confidence <= 1.0


def test_reader_uses_shipped_network_by_default(reader: EasyOcrReader) -> None:
    assert reader.network == ("plate_reader" if shipped_network() else "english_g2")


def test_min_confidence_drops_weak_reads() -> None:
    pytest.importorskip("easyocr")
    strict = EasyOcrReader(min_confidence=1.01)
    assert strict.read(_plate("AB123")) is None


@pytest.mark.slow
def test_reader_on_real_crops() -> None:
    from recognition.plates.read_eval import evaluate_reader

    manifest = SHARED / "plates" / "openalpr-us-crops" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"real data not available: {manifest} is absent")
    if not shipped_network():
        pytest.skip("fine-tuned plate network not shipped")
    report = evaluate_reader(manifest, reader=EasyOcrReader(threads=1), split="val")
    assert report["overall"]["n"] > 100
    assert report["overall"]["exact"] >= 0.9  # measured 0.919 (see the model card)


def test_tta_and_two_rows_options_keep_the_contract() -> None:
    pytest.importorskip("easyocr")
    r = EasyOcrReader(threads=1, framings="consensus", two_rows="always", regions=("br",))
    out = r.read_many([_plate("ABC1234"), _plate("AB", h=80, w=90)])
    assert len(out) == 2
    for read in out:
        if read is not None:
            assert len(read.char_confidences) == len(read.text)
            assert read.region in (None, "br")


def test_adaptive_framings_read_more_only_when_unsure() -> None:
    pytest.importorskip("easyocr")
    r = EasyOcrReader(threads=1, framings="adaptive")
    batches: list[int] = []
    real = r._probs

    def counting(lines: list[np.ndarray]) -> np.ndarray:
        batches.append(len(lines))
        return real(lines)

    r._probs = counting  # type: ignore[method-assign]
    clear = r.read(_plate("ABC1234"))
    assert sure(clear), clear
    assert batches == [1]  # sure at the first framing: no second batch
    batches.clear()
    noise = np.random.default_rng(3).integers(0, 255, (40, 160, 3), dtype=np.uint8)
    unsure = r.read(noise)
    assert batches == [1, 3]  # the other three framings were read
    r.framings = "consensus"
    assert r.read(noise) == unsure  # then the same four-framing consensus decides


@pytest.mark.parametrize("s", [-0.4, -0.25, 0.25, 0.4])
def test_deslant_finds_the_shear_of_a_plate_seen_from_the_side(s: float) -> None:
    from recognition.ocr.prep import slant

    gray = cv2.cvtColor(_plate("ABC1234", h=80, w=260), cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    m = np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32)
    sheared = cv2.warpAffine(gray, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    assert slant(sheared) == pytest.approx(-s, abs=0.051)
    assert slant(gray) == 0.0  # an upright plate is left alone
