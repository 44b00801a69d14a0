"""The PP-OCR second reader (`recognition.plates.rapid`) and the per-character agreement.

The agreement rule is tested with hand-made reads; the reader itself on plates drawn
with cv2.putText, and skipped when the rapidocr wheel (which carries the model) is
not installed.
"""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from recognition.plates.rapid import (
    MERGES,
    AgreementReader,
    Merge,
    RapidPlateReader,
    agree,
    merge,
    more_confident,
    needs_second,
)
from recognition.types import Image, PlateRead

HAVE_RAPIDOCR = importlib.util.find_spec("rapidocr") is not None
needs_rapidocr = pytest.mark.skipif(not HAVE_RAPIDOCR, reason="rapidocr not installed")


def _read(text: str, confs: tuple[float, ...], region: str | None = "us") -> PlateRead:
    return PlateRead(text, float(np.prod(confs) ** (1 / len(confs))), confs, region)


def _plate(text: str, *, h: int = 60, w: int = 220) -> Image:
    img = np.full((h, w, 3), 235, np.uint8)
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), (20, 20, 20), 2)
    cv2.putText(img, text, (12, int(h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (10, 10, 10), 3)
    return img


OURS = _read("ABC1234", (0.99, 0.99, 0.4, 0.99, 0.99, 0.99, 0.99))


@pytest.mark.parametrize(
    ("ours", "other", "want"),
    [
        (None, None, None),
        (OURS, None, "ABC1234"),
        (None, OURS, "ABC1234"),
        (OURS, OURS, "ABC1234"),
        # same length: the third character from the side sure of it
        (OURS, _read("ABG1284", (0.5, 0.5, 0.95, 0.5, 0.5, 0.2, 0.5)), "ABG1234"),
        # different lengths: ours, both fitting a format
        (OURS, _read("ABC123", (0.99,) * 6), "ABC1234"),
        # different lengths: the other side when only it fits a format
        (
            _read("XABC1234X", (0.9,) * 9, region=None),
            _read("ABC1234", (0.6,) * 7),
            "ABC1234",
        ),
    ],
)
def test_agree_table(ours: PlateRead | None, other: PlateRead | None, want: str | None) -> None:
    got = agree(ours, other)
    assert (got.text if got is not None else None) == want
    if got is not None:
        assert len(got.char_confidences) == len(got.text)


def test_agree_keeps_per_character_confidences() -> None:
    got = agree(OURS, _read("ABG1234", (0.5, 0.5, 0.95, 0.5, 0.5, 0.5, 0.5)))
    assert got is not None
    assert got.char_confidences[2] == pytest.approx(0.95)
    assert got.char_confidences[0] == pytest.approx(0.99)


class _Fixed:
    def __init__(self, read: PlateRead | None) -> None:
        self.value = read
        self.calls = 0

    def read(self, crop: Image) -> PlateRead | None:
        self.calls += 1
        return self.value


SURE = _read("ABC1234", (0.99,) * 7)
UNSURE_SAME_LENGTH = _read("ABG1284", (0.5, 0.5, 0.95, 0.5, 0.5, 0.2, 0.5))
MORE_CONFIDENT = _read("XYZ987", (0.97,) * 6)


def test_more_confident_takes_the_whole_read() -> None:
    assert more_confident(OURS, MORE_CONFIDENT) == MORE_CONFIDENT
    assert more_confident(SURE, MORE_CONFIDENT) == SURE
    assert more_confident(None, SURE) == SURE


@pytest.mark.parametrize(
    ("first", "how", "second_needed", "want"),
    [
        (OURS, "per-char", True, "ABG1234"),
        (SURE, "per-char", True, "ABC1234"),
        (SURE, "if-unsure", False, "ABC1234"),
        (OURS, "if-unsure", True, "ABG1234"),
        (OURS, "more-confident", True, "ABC1234"),
        (SURE, "sure-or-confident", False, "ABC1234"),
        (None, "sure-or-confident", True, "ABG1284"),
    ],
)
def test_merges(first: PlateRead | None, how: Merge, second_needed: bool, want: str) -> None:
    assert needs_second(first, how) is second_needed
    a, b = _Fixed(first), _Fixed(UNSURE_SAME_LENGTH)
    got = AgreementReader(a, b, how=how).read(_plate("X"))
    assert got is not None and got.text == want
    assert b.calls == int(second_needed)
    if second_needed:
        assert merge(first, UNSURE_SAME_LENGTH, how) == got


def test_every_merge_is_tested() -> None:
    assert set(MERGES) == {"per-char", "if-unsure", "more-confident", "sure-or-confident"}


@pytest.fixture(scope="module")
def rapid() -> RapidPlateReader:
    return RapidPlateReader(threads=1)


@needs_rapidocr
@pytest.mark.parametrize("text", ["ABC1234", "7XYZ123", "KD4521"])
def test_rapid_reads_rendered_plates(rapid: RapidPlateReader, text: str) -> None:
    read = rapid.read(_plate(text))
    assert read is not None
    assert read.text == text
    assert len(read.char_confidences) == len(text)
    assert 0.0 < read.confidence <= 1.0
    assert read.region is not None


@needs_rapidocr
def test_rapid_batch_equals_single_and_skips_tiny(rapid: RapidPlateReader) -> None:
    crops = [_plate("ABC1234"), np.zeros((2, 2, 3), np.uint8), _plate("KD4521", w=180)]
    many = rapid.read_many(crops)
    assert many[1] is None
    for crop, got in zip(crops, many, strict=True):
        if got is not None:
            one = rapid.read(crop)
            assert one is not None and one.text == got.text


@needs_rapidocr
def test_rapid_blank_crop_reads_nothing(rapid: RapidPlateReader) -> None:
    assert rapid.read(np.full((40, 120, 3), 235, np.uint8)) is None


@needs_rapidocr
def test_min_confidence_drops_reads() -> None:
    strict = RapidPlateReader(threads=1, min_confidence=1.01)
    assert strict.read(_plate("ABC1234")) is None
