"""The lane's plate reader asks RapidOCR's recogniser only where its own read is unsure."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from lanecap.components import with_second_reader
from recognition.types import Image, PlateRead


class Fixed:
    def __init__(self, read: PlateRead | None) -> None:
        self.value = read
        self.calls = 0

    def read(self, crop: Image) -> PlateRead | None:
        self.calls += 1
        return self.value


def test_none_keeps_our_reader_alone() -> None:
    ours = Fixed(None)
    assert with_second_reader(ours, "none") is ours


@pytest.mark.skipif(importlib.util.find_spec("rapidocr") is None, reason="rapidocr not installed")
def test_sure_reads_skip_the_second_reader_and_unsure_ones_ask_it() -> None:
    from recognition.plates.rapid import AgreementReader

    sure = PlateRead("ABC1234", 0.97, (0.97,) * 7, "us")
    reader = with_second_reader(Fixed(sure), "rapidocr")
    assert isinstance(reader, AgreementReader) and reader.how == "sure-or-confident"
    crop = np.full((40, 160, 3), 255, np.uint8)
    assert reader.read(crop) == sure
    unsure = PlateRead("ABC1234", 0.5, (0.5,) * 7, "us")
    ours = Fixed(unsure)
    second = with_second_reader(ours, "rapidocr")
    assert isinstance(second, AgreementReader)
    got = second.read(crop)  # a blank crop: RapidOCR reads nothing, ours stands
    assert got == unsure and ours.calls == 1
