"""Calibrate the matching threshold on ``file,identity`` manifests.

All images of all manifests are pooled (identities are namespaced by the
manifest's folder, so the same name in two manifests is two people); every
pair of images with a face is a genuine or an impostor pair. The threshold is
the largest distance that accepts at most ``floor(far_target * n_impostor)``
impostor pairs, rounded down to 0.01; ``strict`` is the same at a ten times
lower target. Pairs of two images of one source photo (a ``source`` column,
as rendered lane sets carry) are left out. ``match.OperatingPoint.shipped``
reads the result from the encoder's calibration file (``calibration.json`` for
dlib, ``calibration_sface.json`` for SFace); the record names its encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recognition.faces.encoder import EncoderKind
from recognition.faces.evaluate import (
    EncodedManifest,
    encode_manifest,
    equal_error_rate,
    pair_scores,
    threshold_at_far,
)
from recognition.types import FaceEncoder

RATE_GRID: dict[EncoderKind, tuple[float, ...]] = {
    "dlib": (0.4, 0.45, 0.5, 0.55, 0.6),
    "sface": (0.95, 1.0, 1.05, 1.1, 1.15, 1.2),
}
"""Distances at which the record lists FAR and FRR (SFace: unit vectors, so distance
sqrt(2 - 2 cos); OpenCV's suggested cosine 0.363 is distance 1.13)."""


def calibrate(
    manifests: Sequence[Path | str],
    *,
    encoder: FaceEncoder,
    far_target: float = 1e-3,
    kind: EncoderKind = "dlib",
) -> dict[str, Any]:
    """The calibration record (what ``calibration.json`` holds) of ``encoder``, whose
    encodings are of ``kind``."""
    parts = [encode_manifest(m, encoder=encoder) for m in manifests]
    return calibrate_encoded(parts, [Path(m).parent.name for m in manifests], far_target, kind)


def calibrate_encoded(
    parts: Sequence[EncodedManifest],
    names: Sequence[str],
    far_target: float,
    kind: EncoderKind = "dlib",
) -> dict[str, Any]:
    encodings = np.vstack([p.encodings for p in parts])
    identities = [f"{n}/{i}" for p, n in zip(parts, names, strict=True) for i in p.identities]
    sources = [
        f"{n}/{s}"
        for p, n in zip(parts, names, strict=True)
        for s in (
            p.sources if p.sources is not None else [str(k) for k in range(len(p.identities))]
        )
    ]
    scores = pair_scores(encodings, identities, sources)
    if scores.genuine.size == 0 or scores.impostor.size == 0:
        raise ValueError("calibration needs at least one genuine and one impostor pair")
    t = _floor2(threshold_at_far(scores.impostor, far_target))
    strict = _floor2(threshold_at_far(scores.impostor, far_target / 10.0))
    eer, t_eer = equal_error_rate(scores)
    far_at = {
        f"{x:.2f}": {
            "far": float(np.mean(scores.impostor <= x)),
            "frr": float(np.mean(scores.genuine > x)),
        }
        for x in RATE_GRID[kind]
    }
    return {
        "encoder": kind,
        "operating_point": {
            "threshold": t,
            "far": float(np.mean(scores.impostor <= t)),
            "frr": float(np.mean(scores.genuine > t)),
            "far_target": far_target,
            "n_genuine": int(scores.genuine.size),
            "n_impostor": int(scores.impostor.size),
            "strict": strict,
        },
        "eer": eer,
        "threshold_eer": t_eer,
        "rates_at": far_at,
        "data": {
            n: {"n_images": p.n_images, "n_with_face": len(p.identities)}
            for p, n in zip(parts, names, strict=True)
        },
    }


def _floor2(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("too few impostor pairs to reach the FAR target")
    return math.floor(x * 100.0) / 100.0
