"""Synthetic 1:N face galleries for the search bench: face-like, or plain random (worst case).

Face-like galleries are drawn from a model fitted to real face_recognition encodings
(the photos under ../shared/data/faces, encoded with recognition.faces.encoder):

* identity centres ~ N(mean, B), B the between-identity covariance;
* each image = its centre + s * N(0, W), W the within-identity covariance, s a
  per-image spread factor (log-normal, mean square 1) fitted so that same-person
  distances spread like the real ones (bad light and pose spread more).

Both covariances are Ledoit-Wolf shrunk towards isotropic, since 77 photos of 19
people cannot pin down 128 eigenvalues; B = shrunk total - shrunk within. Probes
are fresh images of stored identities: their nearest stored vector is not a copy.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DIM = 128
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
SHARED = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@dataclass(frozen=True)
class Gallery:
    """Stored vectors with their identities, and probes with the identity they show."""

    vectors: F32
    identity: npt.NDArray[np.int64]
    probes: F32
    probe_identity: npt.NDArray[np.int64]


@dataclass(frozen=True)
class FaceModel:
    mean: F64
    between: F64
    within: F64
    spread_sigma: float


def real_encodings(root: Path = SHARED / "faces") -> tuple[F64, list[str]]:
    """Encodings and identities of the first face in each photo of every faces/*/manifest.csv."""
    import cv2

    from recognition.faces.encoder import FaceRecognitionEncoder

    manifests = sorted(root.glob("*/manifest.csv"))
    if not manifests:
        raise SystemExit(
            f"no face manifests under {root}: set LANECAP_SHARED_DATA, or use --random"
        )
    encoder = FaceRecognitionEncoder()
    rows: list[F32] = []
    ids: list[str] = []
    for manifest in manifests:
        with manifest.open(newline="") as f:
            for row in csv.DictReader(f):
                image = cv2.imread(str(manifest.parent / row["file"]))
                faces = encoder.faces(np.asarray(image, np.uint8)) if image is not None else []
                if faces:
                    rows.append(faces[0].encoding)
                    ids.append(f"{manifest.parent.name}/{row['identity']}")
    return np.asarray(rows, dtype=np.float64), ids


def ledoit_wolf(z: F64) -> F64:
    """Ledoit-Wolf shrinkage covariance of centred rows ``z``."""
    n, p = z.shape
    s = z.T @ z / n
    mu = float(np.trace(s)) / p
    d2 = float(((s - mu * np.eye(p)) ** 2).sum())
    b2 = sum(float(((np.outer(r, r) - s) ** 2).sum()) for r in z) / n**2
    a = min(b2, d2) / d2
    return np.asarray(a * mu * np.eye(p) + (1 - a) * s, dtype=np.float64)


def pair_distances(x: F64, ids: list[str]) -> tuple[F64, F64]:
    """All same-identity and different-identity pairwise distances."""
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    lab = np.asarray(ids)
    iu = np.triu_indices(len(x), 1)
    same = (lab[:, None] == lab[None])[iu]
    return d[iu][same], d[iu][~same]


def fit(x: F64, ids: list[str], *, seed: int = 0) -> FaceModel:
    labels = sorted(set(ids))
    lab = np.asarray(ids)
    resid = np.concatenate([x[lab == k] - x[lab == k].mean(0) for k in labels])
    within = ledoit_wolf(resid) * len(resid) / (len(resid) - len(labels))
    total = ledoit_wolf(x - x.mean(0))
    e, v = np.linalg.eigh(total - within)
    between = np.asarray((v * np.clip(e, 0.0, None)) @ v.T, dtype=np.float64)
    same, _ = pair_distances(x, ids)
    want = np.percentile(same, 95) / np.percentile(same, 5)
    rng = np.random.default_rng(seed)
    best = min(
        np.arange(0.0, 0.61, 0.05),
        key=lambda sg: abs(_same_spread(within, float(sg), rng) - want),
    )
    return FaceModel(x.mean(0), between, within, float(best))


def _scales(rng: np.random.Generator, n: int, sigma: float) -> F64:
    s = rng.lognormal(0.0, sigma, size=n)
    return np.asarray(s / np.sqrt(np.exp(2 * sigma**2)), dtype=np.float64)  # E[s^2] = 1


def _same_spread(within: F64, sigma: float, rng: np.random.Generator) -> float:
    a, b = (_noise(rng, 4000, within, sigma) for _ in range(2))
    d = np.linalg.norm(a - b, axis=1)
    return float(np.percentile(d, 95) / np.percentile(d, 5))


def _root(cov: F64) -> F64:
    e, v = np.linalg.eigh(cov)
    return np.asarray(v * np.sqrt(np.clip(e, 0.0, None)), dtype=np.float64)


def _noise(rng: np.random.Generator, n: int, within: F64, sigma: float) -> F64:
    z = rng.standard_normal((n, DIM)) @ _root(within).T
    return np.asarray(z * _scales(rng, n, sigma)[:, None], dtype=np.float64)


def face_like(model: FaceModel, n: int, *, per_identity: int, queries: int, seed: int) -> Gallery:
    """n stored encodings of n / per_identity people; probes: new images of stored people."""
    rng = np.random.default_rng(seed)
    n_ids = -(-n // per_identity)
    centres = model.mean + rng.standard_normal((n_ids, DIM)) @ _root(model.between).T
    identity = np.arange(n) // per_identity
    vectors = np.empty((n, DIM), dtype=np.float32)
    step = 200_000
    for i in range(0, n, step):
        j = min(n, i + step)
        noise = _noise(rng, j - i, model.within, model.spread_sigma)
        vectors[i:j] = centres[identity[i:j]] + noise
    who = rng.choice(n_ids, size=queries, replace=False)
    probes = centres[who] + _noise(rng, queries, model.within, model.spread_sigma)
    return Gallery(vectors, identity, probes.astype(np.float32), who.astype(np.int64))


def random_gaussian(n: int, *, queries: int, seed: int) -> Gallery:
    """The worst case for HNSW: isotropic Gaussian directions (norm 0.6), probe = a stored
    vector plus tiny noise."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v *= 0.6
    truth = rng.choice(n, size=queries, replace=False)
    probes = v[truth] + rng.normal(scale=0.01, size=(queries, DIM)).astype(np.float32)
    return Gallery(v, np.arange(n, dtype=np.int64), probes, truth.astype(np.int64))


def participation_ratio(cov: F64) -> float:
    """Effective number of dimensions: (sum of eigenvalues)^2 / sum of squares (128 = isotropic)."""
    e = np.linalg.eigvalsh(cov)
    return float(e.sum() ** 2 / (e**2).sum())
