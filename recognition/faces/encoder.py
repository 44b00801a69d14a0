"""FaceRecognitionEncoder: dlib detection + quality gate + 128-d encodings."""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import Any

import cv2
import numpy as np

from recognition.faces.detect import DetectedFace, DetectorModel, FaceDetector
from recognition.faces.enhance import ClaheMode, clahe
from recognition.faces.quality import QualityGate, QualityReport, assess
from recognition.types import Box, FaceObservation, Image

log = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's ResNet encoder expects 150x150 chips aligned on the 5 points with
0.25 padding (the values ``face_recognition`` uses)."""


def load_models_module() -> Any:
    """``face_recognition_models`` (model file paths), without its pkg_resources warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("face_recognition_models")


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
        model: DetectorModel = "hog",
        upsample: int = 0,
        retry_upsample: bool = True,
        max_side: int | None = 1280,
        clahe: ClaheMode = "fallback",
        num_jitters: int = 1,
        gate: QualityGate | None = None,
    ) -> None:
        if num_jitters < 1:
            raise ValueError("num_jitters must be >= 1")
        load_models_module()
        self.detector = FaceDetector(
            model=model,
            upsample=upsample,
            retry_upsample=retry_upsample,
            max_side=max_side,
            clahe_mode=clahe,
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

    def faces_in_region(self, image: Image, *, region: Box, pad: float = 0.05) -> list[FaceObservation]:
        """Faces inside ``region`` (e.g. a vehicle box), in full-frame coordinates."""
        h, w = image.shape[:2]
        px, py = region.width * pad, region.height * pad
        r = Box(region.x1 - px, region.y1 - py, region.x2 + px, region.y2 + py).clip(w, h)
        x0, y0 = int(r.x1), int(r.y1)
        crop = np.ascontiguousarray(image[y0 : int(round(r.y2)), x0 : int(round(r.x2))])
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            return []
        out = []
        for obs in self.faces(crop):
            b = obs.box
            box = Box(b.x1 + x0, b.y1 + y0, b.x2 + x0, b.y2 + y0)
            out.append(FaceObservation(box, obs.encoding, obs.quality, obs.reject_reason))
        return out

    def faces_with_reports(self, image: Image) -> list[tuple[FaceObservation, QualityReport]]:
        """Like ``faces`` with each face's quality measurements."""
        found = self.detector.detect(image)
        if not found:
            return []
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        rgb_enhanced = None
        out = []
        for det in found:
            src = rgb
            if det.enhanced:
                if rgb_enhanced is None:
                    rgb_enhanced = cv2.cvtColor(clahe(image), cv2.COLOR_BGR2RGB)
                src = rgb_enhanced
            out.append(self._encode(src, det))
        return out

    def _encode(self, rgb: Any, det: DetectedFace) -> tuple[FaceObservation, QualityReport]:
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
