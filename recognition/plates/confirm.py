"""Plate candidates the detector is unsure of, kept only when the reader is sure.

A detection scoring between `CONFIRM_FLOOR` and the detector's operating score is
read at once and kept only if the read `confirms` it: every character sure, a
format fits, 5 to 8 characters with letters and digits. Signs ("TAXI", "EXIT") and
burned-in camera timestamps (digits only) do not confirm. On openalpr-us-dev this
finds 3 more of 111 plates, all read right (see the reader's model card).
"""

from __future__ import annotations

from recognition.types import PlateRead

CONFIRM_FLOOR = 0.2
SURE_MIN_CHAR = 0.9
CONFIRM_LENGTH = (5, 8)


def sure(read: PlateRead | None) -> bool:
    """Every character at least SURE_MIN_CHAR likely, and a region's format fits."""
    return (
        read is not None
        and read.region is not None
        and min(read.char_confidences, default=0.0) >= SURE_MIN_CHAR
    )


def confirms(read: PlateRead | None) -> bool:
    """Whether `read` is good evidence that a low-scoring candidate is a plate."""
    if read is None or not sure(read):
        return False
    lo, hi = CONFIRM_LENGTH
    text = read.text
    return (
        lo <= len(text) <= hi and any(c.isalpha() for c in text) and any(c.isdigit() for c in text)
    )
