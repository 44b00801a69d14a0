"""Plate grammars: formats per region, confusable repairs only where a format demands them."""

from __future__ import annotations

import pytest

from recognition.plates.grammar import (
    FORMATS,
    REGIONS,
    REPAIR_PENALTY,
    clean,
    fits,
    matching_regions,
    normalise,
    region_formats,
)


@pytest.mark.parametrize(
    ("text", "regions", "expected_text", "expected_region"),
    [
        # already valid: untouched, first region in the caller's order wins
        ("7ABC123", ("us",), "7ABC123", "us"),
        ("ABC1234", ("br", "us"), "ABC1234", "br"),
        ("ABC1234", ("us", "br"), "ABC1234", "us"),
        ("ABC1D23", ("br",), "ABC1D23", "br"),  # Mercosur
        ("AB123CD", ("it",), "AB123CD", "it"),
        ("AB123CD", ("fr",), "AB123CD", "fr"),
        ("1234BCD", ("es",), "1234BCD", "es"),
        ("B123ABC", ("ro",), "B123ABC", "ro"),
        ("CJ07XYZ", ("ro",), "CJ07XYZ", "ro"),
        ("AB12CDE", ("gb",), "AB12CDE", "gb"),
        ("MAB1234", ("de",), "MAB1234", "de"),
        ("B1", ("de",), "B1", None),  # too short for any German format
        ("WX12345", ("pl",), "WX12345", "pl"),
        ("12ABC3", ("nl",), "12ABC3", "nl"),
        # repairs where a position demands a digit / letter
        ("ABCI234", ("br",), "ABC1234", "br"),
        ("A8C1234", ("br",), "ABC1234", "br"),
        ("AB1O3CD", ("it",), "AB103CD", "it"),
        ("5B123CD", ("it",), "SB123CD", "it"),
        ("AB123C0", ("it",), "AB123CO", "it"),
        ("1234BC0", ("es",), "1234BCO", "es"),
        ("GAB1234", ("br",), "GAB1234", "br"),  # G is a letter position: no change
        # no format reachable: returned as read, no region (vanity plates exist)
        ("ALKATRZ", ("it", "es"), "ALKATRZ", None),
        # the US is an open region (vanity plates): never repaired, any 2-8 characters
        ("ALKATRZ", ("us",), "ALKATRZ", "us"),
        ("ABCI234", ("us", "br"), "ABCI234", "us"),
        ("A8C1234", ("br", "us"), "A8C1234", "us"),
        ("ABC1234", ("br", "us"), "ABC1234", "br"),
        ("ABCDEFGHI", ("us",), "ABCDEFGHI", None),
        ("OLDGRL", ("it",), "OLDGRL", None),
    ],
)
def test_normalise(
    text: str, regions: tuple[str, ...], expected_text: str, expected_region: str | None
) -> None:
    out = normalise(text, regions=regions)  # type: ignore[arg-type]
    assert (out.text, out.region) == (expected_text, expected_region)


def test_repair_lowers_confidence_of_repaired_characters_only() -> None:
    out = normalise("ABCI234", [0.9, 0.9, 0.9, 0.6, 0.9, 0.9, 0.9], regions=("br",))
    assert out.repairs == (3,)
    assert out.char_confidences[3] == pytest.approx(0.6 * REPAIR_PENALTY)
    assert out.char_confidences[0] == pytest.approx(0.9)


def test_repair_overrules_the_least_confident_characters() -> None:
    # "0B123CD" could be IT with 0->O; "AB12ECD" needs E->3; the cheaper repair wins
    low_first = normalise("0B123CD", [0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], regions=("it",))
    assert low_first.text == "OB123CD"


def test_at_most_max_repairs() -> None:
    assert normalise("ABCIZSB", regions=("br",), max_repairs=2).region is None
    assert normalise("AB0I234", regions=("br",), max_repairs=1).region is None
    assert normalise("AB0I234", regions=("br",), max_repairs=2).text == "ABO1234"
    assert normalise("ABCIZ34", regions=("br",)).text == "ABC1Z34"  # Mercosur, one repair


def test_spaces_and_dashes_are_dropped_with_their_confidences() -> None:
    out = normalise("ab-123-cd", [0.5, 0.5, 0.1, 0.7, 0.7, 0.7, 0.1, 0.5, 0.5], regions=("fr",))
    assert out.text == "AB123CD"
    assert out.char_confidences == (0.5, 0.5, 0.7, 0.7, 0.7, 0.5, 0.5)


def test_every_region_has_formats_of_known_classes() -> None:
    for region in REGIONS:
        assert FORMATS[region], region
        for fmt in FORMATS[region]:
            assert set(fmt) <= {"L", "D", "A"} and 2 <= len(fmt) <= 9, (region, fmt)


def test_helpers() -> None:
    assert clean(" ab-1.2 ") == "AB12"
    assert fits("AB1", "LLD") and not fits("AB1", "LLL") and fits("A1", "AA")
    assert "br" in matching_regions("ABC1234")
    assert region_formats("us", state="CA") == ("DLLLDDD",)
    assert region_formats("us", state="zz") == FORMATS["us"]
