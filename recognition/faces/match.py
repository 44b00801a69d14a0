"""Face matching decisions: 1:1 verification, 1:N search in memory, enrolment checks.

A comparison never returns a bare score: the decision is ``match``,
``no_match`` or ``unknown`` (a face too poor to decide on), with the distance
and threshold kept alongside for audit. Distances are Euclidean between
128-d encodings of one encoder (dlib's, or SFace's unit vectors); a pair
matches when ``distance <= threshold``.

The shipped threshold of each encoder comes from its calibration file
(``CALIBRATION_FILES``: ``calibration.json`` for dlib, ``calibration_sface.json``
for SFace; written by ``lanecap calibrate faces``; method and figures in
``calibration.md``). In 1:N search each probe is compared with every
identity, so the chance of a false match grows roughly with the gallery size:
use a lower threshold (``OperatingPoint.strict``) for large watchlists.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from recognition.faces.encoder import EncoderKind
from recognition.faces.quality import RejectReason
from recognition.types import FaceEncoder, FaceObservation, Image

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FILES: dict[EncoderKind, str] = {
    "dlib": CALIBRATION_FILE,
    "sface": "calibration_sface.json",
}
"""The calibration record of each encoder (its thresholds mean nothing for the other)."""


class Decision(enum.StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    UNKNOWN = "unknown"
    """The probe (or the reference) is not usable: see ``reason``."""


@dataclass(frozen=True)
class OperatingPoint:
    """A distance threshold with the error rates measured at it.

    ``far``/``frr`` are pair-level rates on the calibration data
    (``n_impostor``/``n_genuine`` pairs); ``strict`` is the threshold measured
    at a ten times lower FAR target, for large 1:N galleries.
    """

    threshold: float
    far: float
    frr: float
    far_target: float
    n_genuine: int
    n_impostor: int
    strict: float

    @classmethod
    def shipped(cls, encoder: EncoderKind = "dlib") -> OperatingPoint:
        """The operating point of ``encoder`` in the package's calibration file."""
        name = CALIBRATION_FILES[encoder]
        text = resources.files("recognition.faces").joinpath(name).read_text("utf-8")
        record = json.loads(text)
        if record.get("encoder", "dlib") != encoder:
            raise ValueError(
                f"{name} was calibrated for {record.get('encoder')!r}, not {encoder!r}"
            )
        d = record["operating_point"]
        return cls(
            threshold=float(d["threshold"]),
            far=float(d["far"]),
            frr=float(d["frr"]),
            far_target=float(d["far_target"]),
            n_genuine=int(d["n_genuine"]),
            n_impostor=int(d["n_impostor"]),
            strict=float(d["strict"]),
        )


@dataclass(frozen=True)
class Verification:
    """Outcome of a 1:1 comparison. ``distance`` is None when undecided
    because a face is missing; ``reason`` says why the decision is unknown."""

    decision: Decision
    distance: float | None
    threshold: float
    reason: RejectReason | None = None


@dataclass(frozen=True)
class Candidate:
    identity: str
    distance: float


@dataclass(frozen=True)
class Identification:
    """Outcome of a 1:N search: the matched identity (``match`` only) and the
    nearest identities, closest first, for review."""

    decision: Decision
    identity: str | None
    distance: float | None
    threshold: float
    candidates: tuple[Candidate, ...] = ()
    reason: RejectReason | None = None


@dataclass(frozen=True)
class EnrolmentCheck:
    """Whether a photo can be enrolled: exactly one usable face."""

    face: FaceObservation | None
    reason: RejectReason | None
    n_faces: int

    @property
    def ok(self) -> bool:
        return self.reason is None


class FaceMatcher:
    """Turns encodings into decisions at one threshold.

    A face with a ``reject_reason`` or a quality below ``min_quality`` is never
    matched: the decision is ``unknown``.
    """

    def __init__(
        self,
        *,
        threshold: float | None = None,
        min_quality: float = 0.5,
        encoder: EncoderKind = "dlib",
    ) -> None:
        """``threshold`` defaults to the shipped one of ``encoder``: pass the encoder
        whose encodings this matcher compares."""
        self.encoder: EncoderKind = encoder
        self.threshold = (
            OperatingPoint.shipped(encoder).threshold if threshold is None else threshold
        )
        if not 0.0 < self.threshold < 2.0:
            raise ValueError("threshold must be in (0, 2)")
        if not 0.0 <= min_quality <= 1.0:
            raise ValueError("min_quality must be in [0, 1]")
        self.min_quality = min_quality

    def unusable(self, face: FaceObservation) -> RejectReason | None:
        """Why ``face`` cannot be matched, or None."""
        if face.reject_reason is not None:
            return RejectReason(face.reject_reason)
        if face.quality < self.min_quality:
            return RejectReason.LOW_QUALITY
        return None

    def verify(self, probe: FaceObservation, reference: FaceObservation) -> Verification:
        """1:1: is ``probe`` the person of ``reference``?"""
        reason = self.unusable(probe) or self.unusable(reference)
        distance = _distance(probe.encoding, reference.encoding)
        if reason is not None:
            return Verification(Decision.UNKNOWN, distance, self.threshold, reason)
        decision = Decision.MATCH if distance <= self.threshold else Decision.NO_MATCH
        return Verification(decision, distance, self.threshold)

    def verify_document(
        self, probe: FaceObservation, document: Image, *, encoder: FaceEncoder
    ) -> Verification:
        """1:1 against the photo of an identity document.

        The document's largest face is used (passports often print a second,
        smaller "ghost" portrait); ``unknown`` when it has none or it is unusable.
        """
        faces = encoder.faces(document)
        if not faces:
            return Verification(Decision.UNKNOWN, None, self.threshold, RejectReason.NO_FACE)
        return self.verify(probe, max(faces, key=lambda f: f.box.area))


class Gallery:
    """An in-memory 1:N gallery: identities with one or more encodings each.

    An identity's distance to a probe is the smallest over its encodings.
    """

    def __init__(self, *, matcher: FaceMatcher) -> None:
        self.matcher = matcher
        self._ids: list[str] = []
        self._enc = np.zeros((0, 128), dtype=np.float32)

    def __len__(self) -> int:
        return len(set(self._ids))

    def add(self, identity: str, face: FaceObservation) -> None:
        """Enrol one face of ``identity``; unusable faces are refused."""
        if not identity:
            raise ValueError("identity must not be empty")
        reason = self.matcher.unusable(face)
        if reason is not None:
            raise ValueError(f"face not usable for enrolment: {reason.value}")
        self._ids.append(identity)
        self._enc = np.vstack([self._enc, _as_encoding(face.encoding)[None, :]])

    def remove(self, identity: str) -> int:
        """Forget every encoding of ``identity``; returns how many were removed."""
        keep = [i for i, x in enumerate(self._ids) if x != identity]
        removed = len(self._ids) - len(keep)
        self._ids = [self._ids[i] for i in keep]
        self._enc = self._enc[keep]
        return removed

    def identify(self, probe: FaceObservation, *, k: int = 3) -> Identification:
        """1:N: the enrolled identity ``probe`` matches, if any."""
        threshold = self.matcher.threshold
        reason = self.matcher.unusable(probe)
        if reason is not None:
            return Identification(Decision.UNKNOWN, None, None, threshold, reason=reason)
        if not self._ids:
            return Identification(Decision.NO_MATCH, None, None, threshold)
        d = np.linalg.norm(self._enc - _as_encoding(probe.encoding)[None, :], axis=1)
        best: dict[str, float] = {}
        for identity, dist in zip(self._ids, d.tolist(), strict=True):
            best[identity] = min(dist, best.get(identity, np.inf))
        ranked = tuple(
            Candidate(i, float(x)) for i, x in sorted(best.items(), key=lambda t: t[1])[:k]
        )
        top = ranked[0]
        if top.distance <= threshold:
            return Identification(Decision.MATCH, top.identity, top.distance, threshold, ranked)
        return Identification(Decision.NO_MATCH, None, top.distance, threshold, ranked)


def check_enrolment(image: Image, *, encoder: FaceEncoder) -> EnrolmentCheck:
    """Whether ``image`` (a watchlist enrolment photo) has exactly one usable face.

    Faces failing the quality gate are ignored when counting, so a blurred
    face in the background does not block enrolment; with no usable face the
    reason is that of the largest face (or ``no_face``). For enrolment an
    encoder with ``model="hog+cnn"`` also finds tilted faces HOG misses.
    """
    faces = encoder.faces(image)
    usable = [f for f in faces if f.reject_reason is None]
    if len(usable) == 1:
        return EnrolmentCheck(usable[0], None, len(faces))
    if len(usable) > 1:
        return EnrolmentCheck(None, RejectReason.MULTIPLE_FACES, len(faces))
    if not faces:
        return EnrolmentCheck(None, RejectReason.NO_FACE, 0)
    largest = max(faces, key=lambda f: f.box.area)
    assert largest.reject_reason is not None  # every face here failed the gate
    return EnrolmentCheck(None, RejectReason(largest.reject_reason), len(faces))


def _as_encoding(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.shape != (128,):
        raise ValueError(f"expected a 128-d encoding, got shape {a.shape}")
    return a


def _distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(np.linalg.norm(_as_encoding(a) - _as_encoding(b)))
