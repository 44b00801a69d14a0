"""Fuse the reads of one vehicle's frames into one text by confidence-weighted voting."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from recognition.types import PlateRead


@dataclass(frozen=True)
class Vote:
    """The fused text, its confidence in [0, 1], per-character confidences and the number of reads.

    `region` is the grammar region most of the winning reads' weight agreed on
    (None when the reads carry none).
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    n_reads: int
    region: str | None = None


def vote(reads: Sequence[PlateRead]) -> Vote | None:
    """Pick the length with most weight, then each character by summed confidence at its position.

    A character's confidence is its share of the weight at that position, so
    reads that disagree lower it. Each read weighs its own character confidence
    at that position (its overall confidence when it has none).
    """
    reads = [r for r in reads if r.text]
    if not reads:
        return None
    by_len: dict[int, float] = defaultdict(float)
    for r in reads:
        by_len[len(r.text)] += max(r.confidence, 1e-6)
    length = max(by_len, key=lambda n: (by_len[n], n))
    same = [r for r in reads if len(r.text) == length]
    chars: list[str] = []
    confs: list[float] = []
    for i in range(length):
        weight: dict[str, float] = defaultdict(float)
        for r in same:
            c = r.char_confidences[i] if len(r.char_confidences) == length else r.confidence
            weight[r.text[i]] += max(c, 1e-6)
        best = max(weight, key=lambda ch: (weight[ch], ch))
        chars.append(best)
        confs.append(weight[best] / sum(weight.values()))
    share = by_len[length] / sum(by_len.values())
    mean_conf = sum(r.confidence for r in same) / len(same)
    confidence = min(confs) * share * mean_conf
    regions: dict[str, float] = defaultdict(float)
    for r in same:
        if r.region is not None:
            regions[r.region] += max(r.confidence, 1e-6)
    region = max(regions, key=lambda k: (regions[k], k)) if regions else None
    return Vote("".join(chars), confidence, tuple(confs), len(reads), region)
