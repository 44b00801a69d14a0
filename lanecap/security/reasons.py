"""Free-text reasons (audit, search, view, hold, export, list reasons) never carry a plate.

A reason is stored in clear (the audit log must be readable by auditors who hold no key),
so a plate typed into one would sit at rest beside the sealed record it refers to.
`check_reason` refuses such a reason with `PlateInReason`: "reasons must not contain plate
numbers: refer to the case number instead".

The rule, on the NFKC form of the text with invisible format characters dropped:

1. The text is cut into *groups* of letters and digits. Groups separated only by spaces,
   dashes or middle dots (the ways a plate is written: `ABC 1234`, `AB-123-CD`, `ABC·1234`)
   form one *chain*; any other character (`, ; : / # . ( )` ...) ends a chain.
2. *Words* end a chain too and are never part of a plate: a group of 4 or more letters only
   (`lane`, `case`, `vehicle`), and the short words of `SHORT_WORDS` (English function
   words, months, units, and the case-number prefixes of `CASE_PREFIXES`).
3. A group that is a case-number prefix followed by digits (`INC12345`, `CASE0042`), an
   ordinal (`121st`) or a number with a unit (`100km`, `10pm`) counts as a word.
   UUIDs (crossing ids) and ISO date-times (`2026-05-12T10:30`) are removed first.
4. The reason is refused when a run of consecutive groups of one chain has 5 to 8 letters
   and digits (`CONFIRM_LENGTH`, the lengths at which a sure plate read is trusted) and
   mixes letters with digits. Every format of `recognition.plates.grammar.FORMATS` that
   mixes letters and digits in 5 to 8 characters is of that kind.

So case references pass: `CASE-2026-0042`, `INC 12345`, `case #4411`, `REF 2026/17`,
`warrant 5`, `booth api-lane-1`; plates do not: `ABC1234`, `abc 1234`, `AB-123-CD`,
`AB12 CDE`, `M-1234-AB`, `1234 BCD`, `123 ABC 45`, `INC 4411 re AB12CDE`.

Known limits (a reason rule cannot tell every plate from every word):

* plates of letters only (vanity `HELLO`) or digits only, and plates of 2 to 4 characters,
  pass: too many words and numbers look the same (`A4`, `H1N1`, `MP3`, `2026` on their own);
* a plate whose letter block is a word or a case prefix (`LANE 12`, `THE 1234`, `INC1234`,
  `NO 1234`) or is written apart with 4+ letters (`ABCD 12`) passes;
* letter-and-digit identifiers of 5 to 8 characters are refused like plates (`covid19`,
  flight `BA2490`, a short hex id, `H1N1 MP3`, a case number `CASE-A1234` with a letter in
  it): refer to them otherwise.
"""

from __future__ import annotations

import re
import unicodedata

from lanecap.security.errors import ReasonRequired
from lanecap.security.reason_text import require_letters
from recognition.plates.confirm import CONFIRM_LENGTH

MESSAGE = "reasons must not contain plate numbers: refer to the case number instead"

CASE_PREFIXES = frozenset(
    {
        "case",
        "incident",
        "inc",
        "ref",
        "reference",
        "file",
        "ticket",
        "tkt",
        "report",
        "rpt",
        "warrant",
        "order",
        "request",
        "req",
        "inv",
        "investigation",
        "operation",
        "op",
        "docket",
        "matter",
        "job",
        "fir",
        "cad",
        "cr",
        "dr",
        "no",
        "nr",
        "lane",
        "booth",
        "gate",
        "camera",
        "cam",
        "port",
    }
)
"""Words after which a number is a reference (a case, a lane), never a plate."""

SHORT_WORDS = CASE_PREFIXES | frozenset(
    {
        # function words
        "a", "an", "the", "and", "or", "nor", "but", "for", "to", "of", "in", "on", "at",
        "by", "per", "via", "re", "is", "was", "are", "be", "as", "it", "its", "we", "us",
        "our", "my", "he", "she", "his", "her", "not", "if", "so", "up", "off", "out",
        "all", "any", "few", "one", "two", "six", "ten", "new", "old", "day", "see", "saw",
        # months
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        # units
        "am", "pm", "hr", "hrs", "min", "sec", "ms", "km", "kg", "mph", "kmh",
    }
)  # fmt: skip
"""Letter-only groups of under 4 letters that are words, not the letter block of a plate."""

_UNITS = "st|nd|rd|th|am|pm|h|hr|hrs|min|km|kg|mph|kmh"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[Zz]|[+-]\d\d:?\d\d)?")
_GROUP = re.compile(r"[^\W_]+")
_SOFT = re.compile(r"[\s\-\u2010-\u2015\u2212\u00b7\u2022\u30fb]+")
_REFERENCE = re.compile(
    rf"(?:{'|'.join(sorted(CASE_PREFIXES, key=len, reverse=True))})\d+|\d+(?:{_UNITS})"
)


class PlateInReason(ReasonRequired, ValueError):
    """A reason holds a plate-like token (the API answers 400 `reason_required`)."""

    def __init__(self, action: str = "") -> None:
        self.action = action
        super(ReasonRequired, self).__init__(
            MESSAGE, hint="name the case, incident or warrant number, never the plate"
        )


def _is_word(group: str) -> bool:
    g = group.casefold()
    if g.isalpha():
        return len(g) >= 4 or g in SHORT_WORDS
    return _REFERENCE.fullmatch(g) is not None


def _chains(text: str) -> list[list[str]]:
    """Groups of letters and digits, in chains joined by soft separators, words removed."""
    chains: list[list[str]] = [[]]
    end = 0
    for m in _GROUP.finditer(text):
        between = text[end : m.start()]
        if between and not _SOFT.fullmatch(between):
            chains.append([])
        end = m.end()
        if _is_word(m.group()):
            chains.append([])
        else:
            chains[-1].append(m.group())
    return [c for c in chains if c]


def plate_like(text: str) -> bool:
    """Whether `text` holds a plate-like token (the rule in the module docstring)."""
    clean = "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )
    lo, hi = CONFIRM_LENGTH
    for chain in _chains(_ISO_TIME.sub(" / ", _UUID.sub(" / ", clean))):
        for i in range(len(chain)):
            joined = ""
            for group in chain[i:]:
                joined += group
                if len(joined) > hi:
                    break
                if (
                    len(joined) >= lo
                    and any(c.isalpha() for c in joined)
                    and any(c.isdigit() for c in joined)
                ):
                    return True
    return False


def valid_reason(reason: str, *, action: str = "this request") -> str:
    """The one rule for every stated reason (API and CLI): at least 3 letters once invisible
    characters are dropped (`reason_text`), at most 200 characters, no plate-like token.
    ReasonRequired (PlateInReason for a plate) otherwise."""
    return check_reason(require_letters(reason, action=action)[:200], action=action)


def check_reason(reason: str, *, action: str = "") -> str:
    """`reason` unchanged; PlateInReason when it holds a plate-like token."""
    if plate_like(reason):
        raise PlateInReason(action)
    return reason
