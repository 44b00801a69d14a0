"""A stated reason must say something: at least `MIN_LETTERS` letters.

Invisible characters (Unicode format characters such as zero-width spaces and direction
marks, category Cf, and the Hangul fillers, which are "letters" that draw nothing) and
control characters are dropped first, runs of white space become one space, and the letters
are counted by Unicode category L* (any script). So "case 42", "Fall 7" and "дело 42" pass;
"...", "-- --", "123", three zero-width spaces, and "ab" with zero-width spaces between the
letters do not. Plates in reasons are `lanecap.security.reasons`' business.
"""

from __future__ import annotations

import unicodedata

from lanecap.security.errors import ReasonRequired

MIN_LETTERS = 3
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers: category Lo, invisible


def clean(text: str) -> str:
    """The text without format and control characters, white space collapsed."""
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or ch in _FILLERS:
            continue
        kept.append(" " if cat == "Cc" or ch.isspace() else ch)
    return " ".join("".join(kept).split())


def letters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def require_letters(reason: str, *, action: str = "this request") -> str:
    """The cleaned reason; ReasonRequired(action) when it has fewer than MIN_LETTERS letters."""
    text = clean(reason)
    if letters(text) < MIN_LETTERS:
        err = ReasonRequired(action)
        err.hint = f"a reason needs at least {MIN_LETTERS} letters: a case number or a purpose"
        raise err
    return text
