"""Plate grammars per region: which character class each position of a plate may hold.

A format is a class string over `L` (letter), `D` (digit) and `A` (either), e.g.
Italy `LLDDDLL`. `normalise` compares a raw read with every format of the allowed
regions that has the read's length:

* a read that already fits a format is kept as it is (region = the first region,
  in the caller's order, with a fitting format);
* otherwise the cheapest format reachable by *confusable repairs* is used: a
  letter where the format needs a digit (or the reverse) is swapped for its
  look-alike (O/0, I/1, B/8, S/5, Z/2, G/6, and a few more), never anything else,
  and at most `max_repairs` times;
* a read that fits nothing even after repairs is returned unchanged with no region
  (foreign plates are legitimate).

*Open* regions (the US: vanity plates may be any 2-8 letters and digits, and
formats vary by state and series) make every such read plausible, so when an
open region is allowed nothing is repaired: its formats only guess the region,
and an unmatched read of 2-8 characters is attributed to the open region. This is
measured, not assumed: on the openalpr US crops, repairing towards the US formats
cost 12 points of exact match (0.84 -> 0.71 on the validation split).

A repaired character's confidence is multiplied by REPAIR_PENALTY.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal, get_args

Region = Literal["us", "br", "de", "fr", "it", "es", "nl", "pl", "ro", "gb"]
REGIONS: tuple[Region, ...] = get_args(Region)
EU_REGIONS: tuple[Region, ...] = ("de", "fr", "it", "es", "nl", "pl", "ro", "gb")

OPEN_REGIONS: frozenset[Region] = frozenset({"us"})
"""Regions whose plates may be any OPEN_LENGTHS letters and digits: never repaired."""
OPEN_LENGTHS = range(2, 9)
PLATE_TEXT = re.compile(r"^[A-Z0-9]+$")
REPAIR_PENALTY = 0.8

TO_DIGIT: dict[str, str] = {
    "O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "T": "1", "J": "1", "Z": "2",
    "B": "8", "S": "5", "G": "6", "A": "4", "E": "3",
}  # fmt: skip
"""Letter -> the digit it is most often misread for."""
TO_LETTER: dict[str, str] = {
    "0": "O", "1": "I", "2": "Z", "8": "B", "5": "S", "6": "G", "4": "A", "7": "T", "3": "E",
}  # fmt: skip
"""Digit -> the letter it is most often misread for."""


def _expand(*parts: str) -> tuple[str, ...]:
    """Class strings from parts like 'L1-3' (1 to 3 letters), 'D4' or 'LL'; all combinations."""
    choices: list[list[str]] = []
    for part in parts:
        m = re.fullmatch(r"([LDA])(\d)(?:-(\d))?", part)
        if m:
            cls, lo, hi = m.group(1), int(m.group(2)), int(m.group(3) or m.group(2))
            choices.append([cls * n for n in range(lo, hi + 1)])
        else:
            choices.append([part])
    return tuple(sorted({"".join(c) for c in itertools.product(*choices)}))


US_STATE_FORMATS: dict[str, tuple[str, ...]] = {
    "ca": ("DLLLDDD",),
    "ny": ("LLLDDDD",),
    "tx": ("LLLDDDD", "LLDLDDD"),
    "fl": ("LLLDLL", "DLLLDD", "LLLLDD"),
    "pa": ("LLLDDDD",),
    "il": ("LLDDDDD", "LDDDDDD"),
    "oh": ("LLLDDDD",),
    "ga": ("LLLDDDD",),
    "nc": ("LLLDDDD",),
    "mi": ("LLLDDDD", "DLLLDD"),
    "nj": ("LDDLLL", "LLLDDL"),
    "va": ("LLLDDDD",),
    "wa": ("LLLDDDD", "DDDLLLL"),
    "az": ("LLLDDDD",),
    "ma": ("DLLLDD", "DDDLLD"),
    "md": ("DLLDDDD",),
    "mn": ("LLLDDD", "DDDLLL"),
    "co": ("LLLDDDD", "DDDLLL"),
    "nv": ("DDDLDDD", "DLLLDDD"),
    "or": ("DDDLLL", "LLLDDD"),
}
"""Current sequential formats of some states (vanity and older series exist besides)."""

US_GENERIC: tuple[str, ...] = (
    "LLLDDDD", "DLLLDDD", "LLLDDD", "DDDLLL", "LLDDDDD", "DLLDDD", "DDDLDDD",
    "LLDDDD", "DDLLDD", "DDDDLL", "LLDLDDD", "DLLDDDD", "LDDLLL", "DDDLLLL",
)  # fmt: skip

FORMATS: dict[Region, tuple[str, ...]] = {
    "us": tuple(sorted(set(US_GENERIC) | {f for fs in US_STATE_FORMATS.values() for f in fs})),
    # Brazil: old grey plates LLL-9999, Mercosur LLL9L99
    "br": ("LLLDDDD", "LLLDLDD"),
    # Germany: district 1-3 letters, 1-2 letters, 1-4 digits (8 characters at most)
    "de": tuple(f for f in _expand("L1-3", "L1-2", "D1-4") if len(f) <= 8),
    # France: SIV AB-123-CD; FNI 123 ABC 45 (2-4 digits, 2-3 letters, 2 digits)
    "fr": ("LLDDDLL", *_expand("D2-4", "L2-3", "DD")),
    "it": ("LLDDDLL",),
    # Spain: 1234 BCD since 2000; provincial M-1234-AB before
    "es": ("DDDDLLL", *_expand("L1-2", "DDDD", "L1-2")),
    # Netherlands: the sidecodes 1-14 without dashes
    "nl": (
        "LLDDDD",
        "DDDDLL",
        "DDLLDD",
        "LLDDLL",
        "LLLLDD",
        "DDLLLL",
        "DDLLLD",
        "DLLLDD",
        "LLDDDL",
        "LDDDLL",
        "LLLDDL",
        "LDDLLL",
        "DLLDDD",
        "DDDLLD",
    ),
    # Poland: 2-letter district + 5 characters, 3-letter district + 4 (5) characters
    "pl": ("LLAAAAA", "LLLAAAA", "LLLAAAAA"),
    # Romania: county 1-2 letters, 2-3 digits, 3 letters
    "ro": _expand("L1-2", "D2-3", "LLL"),
    # Great Britain: AB12 CDE since 2001; A123 BCD (prefix) and ABC 123D (suffix) before
    "gb": ("LLDDLLL", *_expand("L", "D1-3", "LLL"), *_expand("LLL", "D1-3", "L")),
}


@dataclass(frozen=True)
class Normalised:
    """A read after the grammar: text, region guess, per-character confidences, repairs made.

    `region` is None when no format of the allowed regions fits; `repairs` holds
    the positions whose character was swapped for its look-alike.
    """

    text: str
    region: Region | None
    char_confidences: tuple[float, ...]
    repairs: tuple[int, ...] = ()
    format: str | None = None


def clean(text: str) -> str:
    """Upper-case A-Z0-9 only (spaces, dashes, dots and lower-case noise removed)."""
    return "".join(c for c in text.upper() if "A" <= c <= "Z" or "0" <= c <= "9")


def fits(text: str, fmt: str) -> bool:
    """Whether `text` has the classes of `fmt` at every position."""
    if len(text) != len(fmt):
        return False
    for c, k in zip(text, fmt, strict=True):
        if (k == "L" and not c.isalpha()) or (k == "D" and not c.isdigit()):
            return False
    return True


def _repair(text: str, fmt: str) -> tuple[str, tuple[int, ...]] | None:
    out = list(text)
    fixed: list[int] = []
    for i, (c, k) in enumerate(zip(text, fmt, strict=True)):
        if k == "L" and c.isdigit():
            if c not in TO_LETTER:
                return None
            out[i] = TO_LETTER[c]
            fixed.append(i)
        elif k == "D" and c.isalpha():
            if c not in TO_DIGIT:
                return None
            out[i] = TO_DIGIT[c]
            fixed.append(i)
    return "".join(out), tuple(fixed)


@cache
def _by_length(regions: tuple[Region, ...]) -> dict[int, tuple[tuple[Region, str], ...]]:
    table: dict[int, list[tuple[Region, str]]] = {}
    for region in regions:
        for fmt in FORMATS[region]:
            table.setdefault(len(fmt), []).append((region, fmt))
    return {n: tuple(v) for n, v in table.items()}


def region_formats(region: Region, *, state: str | None = None) -> tuple[str, ...]:
    """The formats of a region; for "us" with a state, that state's sequential formats."""
    if region == "us" and state is not None:
        return US_STATE_FORMATS.get(state.lower(), FORMATS["us"])
    return FORMATS[region]


def matching_regions(text: str, *, regions: Iterable[Region] = REGIONS) -> tuple[Region, ...]:
    """Regions (in the given order) that have a format the text fits without repairs."""
    text = clean(text)
    return tuple(r for r in regions if any(fits(text, f) for f in FORMATS[r]))


def normalise(
    text: str,
    char_confidences: Sequence[float] = (),
    *,
    regions: Sequence[Region] = REGIONS,
    max_repairs: int = 2,
) -> Normalised:
    """Apply the grammars of `regions` (earlier regions win ties); see the module docstring."""
    raw = text.upper()
    keep = [i for i, c in enumerate(raw) if "A" <= c <= "Z" or "0" <= c <= "9"]
    text = "".join(raw[i] for i in keep)
    if len(char_confidences) == len(raw):
        confs = [float(char_confidences[i]) for i in keep]
    elif len(char_confidences) == len(text):
        confs = [float(c) for c in char_confidences]
    else:
        confs = [1.0] * len(text)
    candidates = _by_length(tuple(regions)).get(len(text), ())
    for region, fmt in candidates:
        if fits(text, fmt):
            return Normalised(text, region, tuple(confs), (), fmt)
    open_regions = [r for r in regions if r in OPEN_REGIONS]
    if open_regions:
        guess = open_regions[0] if len(text) in OPEN_LENGTHS else None
        return Normalised(text, guess, tuple(confs))
    best: tuple[float, Region, str, str, tuple[int, ...]] | None = None
    for region, fmt in candidates:
        repaired = _repair(text, fmt)
        if repaired is None or len(repaired[1]) > max_repairs:
            continue
        # cost: the confidence the reader had in the characters we overrule
        cost = sum(confs[i] for i in repaired[1])
        if best is None or cost < best[0]:
            best = (cost, region, fmt, repaired[0], repaired[1])
    if best is None:
        return Normalised(text, None, tuple(confs))
    _cost, region, fmt, fixed_text, fixed = best
    new_confs = tuple(c * REPAIR_PENALTY if i in fixed else c for i, c in enumerate(confs))
    return Normalised(fixed_text, region, new_confs, fixed, fmt)
