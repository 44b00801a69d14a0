"""Hostile hot-list CSVs: any text gives a report (good rows in, bad rows named) or a clear error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recognition.plates.hotlist import HotlistImportError, import_csv

cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["ABC123", "'; DROP TABLE x;--", "../../x", "2026-13-45", ""]),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=6), max_size=8)


def _csv(header: list[str], body: list[list[str]]) -> str:
    def q(c: str) -> str:
        return '"' + c.replace('"', '""') + '"'

    return "\n".join(",".join(q(c) for c in r) for r in [header, *body])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    try:
        report = import_csv(text)
    except HotlistImportError as err:
        assert str(err)
        return
    assert all(r.line >= 1 and r.reason for r in report.rejected)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [["plate"], ["plate", "reason"], ["plate", "reason", "region", "expires", "note"]]
    ),
    rows,
)
def test_rows_are_each_accepted_or_rejected_with_a_line_number(
    header: list[str], body: list[list[str]]
) -> None:
    text = _csv(header, body)
    try:
        report = import_csv(text)
    except HotlistImportError as err:
        assert str(err)
        return
    assert len(report.accepted) + len(report.rejected) <= len(body)
    # Line numbers are the file's lines (a quoted cell may span several).
    assert all(2 <= r.line <= text.count("\n") + text.count("\r") + 1 for r in report.rejected)
    for e in report.accepted:
        assert e.plate.isalnum() and e.plate == e.plate.upper()
