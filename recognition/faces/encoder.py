"""FaceRecognitionEncoder: dlib detection + quality gate + 128-d encodings."""

from __future__ import annotations

import importlib
import logging
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
from recognition.types import FaceObservation, Image

log = logging.getLogger(__name__)

FaceDetectorKind = Literal["dlib", "yunet"]
"""``"dlib"``: dlib's detector chosen by ``model`` (HOG, CNN or both). ``"yunet"``:
OpenCV's YuNet (``recognition.faces.yunet``), which finds small dim faces through a
windshield that HOG misses (``calibration.md``, "Detector"); ``model``,
``upsample``, ``retry_upsample`` and ``min_score`` are dlib's and not used by it.
Both feed the same dlib 5-point landmarks and ResNet encoder."""

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's ResNet encoder expects 150x150 chips aligned on the 5 points with
0.25 padding (the values ``face_recognition`` uses)."""


class FaceRecognitionEncoder:
    """Implements ``recognition.types.FaceEncoder`` with face_recognition's dlib models.

    Every detected face is returned, encoded, with its quality in [0, 1] and a
    ``reject_reason`` (a ``RejectReason`` value) when it fails the gate; the
    caller decides what to do with rejected faces (matching treats them as
    ``unknown``). Encodings use the 5-point landmark model only.
    """

    def __init__(
        self,
        *,
        detector: FaceDetectorKind = "dlib",
        model: DetectorModel = "hog",
        upsample: int = 0,
        retry_upsample: bool = True,
        max_side: int | None = 1280,
        clahe: ClaheMode = "auto",
        min_score: float | None = None,
        num_jitters: int = 1,
        gate: QualityGate | None = None,
        threads: int = 2,
    ) -> None:
        if num_jitters < 1:
            raise ValueError("num_jitters must be >= 1")
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
        self.num_jitters = num_jitters
        self.gate = gate if gate is not None else QualityGate()
        dlib: Any = importlib.import_module("dlib")
        models = load_models_module()
        self._dlib = dlib
        self._net: Any = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def faces(self, image: Image) -> list[FaceObservation]:
        """All faces in ``image``, largest first."""
        return [obs for obs, _ in self.faces_with_reports(image)]

    def faces_with_reports(self, image: Image) -> list[tuple[FaceObservation, QualityReport]]:
        """Like ``faces`` with each face's quality measurements."""
        found = self.detector.detect(image)
        if not found:
            return []
        frames = _Frames(image)
        out = []
        for det in found:
            # "always": encode from the enhanced frame; "auto": only dark faces
            # (CLAHE costs verification accuracy on well-exposed faces).
            enhanced = self.detector.clahe_mode == "always"
            obs, report = self._encode(frames.rgb(enhanced=enhanced), det)
            if (
                self.detector.clahe_mode == "auto"
                and report.metrics.brightness < DARK_FACE_BRIGHTNESS
            ):
                obs, report = self._encode(frames.rgb(enhanced=True), det)
            out.append((obs, report))
        return out

    def _encode(
        self, rgb: npt.NDArray[np.uint8], det: DetectedFace
    ) -> tuple[FaceObservation, QualityReport]:
        shape = self.detector.shape(rgb, det.box)
        chip = np.asarray(
            self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING),
            dtype=np.uint8,
        )
        report = assess(chip, det.box, det.landmarks, self.gate)
        encoding = np.asarray(
            self._net.compute_face_descriptor(chip, self.num_jitters), dtype=np.float32
        ).reshape(128)
        reason = None if report.reject_reason is None else report.reject_reason.value
        obs = FaceObservation(
            box=det.box, encoding=encoding, quality=report.quality, reject_reason=reason
        )
        return obs, report


class _Frames:
    """The RGB frame, and its CLAHE-enhanced version computed at most once."""

    def __init__(self, image: Image) -> None:
        self._image = image
        self._rgb: npt.NDArray[np.uint8] | None = None
        self._enhanced: npt.NDArray[np.uint8] | None = None

    def rgb(self, *, enhanced: bool) -> npt.NDArray[np.uint8]:
        if enhanced:
            if self._enhanced is None:
                self._enhanced = np.asarray(
                    cv2.cvtColor(clahe(self._image), cv2.COLOR_BGR2RGB), dtype=np.uint8
                )
            return self._enhanced
        if self._rgb is None:
            self._rgb = np.asarray(cv2.cvtColor(self._image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return self._rgb
