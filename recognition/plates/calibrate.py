"""Plate confidence that means the chance the read is exactly right.

The reader's and the vote's raw confidence are scores: on real dev plates a correct read often
scores 0.5-0.6 and a wrong one 0.8. `Calibration` maps a raw score to the observed share of
exact reads: isotonic regression (pool adjacent violators) on (score, exact) pairs from a
labelled set the reader did not train on, kept as a monotone step table (JSON, shipped in
recognition/models/plate_confidence.json) and applied by linear interpolation between steps.

`reliability` and `expected_calibration_error` measure it on another set (the ECE is the
share-weighted gap between mean confidence and accuracy over equal-width bins).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT_FILE = MODELS / "plate_confidence.json"
MIN_BLOCK = 20
"""Pooled blocks hold at least this many reads, so one lucky read does not make a step."""


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw score to P(exact): steps at `scores` with values `exact`."""

    scores: tuple[float, ...]
    exact: tuple[float, ...]
    fitted_on: str = ""
    n: int = 0

    def apply(self, score: float) -> float:
        """The calibrated confidence of a raw score (clipped to the table's ends)."""
        xs, ys = self.scores, self.exact
        if not xs:
            return score
        if score <= xs[0]:
            return ys[0]
        for i in range(1, len(xs)):
            if score <= xs[i]:
                span = xs[i] - xs[i - 1]
                t = 0.0 if span <= 0 else (score - xs[i - 1]) / span
                return ys[i - 1] + t * (ys[i] - ys[i - 1])
        return ys[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "scores": list(self.scores),
            "exact": list(self.exact),
            "fitted_on": self.fitted_on,
            "n": self.n,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> Calibration:
        d = json.loads(path.read_text())
        return cls(
            scores=tuple(float(x) for x in d["scores"]),
            exact=tuple(float(y) for y in d["exact"]),
            fitted_on=str(d.get("fitted_on", "")),
            n=int(d.get("n", 0)),
        )

    @classmethod
    def identity(cls) -> Calibration:
        return cls(scores=(), exact=())


def fit(pairs: Sequence[tuple[float, bool]], *, fitted_on: str = "") -> Calibration:
    """Isotonic regression of exactness on score (pool adjacent violators, blocks of at
    least MIN_BLOCK reads); each block becomes one step at its mean score."""
    if not pairs:
        raise ValueError("calibration needs reads with known texts")
    ordered = sorted(pairs, key=lambda p: p[0])
    # blocks: [sum of scores, sum of exact, count]
    blocks: list[list[float]] = []
    for score, ok in ordered:
        blocks.append([score, float(ok), 1.0])
        while len(blocks) > 1 and (
            blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]
            or blocks[-2][2] < MIN_BLOCK
        ):
            s, e, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += e
            blocks[-1][2] += n
    if len(blocks) > 1 and blocks[-1][2] < MIN_BLOCK:
        s, e, n = blocks.pop()
        blocks[-1][0] += s
        blocks[-1][1] += e
        blocks[-1][2] += n
    scores = tuple(round(b[0] / b[2], 4) for b in blocks)
    exact = tuple(round(b[1] / b[2], 4) for b in blocks)
    return Calibration(scores=scores, exact=exact, fitted_on=fitted_on, n=len(pairs))


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    n: int
    confidence: float | None
    accuracy: float | None


def reliability(pairs: Sequence[tuple[float, bool]], *, bins: int = 10) -> list[Bin]:
    """Equal-width confidence bins: count, mean confidence and share exact in each."""
    out = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        inside = [(c, ok) for c, ok in pairs if lo <= c < hi or (i == bins - 1 and c == 1.0)]
        n = len(inside)
        out.append(
            Bin(
                lo=lo,
                hi=hi,
                n=n,
                confidence=round(sum(c for c, _ in inside) / n, 4) if n else None,
                accuracy=round(sum(ok for _, ok in inside) / n, 4) if n else None,
            )
        )
    return out


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], *, bins: int = 10) -> float:
    total = len(pairs)
    if not total:
        raise ValueError("no reads")
    gap = sum(
        b.n * abs((b.confidence or 0.0) - (b.accuracy or 0.0))
        for b in reliability(pairs, bins=bins)
    )
    return round(gap / total, 4)
