"""``evaluate_faces``: detection, verification and identification figures on a
``file,identity`` manifest.

Definitions (every image listed in the manifest counts):

- ``n_images``: rows in the manifest.
- ``detect_rate``: images in which at least one face was detected, divided by
  ``n_images``. Unreadable images and images with no face count as misses;
  faces that fail the quality gate still count as detected.
- Each image with a face is represented by its largest face (the portrait's
  subject), whatever its quality. Images without a face take no part in the
  pair and rank-1 figures below; they show up only in ``detect_rate``.
- Pairs: every unordered pair of images with a face; genuine when both have
  the same identity, impostor otherwise. Score: Euclidean distance between
  the 128-d encodings; a pair is accepted when ``distance <= t``. When the
  manifest has a ``source`` column (the photo a frame was rendered from, as
  ``lanesim.render_face_set`` writes), pairs of two images of the same source
  are left out: they share their pixels and would be easy genuine pairs.
- ``tar_far_1e3`` / ``tar_far_1e2``: the genuine accept rate at the largest
  threshold that accepts at most ``floor(FAR * n_impostor)`` impostor pairs.
  With fewer than 1 / FAR impostor pairs this means zero false accepts.
- ``eer``: the rate where false accepts and false rejects are equal
  (the mean of both at the threshold where they are closest).
- ``rank1``: leave-one-out identification: each image with a face whose
  identity has at least one other image with a face is a probe against all
  other images with a face (of another source); correct when its nearest
  neighbour has the same identity. Probes whose identity has no other image
  (of another source) are skipped.
- ``ms_p50``: median over images of the encoder's wall time for the image
  divided by the number of faces found in it (the whole time when none).

- ``per_size`` (``FaceEvaluation.as_json`` and ``lanecap eval faces --json``
  only): the same figures per face-size bucket (``sizes.SIZE_BUCKETS``, face
  box width in pixels). When the manifest carries true boxes (optional
  ``x,y,w,h`` columns, as ``lanesim.render_face_set`` writes) an image's
  bucket is its true face's, and ``hit_rate`` counts images where some
  detected face matches the true box (IoU >= 0.4 or centre inside);
  otherwise (``sized_by: "detected"``) the bucket is the largest detected
  face's and undetected images are counted under ``"none"``. Per bucket,
  ``tar_far_1e3`` / ``tar_far_1e2`` are the genuine pairs whose *smaller* face
  lies in the bucket, accepted at the thresholds found over all impostor pairs.

Rates with nothing to count (e.g. no genuine pairs) are ``None``.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.sizes import BUCKET_NAMES, face_matches, read_boxes, size_bucket
from recognition.types import FaceEncoder, FaceObservation

log = logging.getLogger(__name__)

EVAL_KEYS = ("n_images", "detect_rate", "tar_far_1e3", "tar_far_1e2", "eer", "rank1", "ms_p50")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PairScores:
    """Distances of all genuine and impostor pairs."""

    genuine: FloatArray
    impostor: FloatArray


@dataclass(frozen=True)
class FaceEvaluation:
    """All figures of one evaluation; ``as_dict`` gives the published keys."""

    n_images: int
    detect_rate: float | None
    tar_far_1e3: float | None
    tar_far_1e2: float | None
    eer: float | None
    rank1: float | None
    ms_p50: float | None
    n_detected: int
    n_rejected_by_quality: int
    n_genuine: int
    n_impostor: int
    n_rank1_probes: int
    threshold_far_1e3: float | None
    threshold_far_1e2: float | None
    threshold_eer: float | None
    per_size: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    sized_by: str = "detected"

    def as_dict(self) -> dict[str, float | int | None]:
        d = asdict(self)
        return {k: d[k] for k in EVAL_KEYS}

    def as_json(self) -> dict[str, Any]:
        """``as_dict`` plus ``per_size`` and ``sized_by`` (what ``--json`` writes)."""
        out: dict[str, Any] = dict(self.as_dict())
        out["per_size"] = self.per_size
        out["sized_by"] = self.sized_by
        return out


def read_manifest(manifest_path: Path | str) -> list[tuple[Path, str]]:
    """(image path, identity) rows of a ``file,identity`` CSV; paths relative to it."""
    path = Path(manifest_path)
    rows: list[tuple[Path, str]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"file", "identity"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with columns file,identity")
        for row in reader:
            file, identity = (row.get("file") or "").strip(), (row.get("identity") or "").strip()
            if not file or not identity:
                raise ValueError(f"{path}: row with an empty file or identity")
            rows.append((path.parent / file, identity))
    return rows


def read_sources(manifest_path: Path | str) -> dict[Path, str]:
    """Each image's source photo: the optional ``source`` column, else the file itself
    (keyed by image path, as ``read_manifest`` gives it)."""
    path = Path(manifest_path)
    out: dict[Path, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            file = (row.get("file") or "").strip()
            out[path.parent / file] = (row.get("source") or "").strip() or file
    return out


def pair_scores(
    encodings: FloatArray, identities: list[str], sources: list[str] | None = None
) -> PairScores:
    """Distances of all unordered pairs, split into genuine and impostor; pairs of
    two images of one source (``sources``, parallel to ``identities``) are left out."""
    n = len(identities)
    if n < 2:
        return PairScores(np.zeros(0), np.zeros(0))
    d = _distance_matrix(encodings)
    iu = np.triu_indices(n, k=1)
    ids = np.asarray(identities)
    same = ids[iu[0]] == ids[iu[1]]
    keep = _other_source(sources, n)[iu]
    dist = d[iu]
    return PairScores(genuine=dist[same & keep], impostor=dist[~same & keep])


def _other_source(sources: list[str] | None, n: int) -> npt.NDArray[np.bool_]:
    """n x n: whether two images come from different source photos."""
    if sources is None:
        out: npt.NDArray[np.bool_] = ~np.eye(n, dtype=bool)
        return out
    src = np.asarray(sources)
    diff: npt.NDArray[np.bool_] = src[:, None] != src[None, :]
    return diff


def threshold_at_far(impostor: FloatArray, far: float) -> float:
    """Largest acceptance threshold (``distance <= t``) with at most
    ``floor(far * len(impostor))`` impostors accepted."""
    if impostor.size == 0:
        return math.inf
    k = math.floor(far * impostor.size + 1e-9)
    s = np.sort(impostor)
    if k >= s.size:
        return math.inf
    return float(np.nextafter(s[k], -np.inf))


def tar_at_far(scores: PairScores, far: float) -> tuple[float | None, float | None]:
    """(TAR, threshold) at the given FAR; (None, None) without genuine or impostor pairs."""
    if scores.genuine.size == 0 or scores.impostor.size == 0:
        return None, None
    t = threshold_at_far(scores.impostor, far)
    return float(np.mean(scores.genuine <= t)), t


def equal_error_rate(scores: PairScores) -> tuple[float | None, float | None]:
    """(EER, threshold); (None, None) without genuine or impostor pairs."""
    if scores.genuine.size == 0 or scores.impostor.size == 0:
        return None, None
    ts = np.unique(np.concatenate([scores.genuine, scores.impostor, [0.0]]))
    far = np.searchsorted(np.sort(scores.impostor), ts, side="right") / scores.impostor.size
    frr = 1.0 - np.searchsorted(np.sort(scores.genuine), ts, side="right") / scores.genuine.size
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0), float(ts[i])


def rank1_rate(
    encodings: FloatArray, identities: list[str], sources: list[str] | None = None
) -> tuple[float | None, int]:
    """(rank-1 rate, number of probes), leave-one-out (the probe's source left out)."""
    n = len(identities)
    other = _other_source(sources, n)
    ids = np.asarray(identities)
    same = ids[:, None] == ids[None, :]
    probes = [i for i in range(n) if bool(np.any(same[i] & other[i]))]
    if not probes:
        return None, 0
    d = _distance_matrix(encodings)
    d[~other] = np.inf
    hits = sum(identities[int(np.argmin(d[i]))] == identities[i] for i in probes)
    return hits / len(probes), len(probes)


def evaluate_faces(
    manifest_path: Path | str, *, encoder: FaceEncoder
) -> dict[str, float | int | None]:
    """The published figures (keys ``EVAL_KEYS``) for one manifest; see the module doc."""
    return evaluate_faces_detailed(manifest_path, encoder=encoder).as_dict()


@dataclass(frozen=True)
class EncodedManifest:
    """One encoding per image with a face (its largest), and the run's costs."""

    encodings: FloatArray
    identities: list[str]
    n_images: int
    per_image_ms_per_face: list[float]
    n_rejected_by_quality: int
    buckets: list[str] = field(default_factory=list)
    """Size bucket of each encoded image (parallel to ``identities``)."""
    image_buckets: list[str] = field(default_factory=list)
    """Size bucket of every readable image ("none": undetected, no true box)."""
    image_hits: list[bool | None] = field(default_factory=list)
    """Per readable image: a detected face matches the true box (None: no box)."""
    sources: list[str] | None = None
    """Source photo of each encoded image (parallel to ``identities``)."""


def encode_manifest(manifest_path: Path | str, *, encoder: FaceEncoder) -> EncodedManifest:
    rows = read_manifest(manifest_path)
    truth = read_boxes(manifest_path)
    source_of = read_sources(manifest_path)
    sources: list[str] = []
    encodings: list[npt.NDArray[np.float32]] = []
    identities: list[str] = []
    buckets: list[str] = []
    image_buckets: list[str] = []
    image_hits: list[bool | None] = []
    per_face_ms: list[float] = []
    rejected = 0
    for path, identity in rows:
        box = truth.get(path)
        raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if raw is None:
            log.warning("unreadable image in manifest (counted as a miss): %s", path.name)
            image_buckets.append(size_bucket(box.width) if box is not None else "none")
            image_hits.append(False if box is not None else None)
            continue
        image = np.asarray(raw, dtype=np.uint8)
        t0 = time.perf_counter()
        faces = encoder.faces(image)
        ms = (time.perf_counter() - t0) * 1000.0
        per_face_ms.append(ms / max(1, len(faces)))
        face = _primary(faces) if faces else None
        if box is not None:
            bucket = size_bucket(box.width)
            image_hits.append(any(face_matches(f.box, box) for f in faces))
        else:
            bucket = size_bucket(face.box.width) if face is not None else "none"
            image_hits.append(None)
        image_buckets.append(bucket)
        if face is None:
            log.info("no face detected (counted as a miss): %s", path.name)
            continue
        rejected += face.reject_reason is not None
        encodings.append(face.encoding)
        identities.append(identity)
        sources.append(source_of.get(path, str(path)))
        buckets.append(bucket)
    return EncodedManifest(
        encodings=np.asarray(encodings, dtype=np.float64).reshape(-1, 128),
        identities=identities,
        n_images=len(rows),
        per_image_ms_per_face=per_face_ms,
        n_rejected_by_quality=rejected,
        buckets=buckets,
        image_buckets=image_buckets,
        image_hits=image_hits,
        sources=sources,
    )


def evaluate_faces_detailed(manifest_path: Path | str, *, encoder: FaceEncoder) -> FaceEvaluation:
    """All figures, including pair counts and the thresholds behind the rates."""
    return evaluate_encoded(encode_manifest(manifest_path, encoder=encoder))


def evaluate_encoded(m: EncodedManifest) -> FaceEvaluation:
    enc, identities = m.encodings, m.identities
    scores = pair_scores(enc, identities, m.sources)
    tar3, t3 = tar_at_far(scores, 1e-3)
    tar2, t2 = tar_at_far(scores, 1e-2)
    eer, teer = equal_error_rate(scores)
    rank1, n_probes = rank1_rate(enc, identities, m.sources)
    n = m.n_images
    return FaceEvaluation(
        n_images=n,
        detect_rate=len(identities) / n if n else None,
        tar_far_1e3=tar3,
        tar_far_1e2=tar2,
        eer=eer,
        rank1=rank1,
        ms_p50=float(np.median(m.per_image_ms_per_face)) if m.per_image_ms_per_face else None,
        n_detected=len(identities),
        n_rejected_by_quality=m.n_rejected_by_quality,
        n_genuine=int(scores.genuine.size),
        n_impostor=int(scores.impostor.size),
        n_rank1_probes=n_probes,
        threshold_far_1e3=_finite(t3),
        threshold_far_1e2=_finite(t2),
        threshold_eer=teer,
        per_size=per_size_figures(m, t3, t2),
        sized_by="truth" if any(h is not None for h in m.image_hits) else "detected",
    )


def per_size_figures(
    m: EncodedManifest, t3: float | None, t2: float | None
) -> dict[str, dict[str, float | int | None]]:
    """Figures per size bucket (see the module doc); buckets with no image are left out."""
    enc_bucket = {name: i for i, name in enumerate(("none", *BUCKET_NAMES))}
    order = sorted(set(m.image_buckets), key=lambda b: enc_bucket.get(b, 99))
    out: dict[str, dict[str, float | int | None]] = {}
    rank = {name: i for i, name in enumerate(BUCKET_NAMES)}
    gen_small: list[str] = []
    gen_dist: list[float] = []
    n = len(m.identities)
    if n >= 2:
        d = _distance_matrix(m.encodings)
        other = _other_source(m.sources, n)
        for i in range(n):
            for j in range(i + 1, n):
                if m.identities[i] == m.identities[j] and other[i, j]:
                    a, b = m.buckets[i], m.buckets[j]
                    gen_small.append(a if rank.get(a, 0) <= rank.get(b, 0) else b)
                    gen_dist.append(float(d[i, j]))
    dist = np.asarray(gen_dist)
    small = np.asarray(gen_small)
    for bucket in order:
        idx = [i for i, b in enumerate(m.image_buckets) if b == bucket]
        k = len(idx)
        detected = sum(1 for b in m.buckets if b == bucket)
        hits = [m.image_hits[i] for i in idx if m.image_hits[i] is not None]
        sel = dist[small == bucket] if dist.size else dist
        fig: dict[str, float | int | None] = {
            "n_images": k,
            "detect_rate": detected / k if k else None,
            "hit_rate": sum(bool(h) for h in hits) / len(hits) if hits else None,
            "n_genuine": int(sel.size),
            "tar_far_1e3": float(np.mean(sel <= t3)) if sel.size and t3 is not None else None,
            "tar_far_1e2": float(np.mean(sel <= t2)) if sel.size and t2 is not None else None,
        }
        out[bucket] = fig
    return out


def _primary(faces: list[FaceObservation]) -> FaceObservation:
    return max(faces, key=lambda f: f.box.area)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _distance_matrix(encodings: FloatArray) -> FloatArray:
    sq = np.sum(encodings**2, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * encodings @ encodings.T
    out: FloatArray = np.sqrt(np.clip(d2, 0.0, None))
    return out
