"""Hot lists: exact, confusable and one-edit matching; CSV import with a rejection report."""

from __future__ import annotations

import datetime as dt

import pytest

from recognition.plates.hotlist import (
    Hotlist,
    HotlistEntry,
    HotlistImportError,
    fold,
    import_csv,
    normalise_plate,
    within_one_edit,
)

LIST = Hotlist(
    [
        HotlistEntry("BOB123", reason="stolen"),
        HotlistEntry("7ABC123", reason="amber alert", region="us"),
        HotlistEntry("XYZ999", expires=dt.date(2020, 1, 1)),
    ]
)


@pytest.mark.parametrize(
    ("read", "plate", "kind"),
    [
        ("BOB123", "BOB123", "exact"),
        ("bob-123", "BOB123", "exact"),
        ("8OB123", "BOB123", "confusable"),
        ("B0B12\u0417", None, None),  # Cyrillic Ze is not a plate character: 'B0B12' -> fuzzy below
        ("BOB1234", "BOB123", "fuzzy"),  # one inserted
        ("BOB12", "BOB123", "fuzzy"),  # one missed
        ("BOB124", "BOB123", "fuzzy"),  # one substituted
        ("8O8I23", "BOB123", "confusable"),
        ("7A8C1Z3", "7ABC123", "confusable"),
        ("7ABC12", "7ABC123", "fuzzy"),
        ("BOX999", None, None),
        ("", None, None),
    ],
)
def test_match(read: str, plate: str | None, kind: str | None) -> None:
    found = LIST.match(read)
    if read == "B0B12\u0417":  # normalises to B0B12: one deletion from the folded entry
        assert [(m.entry.plate, m.kind) for m in found] == [("BOB123", "fuzzy")]
        return
    if plate is None:
        assert found == []
    else:
        assert (found[0].entry.plate, found[0].kind) == (plate, kind)


def test_fuzzy_can_be_switched_off_and_expired_entries_do_not_match() -> None:
    assert LIST.match("BOB124", fuzzy=False) == []
    assert LIST.match("XYZ999")[0].kind == "exact"
    assert LIST.match("XYZ999", today=dt.date(2026, 1, 1)) == []


def test_best_match_first_and_one_per_entry() -> None:
    hl = Hotlist([HotlistEntry("ABC123"), HotlistEntry("ABC128"), HotlistEntry("A8C123")])
    kinds = [(m.entry.plate, m.kind) for m in hl.match("ABC123")]
    assert kinds == [("ABC123", "exact"), ("A8C123", "confusable"), ("ABC128", "fuzzy")]


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [("ABC", "ABC", True), ("ABC", "ABD", True), ("ABC", "AC", True), ("ABC", "ABCD", True),
     ("ABC", "BCA", False), ("ABC", "A", False), ("", "A", True)],
)  # fmt: skip
def test_within_one_edit(a: str, b: str, ok: bool) -> None:
    assert within_one_edit(a, b) is ok
    assert within_one_edit(b, a) is ok


def test_fold_and_normalise() -> None:
    assert normalise_plate("ab 12-c.d") == "AB12CD"
    assert fold("OQDIBSZG") == "00018526"


CSV_TEXT = """plate,reason,region,expires,note
BOB123,stolen,us,2030-01-01,seen twice
ab-12 cd,wanted,,,
,missing,,,
BOB123,duplicate,,,
X,too short,,,
AB#12,bad char,,,
CD345,,mars,,
EF678,,,tomorrow,
GH901,too,many,fields,here,extra

IJ234,ok,DE,,
"""


def test_import_csv_report() -> None:
    report = import_csv(CSV_TEXT)
    assert [e.plate for e in report.accepted] == ["BOB123", "AB12CD", "IJ234"]
    assert report.accepted[0].expires == dt.date(2030, 1, 1)
    assert report.accepted[2].region == "de"
    lines = {r.line: r.reason for r in report.rejected}
    assert sorted(lines) == [4, 5, 6, 7, 8, 9, 10]
    assert "empty" in lines[4]
    assert lines[5] == "duplicate of line 2"
    assert "2 to 10" in lines[6]
    assert "characters" in lines[7]
    assert "unknown region" in lines[8]
    assert "ISO date" in lines[9]
    assert "fields" in lines[10]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("reason,note\nx,y\n", "no `plate`"),
        ("plate,colour\nAB1,red\n", "unknown column"),
    ],
)
def test_import_csv_rejects_bad_headers(text: str, message: str) -> None:
    with pytest.raises(HotlistImportError, match=message):
        import_csv(text)
