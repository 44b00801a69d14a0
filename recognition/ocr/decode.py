"""Greedy CTC decoding with per-character confidences (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recognition.ocr.network import CHARSET


@dataclass(frozen=True)
class Decoded:
    """Text from one line, each character's probability, and their product's geometric mean.

    A character's confidence is the highest softmax probability of its class over
    the run of time steps that emitted it.
    """

    text: str
    char_confidences: tuple[float, ...]
    confidence: float


def greedy(probs: npt.NDArray[np.float32], *, charset: str = CHARSET) -> Decoded:
    """Decode (T, C) softmax probabilities; class 0 is the blank, class i is charset[i-1]."""
    best = probs.argmax(axis=1)
    chars: list[str] = []
    confs: list[float] = []
    prev = 0
    for t, k in enumerate(best):
        k = int(k)
        p = float(probs[t, k])
        if k != 0 and k == prev:
            confs[-1] = max(confs[-1], p)
        elif k != 0:
            chars.append(charset[k - 1])
            confs.append(p)
        prev = k
    if not chars:
        return Decoded("", (), 0.0)
    conf = float(np.exp(np.mean(np.log(np.maximum(confs, 1e-9)))))
    return Decoded("".join(chars), tuple(confs), conf)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)
