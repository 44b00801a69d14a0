"""Hot lists: match plate reads against listed plates, and import lists from CSV.

Pure functions and frozen dataclasses; storing lists and alerting is the caller's job.

Matching a read (`Hotlist.match`) finds, best first:

* `exact`: the same text;
* `confusable`: the same text once look-alike characters are folded together
  (O/Q/D/0, I/1, B/8, S/5, Z/2, G/6), e.g. a read `8OB123` against `BOB123`;
* `fuzzy`: within one edit (insert, delete or substitute a character) of the
  folded text, e.g. a read with a missed character.

CSV import (`import_csv`): a header row with `plate` (required) and optionally
`reason`, `region`, `expires` (ISO date), `note`; any other column is an error.
Rows are validated one by one: accepted ones become entries, rejected ones are
reported with their line number and the reason, so a list with a bad row still loads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from recognition.plates.grammar import REGIONS, Region

MatchKind = Literal["exact", "confusable", "fuzzy"]
_RANK: dict[MatchKind, int] = {"exact": 0, "confusable": 1, "fuzzy": 2}
FOLD: dict[str, str] = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "I": "1",
    "B": "8",
    "S": "5",
    "Z": "2",
    "G": "6",
}
"""Look-alike characters folded onto one representative for confusable-aware matching."""
MIN_LEN, MAX_LEN = 2, 10
COLUMNS = ("plate", "reason", "region", "expires", "note")


class HotlistImportError(ValueError):
    """The CSV as a whole cannot be imported (no header, no `plate` column, unknown column)."""


@dataclass(frozen=True)
class HotlistEntry:
    """One listed plate: normalised text (A-Z0-9), why it is listed, optional region and expiry."""

    plate: str
    reason: str = ""
    region: Region | None = None
    expires: dt.date | None = None
    note: str = ""


@dataclass(frozen=True)
class HotlistMatch:
    """A listed entry that a read matched, how, and the edit distance of the folded texts."""

    entry: HotlistEntry
    kind: MatchKind
    distance: int


@dataclass(frozen=True)
class RejectedRow:
    """A CSV row that was not imported: its 1-based line number in the file and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """The outcome of a CSV import: accepted entries (file order) and rejected rows."""

    accepted: tuple[HotlistEntry, ...]
    rejected: tuple[RejectedRow, ...]


def normalise_plate(text: str) -> str:
    """Upper-case, A-Z0-9 only: `ab-12 cd` -> `AB12CD`."""
    return "".join(c for c in text.upper() if "A" <= c <= "Z" or "0" <= c <= "9")


def fold(text: str) -> str:
    """The confusable-folded form of a normalised plate text."""
    return "".join(FOLD.get(c, c) for c in text)


def within_one_edit(a: str, b: str) -> bool:
    """Whether Levenshtein(a, b) <= 1, in linear time."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _deletes(text: str) -> set[str]:
    return {text} | {text[:i] + text[i + 1 :] for i in range(len(text))}


class Hotlist:
    """An in-memory index of entries for exact, confusable and one-edit fuzzy matching.

    Fuzzy lookup uses a symmetric-delete index (each folded text and its one-character
    deletions), so a query costs O(length) dictionary lookups, not a scan.
    Expired entries (on `today`) never match.
    """

    def __init__(self, entries: Iterable[HotlistEntry]) -> None:
        self.entries = tuple(entries)
        self._exact: dict[str, list[HotlistEntry]] = defaultdict(list)
        self._folded: dict[str, list[HotlistEntry]] = defaultdict(list)
        self._deletes: dict[str, list[HotlistEntry]] = defaultdict(list)
        for e in self.entries:
            self._exact[e.plate].append(e)
            f = fold(e.plate)
            self._folded[f].append(e)
            for d in _deletes(f):
                self._deletes[d].append(e)

    def __len__(self) -> int:
        return len(self.entries)

    def match(
        self, text: str, *, fuzzy: bool = True, today: dt.date | None = None
    ) -> list[HotlistMatch]:
        """Entries matching a read, best first (exact, confusable, fuzzy), one per entry."""
        plate = normalise_plate(text)
        if not plate:
            return []
        folded = fold(plate)
        found: dict[int, HotlistMatch] = {}

        def add(e: HotlistEntry, kind: MatchKind, distance: int) -> None:
            if today is not None and e.expires is not None and e.expires < today:
                return
            cur = found.get(id(e))
            if cur is None or _RANK[kind] < _RANK[cur.kind]:
                found[id(e)] = HotlistMatch(e, kind, distance)

        for e in self._exact.get(plate, ()):
            add(e, "exact", 0)
        for e in self._folded.get(folded, ()):
            add(e, "confusable", 0)
        if fuzzy:
            for d in _deletes(folded):
                for e in self._deletes.get(d, ()):
                    if id(e) not in found and within_one_edit(folded, fold(e.plate)):
                        add(e, "fuzzy", 1)
        return sorted(found.values(), key=lambda m: (_RANK[m.kind], m.entry.plate))


def _row_entry(row: dict[str, str]) -> HotlistEntry | str:
    """An entry, or the reason the row is rejected."""
    raw = (row.get("plate") or "").strip()
    if not raw:
        return "plate is empty"
    if any(not (c.isalnum() or c in " -.") for c in raw) or not raw.isascii():
        return "plate has characters other than A-Z, 0-9, space, dash or dot"
    plate = normalise_plate(raw)
    if not MIN_LEN <= len(plate) <= MAX_LEN:
        return f"plate must have {MIN_LEN} to {MAX_LEN} letters or digits (has {len(plate)})"
    region_text = (row.get("region") or "").strip().lower()
    region: Region | None = None
    if region_text:
        matched = [r for r in REGIONS if r == region_text]
        if not matched:
            return f"unknown region {region_text!r} (expected one of {', '.join(REGIONS)})"
        region = matched[0]
    expires: dt.date | None = None
    exp_text = (row.get("expires") or "").strip()
    if exp_text:
        try:
            expires = dt.date.fromisoformat(exp_text)
        except ValueError:
            return f"expires is not an ISO date (YYYY-MM-DD): {exp_text!r}"
    reason = (row.get("reason") or "").strip()
    if len(reason) > 200:
        return "reason is longer than 200 characters"
    return HotlistEntry(plate, reason, region, expires, (row.get("note") or "").strip())


def import_csv(text: str | io.TextIOBase) -> ImportReport:
    """Validate a hot-list CSV (see the module docstring); duplicates of a plate are rejected."""
    stream = io.StringIO(text, newline="") if isinstance(text, str) else text
    reader = csv.reader(stream)
    try:
        return _read_rows(reader)
    except csv.Error as err:
        raise HotlistImportError(f"line {reader.line_num}: not valid CSV ({err})") from None


def _read_rows(reader: Any) -> ImportReport:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise HotlistImportError(
            "the CSV is empty (a header row with `plate` is required)"
        ) from None
    if "plate" not in header:
        raise HotlistImportError("the header has no `plate` column")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise HotlistImportError(
            f"unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}"
        )
    accepted: list[HotlistEntry] = []
    rejected: list[RejectedRow] = []
    first_line: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            rejected.append(RejectedRow(line, f"expected {len(header)} fields, got {len(values)}"))
            continue
        result = _row_entry(dict(zip(header, values, strict=True)))
        if isinstance(result, str):
            rejected.append(RejectedRow(line, result))
            continue
        if result.plate in first_line:
            rejected.append(RejectedRow(line, f"duplicate of line {first_line[result.plate]}"))
            continue
        first_line[result.plate] = line
        accepted.append(result)
    return ImportReport(tuple(accepted), tuple(rejected))
