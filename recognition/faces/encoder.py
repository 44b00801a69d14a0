"""FaceRecognitionEncoder: detection + quality gate + 128-d encodings (dlib or SFace)."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.detect import (
    DetectedFace,
    DetectorModel,
    FaceDetector,
    FaceFinder,
    load_models_module,
)
from recognition.faces.enhance import DARK_FACE_BRIGHTNESS, ClaheMode, clahe
from recognition.faces.quality import QualityGate, QualityReport, assess
from recognition.faces.sface import SFaceEmbedder
from recognition.types import FaceObservation, Image

log = logging.getLogger(__name__)

FaceDetectorKind = Literal["dlib", "yunet"]
"""``"dlib"``: dlib's detector chosen by ``model`` (HOG, CNN or both). ``"yunet"``:
OpenCV's YuNet (``recognition.faces.yunet``), which finds small dim faces through a
windshield that HOG misses (``calibration.md``, "Detector"); ``model``,
``upsample``, ``retry_upsample`` and ``min_score`` are dlib's and not used by it.
Both feed the same dlib 5-point landmarks (quality gate, dlib's encoder)."""

EncoderKind = Literal["dlib", "sface"]
"""``"dlib"``: dlib's ResNet (face_recognition's encodings, 150 px chip on dlib's five
points). ``"sface"``: OpenCV's SFace (``recognition.faces.sface``) on YuNet's five
points; needs the YuNet detector. The two give 128-d vectors that cannot be compared
with each other: each has its own threshold (``match.OperatingPoint.shipped``) and a
change of encoder means re-encoding what is stored (``calibration.md``)."""

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's ResNet encoder expects 150x150 chips aligned on the 5 points with
0.25 padding (the values ``face_recognition`` uses)."""


class FaceRecognitionEncoder:
    """Implements ``recognition.types.FaceEncoder`` with face_recognition's dlib models
    (or SFace with ``encoder="sface"``).

    Every detected face is returned, encoded, with its quality in [0, 1] and a
    ``reject_reason`` (a ``RejectReason`` value) when it fails the gate; the
    caller decides what to do with rejected faces (matching treats them as
    ``unknown``). Encodings use the 5-point landmark model only.

    With ``defer=True`` a face is detected, aligned and measured at once, but encoded
    only when its ``encoding`` is first read (``FaceObservation``): the lane keeps one
    face per vehicle, so the other faces of its frames are never encoded.
    """

    def __init__(
        self,
        *,
        detector: FaceDetectorKind = "dlib",
        encoder: EncoderKind = "dlib",
        model: DetectorModel = "hog",
        upsample: int = 0,
        retry_upsample: bool = True,
        max_side: int | None = 1280,
        clahe: ClaheMode = "auto",
        min_score: float | None = None,
        num_jitters: int = 1,
        gate: QualityGate | None = None,
        threads: int = 2,
        defer: bool = False,
    ) -> None:
        if num_jitters < 1:
            raise ValueError("num_jitters must be >= 1")
        if encoder == "sface" and detector != "yunet":
            raise ValueError("the sface encoder aligns on YuNet's points: use detector='yunet'")
        self.detector: FaceFinder
        if detector == "yunet":
            from recognition.faces.yunet import YuNetFaceDetector

            self.detector = YuNetFaceDetector(
                max_side=max_side or 1280, clahe_mode=clahe, threads=threads
            )
        else:
            self.detector = FaceDetector(
                model=model,
                upsample=upsample,
                retry_upsample=retry_upsample,
                max_side=max_side,
                clahe_mode=clahe,
                min_score=min_score,
            )
        self.encoder: EncoderKind = encoder
        self.defer = defer
        self._lock = threading.Lock()  # a deferred encoding may be asked for on another thread
        self.num_jitters = num_jitters
        self.gate = gate if gate is not None else QualityGate()
        dlib: Any = importlib.import_module("dlib")
        self._dlib = dlib
        self._net: Any = None
        self._sface: SFaceEmbedder | None = None
        if encoder == "dlib":
            models = load_models_module()
            self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        else:
            self._sface = SFaceEmbedder(threads=threads)

    def faces(self, image: Image) -> list[FaceObservation]:
        """All faces in ``image``, largest first."""
        return [obs for obs, _ in self.faces_with_reports(image)]

    def faces_with_reports(self, image: Image) -> list[tuple[FaceObservation, QualityReport]]:
        """Like ``faces`` with each face's quality measurements."""
        return [(obs, report) for obs, report, _ in self.analyse(image)]

    def analyse(self, image: Image) -> list[tuple[FaceObservation, QualityReport, DetectedFace]]:
        """Like ``faces_with_reports`` with each face's detection (box, both landmark
        sets), for benches that encode the same faces with another encoder."""
        found = self.detector.detect(image)
        if not found:
            return []
        frames = _Frames(image)
        out = []
        for det in found:
            # "always": encode from the enhanced frame; "auto": only dark faces
            # (CLAHE costs verification accuracy on well-exposed faces). The chip is
            # measured first, so each face is encoded once.
            enhanced = self.detector.clahe_mode == "always"
            chip, report = self._chip(frames, det, enhanced=enhanced)
            if (
                self.detector.clahe_mode == "auto"
                and report.metrics.brightness < DARK_FACE_BRIGHTNESS
            ):
                enhanced = True
                chip, report = self._chip(frames, det, enhanced=True)
            out.append((self._encode(frames, det, chip, report, enhanced=enhanced), report, det))
        return out

    def _chip(
        self, frames: _Frames, det: DetectedFace, *, enhanced: bool
    ) -> tuple[npt.NDArray[np.uint8], QualityReport]:
        """dlib's aligned 150 px chip (the quality gate measures it) and its report."""
        rgb = frames.rgb(enhanced=enhanced)
        shape = self.detector.shape(rgb, det.box)
        chip = np.asarray(
            self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING),
            dtype=np.uint8,
        )
        return chip, assess(chip, det.box, det.landmarks, self.gate)

    def _encode(
        self,
        frames: _Frames,
        det: DetectedFace,
        chip: npt.NDArray[np.uint8],
        report: QualityReport,
        *,
        enhanced: bool,
    ) -> FaceObservation:
        if self._sface is not None:
            if det.points5 is None:
                raise ValueError("the sface encoder needs YuNet's five points")
            aligned = self._sface.align(frames.bgr(enhanced=enhanced), det.points5)
            sface = self._sface

            def encode() -> npt.NDArray[np.float32]:
                with self._lock:
                    return sface.feature(aligned)

        else:

            def encode() -> npt.NDArray[np.float32]:
                with self._lock:
                    out = self._net.compute_face_descriptor(chip, self.num_jitters)
                return np.asarray(out, dtype=np.float32).reshape(128)

        reason = None if report.reject_reason is None else report.reject_reason.value
        return FaceObservation(
            det.box,
            None if self.defer else encode(),
            report.quality,
            reason,
            encode=encode,
        )


class _Frames:
    """The frame (BGR, RGB) and its CLAHE-enhanced versions, each computed at most once."""

    def __init__(self, image: Image) -> None:
        self._image = image
        self._rgb: npt.NDArray[np.uint8] | None = None
        self._clahe: Image | None = None
        self._enhanced: npt.NDArray[np.uint8] | None = None

    def bgr(self, *, enhanced: bool) -> Image:
        if not enhanced:
            return self._image
        if self._clahe is None:
            self._clahe = clahe(self._image)
        return self._clahe

    def rgb(self, *, enhanced: bool) -> npt.NDArray[np.uint8]:
        if enhanced:
            if self._enhanced is None:
                self._enhanced = np.asarray(
                    cv2.cvtColor(self.bgr(enhanced=True), cv2.COLOR_BGR2RGB), dtype=np.uint8
                )
            return self._enhanced
        if self._rgb is None:
            self._rgb = np.asarray(cv2.cvtColor(self._image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return self._rgb
