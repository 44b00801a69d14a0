"""Face detection with dlib (HOG or CNN) plus the 5-point landmarks.

dlib and the model files of ``face_recognition_models`` are loaded in the
constructor, never at import.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.enhance import ClaheMode, clahe
from recognition.types import Box, Image

log = logging.getLogger(__name__)

DetectorModel = Literal["hog", "cnn", "hog+cnn"]
"""``"hog"``: dlib's frontal HOG detector (fast on CPU, ~80 px minimum face at
upsample 0). ``"cnn"``: dlib's MMOD CNN (more robust to pose, seconds per frame
on CPU). ``"hog+cnn"``: HOG, and the CNN only on frames where HOG found nothing
(for enrolment and document photos; too slow for lane frames without faces)."""

Point = tuple[float, float]

_Single = Literal["hog", "cnn"]

DEFAULT_MIN_SCORE: dict[_Single, float] = {"hog": 0.2, "cnn": 0.0}
"""Detections scoring below this are dropped (detector units: HOG SVM margin,
MMOD confidence). On the development photos true HOG faces scored >= 0.40;
the 0.2 cut removes the weak false positives of the upsampled retry."""


@dataclass(frozen=True)
class Landmarks5:
    """dlib's 5 points in image pixels: both corners of each eye and the point
    under the nose. ``left_*`` is the eye on the left of the image."""

    left_outer: Point
    left_inner: Point
    right_inner: Point
    right_outer: Point
    nose: Point

    @property
    def left_eye(self) -> Point:
        return _mid(self.left_outer, self.left_inner)

    @property
    def right_eye(self) -> Point:
        return _mid(self.right_outer, self.right_inner)

    @property
    def eye_distance(self) -> float:
        (ax, ay), (bx, by) = self.left_eye, self.right_eye
        return float(np.hypot(bx - ax, by - ay))


@dataclass(frozen=True)
class DetectedFace:
    """A face box, its 5 landmarks, the detector's raw score, and whether it
    was found on the CLAHE-enhanced frame.

    ``points5`` are YuNet's own five points (image pixels: right eye, left eye,
    nose tip, right and left mouth corner, the subject's right first), which the
    SFace encoder aligns on; None from dlib's detectors."""

    box: Box
    landmarks: Landmarks5
    score: float
    enhanced: bool
    points5: tuple[Point, Point, Point, Point, Point] | None = None


class FaceFinder(Protocol):
    """What ``FaceRecognitionEncoder`` needs of a detector (``FaceDetector``,
    ``recognition.faces.yunet.YuNetFaceDetector``)."""

    clahe_mode: ClaheMode

    def detect(self, image: Image) -> list[DetectedFace]: ...

    def shape(self, rgb: npt.NDArray[np.uint8], box: Box) -> Any: ...


def load_models_module() -> Any:
    """``face_recognition_models`` (model file paths), without its pkg_resources warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("face_recognition_models")


def _mid(a: Point, b: Point) -> Point:
    return ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)


class FaceDetector:
    """Finds faces in a BGR frame.

    Frames larger than ``max_side`` are shrunk for detection only (landmarks
    are fitted at full resolution). With ``retry_upsample`` a frame in which
    nothing is found is searched once more at twice the resolution, which
    reaches faces down to ~40 px without paying 4x the time on every frame.
    """

    def __init__(
        self,
        *,
        model: DetectorModel = "hog",
        upsample: int = 0,
        retry_upsample: bool = True,
        max_side: int | None = 1280,
        clahe_mode: ClaheMode = "auto",
        min_score: float | None = None,
    ) -> None:
        """``min_score`` overrides the score cut (``DEFAULT_MIN_SCORE``) of the
        first detector (the CNN for ``"cnn"``, else HOG)."""
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        if max_side is not None and max_side < 64:
            raise ValueError("max_side must be >= 64 or None")
        self.model: DetectorModel = model
        self.upsample = upsample
        self.retry_upsample = retry_upsample
        self.max_side = max_side
        self.clahe_mode: ClaheMode = clahe_mode
        self.min_score = dict(DEFAULT_MIN_SCORE)
        if min_score is not None:
            self.min_score["cnn" if model == "cnn" else "hog"] = min_score
        dlib: Any = importlib.import_module("dlib")
        models = load_models_module()
        self._dlib = dlib
        self._hog: Any = dlib.get_frontal_face_detector() if model != "cnn" else None
        self._cnn: Any = None
        if model != "hog":
            self._cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
        self._shape: Any = dlib.shape_predictor(models.pose_predictor_five_point_model_location())

    def detect(self, image: Image) -> list[DetectedFace]:
        """All faces in ``image``, largest first."""
        _check_image(image)
        if self.clahe_mode == "off":
            return self._detect_on(image, enhanced=False, retry=self.retry_upsample)
        found = self._detect_on(clahe(image), enhanced=True, retry=self.retry_upsample)
        if not found and self.clahe_mode == "auto":
            # One more pass on the frame as given, at the base resolution only:
            # a frame without faces costs 1 + 4 (upsampled retry) + 1 passes.
            found = self._detect_on(image, enhanced=False, retry=False)
        return found

    def shape(self, rgb: npt.NDArray[np.uint8], box: Box) -> Any:
        """dlib's full_object_detection (5 points) for ``box`` in ``rgb``."""
        # dlib rectangles are inclusive: right/bottom are the last pixel.
        rect = self._dlib.rectangle(
            round(box.x1),
            round(box.y1),
            round(box.x2) - 1,
            round(box.y2) - 1,
        )
        return self._shape(rgb, rect)

    def _detect_on(self, image: Image, *, enhanced: bool, retry: bool) -> list[DetectedFace]:
        h, w = image.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / float(max(h, w))
        rgb = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        small = rgb
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        first: _Single = "cnn" if self.model == "cnn" else "hog"
        raw = self._run(small, self.upsample, first)
        if not raw and retry:
            raw = self._run(small, self.upsample + 1, first)
        if not raw and retry and self.model == "hog+cnn":
            raw = self._run(small, self.upsample, "cnn")
        faces: list[DetectedFace] = []
        for (x1, y1, x2, y2), score in raw:
            box = Box(x1 / scale, y1 / scale, x2 / scale, y2 / scale).clip(w, h)
            if box.width < 2 or box.height < 2:
                continue
            faces.append(
                DetectedFace(
                    box=box,
                    landmarks=_landmarks(self.shape(rgb, box)),
                    score=score,
                    enhanced=enhanced,
                )
            )
        faces.sort(key=lambda f: f.box.area, reverse=True)
        log.debug("detected %d face(s) (enhanced=%s)", len(faces), enhanced)
        return faces

    def _run(
        self, rgb: npt.NDArray[np.uint8], upsample: int, kind: _Single
    ) -> list[tuple[tuple[float, float, float, float], float]]:
        out: list[tuple[tuple[float, float, float, float], float]] = []
        if kind == "hog":
            rects, scores, _ = self._hog.run(rgb, upsample, 0.0)
            for r, sc in zip(rects, scores, strict=True):
                out.append(((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(sc)))
        else:
            for d in self._cnn(rgb, upsample):
                r = d.rect
                out.append(
                    ((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(d.confidence))
                )
        return [(box, score) for box, score in out if score >= self.min_score[kind]]


def _landmarks(shape: Any) -> Landmarks5:
    pts = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(5)]
    # dlib's 5-point order: two corners of one eye, two of the other, nose.
    a = sorted(pts[0:2], key=lambda p: p[0])
    b = sorted(pts[2:4], key=lambda p: p[0])
    left, right = (a, b) if a[0][0] + a[1][0] <= b[0][0] + b[1][0] else (b, a)
    return Landmarks5(
        left_outer=left[0],
        left_inner=left[1],
        right_inner=right[0],
        right_outer=right[1],
        nose=pts[4],
    )


def _check_image(image: Image) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image (H, W, 3), got {image.dtype} {image.shape}")
