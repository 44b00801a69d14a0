"""Voting across one vehicle's reads."""

from __future__ import annotations

import pytest

from recognition.plates.vote import vote
from recognition.types import PlateRead


def test_no_reads() -> None:
    assert vote([]) is None
    assert vote([PlateRead("", 0.9)]) is None


def test_single_read_keeps_its_text() -> None:
    v = vote([PlateRead("ABC123", 0.8, (0.8,) * 6, "us")])
    assert v is not None
    assert (v.text, v.n_reads, v.region) == ("ABC123", 1, "us")
    assert v.confidence == pytest.approx(0.8)


def test_characters_are_voted_by_their_own_confidence() -> None:
    reads = [
        PlateRead("ABC123", 0.7, (0.9, 0.9, 0.9, 0.9, 0.9, 0.2)),
        PlateRead("ABC128", 0.7, (0.9, 0.9, 0.9, 0.9, 0.9, 0.9)),
        PlateRead("ABC123", 0.7, (0.9, 0.9, 0.9, 0.9, 0.9, 0.3)),
    ]
    v = vote(reads)
    assert v is not None and v.text == "ABC128"  # 0.9 beats 0.2 + 0.3
    assert v.char_confidences[0] == pytest.approx(1.0)
    assert v.char_confidences[5] == pytest.approx(0.9 / 1.4)


def test_length_with_most_weight_wins_and_disagreement_lowers_confidence() -> None:
    reads = [PlateRead("ABC123", 0.9), PlateRead("ABC1234", 0.4), PlateRead("ABC123", 0.8)]
    v = vote(reads)
    assert v is not None
    assert v.text == "ABC123" and v.n_reads == 3
    agree = vote([PlateRead("ABC123", 0.9), PlateRead("ABC123", 0.8)])
    assert agree is not None and v.confidence < agree.confidence


@pytest.mark.parametrize(
    ("regions", "expected"),
    [(("us", "us", "br"), "us"), ((None, None, None), None), ((None, "br", None), "br")],
)
def test_region_by_weight(regions: tuple[str | None, ...], expected: str | None) -> None:
    v = vote([PlateRead("ABC1234", 0.8, (), r) for r in regions])
    assert v is not None and v.region == expected
