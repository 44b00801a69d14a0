"""CTC decoding (numpy only): greedy with per-character confidences, and label likelihoods."""

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


def ctc_log_likelihood(
    probs: npt.NDArray[np.float32], labels: list[list[int]]
) -> npt.NDArray[np.float64]:
    """log P(label | probs) for each label under (T, C) softmax output, by CTC's forward pass.

    Labels are class indices (1..C-1, class 0 is the blank); an empty label scores
    the all-blank path. One pass over T for all labels at once.
    """
    t_len = probs.shape[0]
    ext_len = 2 * max((len(lab) for lab in labels), default=0) + 1
    n = len(labels)
    ext = np.zeros((n, ext_len), np.int64)  # blank, l1, blank, l2, ..., blank
    ends = np.zeros(n, np.int64)
    for i, lab in enumerate(labels):
        ext[i, 1 : 2 * len(lab) : 2] = lab
        ends[i] = 2 * len(lab)
    # s may come from s-2 when it is a character different from the one at s-2
    skip = np.zeros((n, ext_len), bool)
    skip[:, 2:] = (ext[:, 2:] != 0) & (ext[:, 2:] != ext[:, :-2])
    valid = np.arange(ext_len)[None, :] <= ends[:, None]
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-30))[:, ext]  # (T, n, S)
    alpha = np.full((n, ext_len), -np.inf)
    alpha[:, 0] = logp[0, :, 0]
    alpha[:, 1] = np.where(ends > 0, logp[0, :, 1], -np.inf)
    for t in range(1, t_len):
        one = np.concatenate([np.full((n, 1), -np.inf), alpha[:, :-1]], axis=1)
        two = np.concatenate([np.full((n, 2), -np.inf), alpha[:, :-2]], axis=1)
        two = np.where(skip, two, -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, one), two) + logp[t]
        alpha = np.where(valid, alpha, -np.inf)
    rows = np.arange(n)
    last = alpha[rows, ends]
    before = np.where(ends > 0, alpha[rows, np.maximum(ends - 1, 0)], -np.inf)
    return np.asarray(np.logaddexp(last, before), np.float64)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)
