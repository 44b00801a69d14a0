"""CTC label likelihoods and the consensus of several readings of one plate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recognition.ocr.decode import ctc_log_likelihood
from recognition.ocr.network import CHARSET
from recognition.plates.reader import consensus


def _collapse(path: tuple[int, ...]) -> list[int]:
    out: list[int] = []
    prev = -1
    for k in path:
        if k != prev and k != 0:
            out.append(k)
        prev = k
    return out


@pytest.mark.parametrize("label", [[], [1], [1, 1], [1, 2, 3], [2, 2, 1], [3, 1, 3]])
def test_ctc_likelihood_is_the_sum_over_all_paths(label: list[int]) -> None:
    rng = np.random.default_rng(len(label))
    probs = rng.random((6, 4)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    brute = sum(
        float(np.prod([probs[t, k] for t, k in enumerate(path)]))
        for path in itertools.product(range(4), repeat=6)
        if _collapse(path) == label
    )
    got = ctc_log_likelihood(probs, [label, [1, 2]])[0]
    assert got == pytest.approx(np.log(brute), rel=1e-5)


def test_label_longer_than_time_steps_allow_is_impossible() -> None:
    probs = np.full((3, 4), 0.25, np.float32)
    assert ctc_log_likelihood(probs, [[1, 1, 1]])[0] < -50  # needs 5 steps


def _reading(steps: list[dict[str, float]]) -> np.ndarray:
    """(T, C) probabilities: each step's listed characters ('' = blank), rest spread evenly."""
    out = np.zeros((len(steps), len(CHARSET) + 1), np.float32)
    for t, step in enumerate(steps):
        for c, p in step.items():
            out[t, 0 if c == "" else CHARSET.index(c) + 1] = p
        rest = 1.0 - out[t].sum()
        out[t][out[t] == 0] = rest / (out[t] == 0).sum()
    return out


def test_a_framing_that_loses_a_character_is_outvoted() -> None:
    sure = _reading([{"A": 0.9}, {"B": 0.9}, {"": 0.9}, {"1": 0.9}, {"2": 0.9}])
    cut = _reading([{"": 0.6, "A": 0.35}, {"B": 0.95}, {"": 0.9}, {"1": 0.97}, {"2": 0.97}])
    assert consensus([cut], CHARSET).text == "B12"
    both = consensus([cut, sure], CHARSET)
    assert both.text == "AB12"
    assert len(both.char_confidences) == 4 and both.char_confidences[0] == pytest.approx(0.9)


def test_agreeing_readings_average_their_confidences() -> None:
    a = _reading([{"Z": 0.8}, {"": 0.9}, {"9": 0.6}])
    b = _reading([{"Z": 0.6}, {"": 0.9}, {"9": 0.8}])
    out = consensus([a, b], CHARSET)
    assert out.text == "Z9"
    assert out.char_confidences == pytest.approx((0.7, 0.7))


def test_no_text_anywhere_is_empty() -> None:
    blank = _reading([{"": 0.99}] * 4)
    assert consensus([blank, blank], CHARSET).text == ""
