"""Face detection with OpenCV's YuNet, landmarks from dlib's 5-point model.

YuNet (OpenCV Zoo, MIT; the ONNX file ships in ``recognition/models``) finds
faces down to ~20 px in dim, noisy frames where dlib's HOG detector gives up
(measured: ``calibration.md``, "Detector"). dlib's ResNet encoder needs dlib's
own 5-point landmarks, so each YuNet box is mapped to the box HOG would have
drawn (``to_hog_box``, fitted on the development portraits) and dlib's shape
predictor is run on it: the encodings are those face_recognition computes for
the same face, and stored embeddings need no migration.

Models are loaded in the constructor, never at import.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.detect import (
    DetectedFace,
    Point,
    _check_image,
    _landmarks,
    load_models_module,
)
from recognition.faces.enhance import ClaheMode, clahe
from recognition.types import Box, Image

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
YUNET_FILES = {
    "float": "face_detection_yunet_2023mar.onnx",
    "int8bq": "face_detection_yunet_2023mar_int8bq.onnx",
}
YuNetVariant = Literal["float", "int8bq"]

DEFAULT_SCORE = 0.4
"""YuNet score floor, chosen on the dev split of the lane face set (``calibration.md``):
0.3 adds false boxes (0.02 a frame), 0.5 and up lose faces."""

DEFAULT_MIN_INPUT = 640
"""Frames (or windshield crops) whose longer side is below this are upscaled to it
before YuNet runs, so a 30 px face in a small crop is seen at a size YuNet finds."""

DEFAULT_RETRY_INPUT = 1280
"""When nothing is found, the frame is searched once more with its longer side scaled
to this (YuNet's smallest anchors then reach ~10 px faces of the original): on the dev
split it lifted 30-36 px faces from 0.91 to 0.97 and costs time only on frames
without a face."""

# HOG's box relative to YuNet's, in units of the HOG box side (median over the
# development portraits; spread about 0.05): same centre x, centre 0.084 lower,
# side = YuNet width / 0.94.
_HOG_DY = 0.084
_HOG_W = 0.94


MAX_ASPECT = 0.92
MIN_EYE_RATIO = 0.30
"""A YuNet box is kept only when it is shaped like a face: width / height <= 0.92 and
eye distance / width >= 0.30 (true faces on the development portraits and lane set:
p0.5 0.63-0.92 and 0.33; YuNet's false boxes at score 0.4-0.6 on CLAHE-enhanced
portraits are wide shoulder and collar boxes, 0.87-1.1, or carry collapsed eyes)."""


LARGE_FACE_PX = 150.0
LARGE_FACE_SCORE = 0.7
"""Boxes this wide or wider (YuNet width, image pixels) need this score: large true
faces score ~0.9 (development portraits), while YuNet's remaining false boxes on
portraits are large chest and shoulder boxes scoring 0.41-0.57. Lane faces (30-120 px)
keep the lower floor."""


def plausible(row: npt.NDArray[np.float32]) -> bool:
    """Whether a YuNet row (x, y, w, h, right eye, left eye, nose, mouth corners,
    score) has a face's shape: aspect, eye distance, eyes above the mouth, and a
    higher score when large."""
    w, h = float(row[2]), float(row[3])
    if w <= 0 or h <= 0 or w / h > MAX_ASPECT:
        return False
    if w >= LARGE_FACE_PX and float(row[14]) < LARGE_FACE_SCORE:
        return False
    eye_d = float(np.hypot(row[6] - row[4], row[7] - row[5]))
    eye_y = (float(row[5]) + float(row[7])) / 2.0
    mouth_y = (float(row[11]) + float(row[13])) / 2.0
    return eye_d / w >= MIN_EYE_RATIO and eye_y < mouth_y


def _points5(row: npt.NDArray[np.float32]) -> tuple[Point, Point, Point, Point, Point]:
    p = [(float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5)]
    return (p[0], p[1], p[2], p[3], p[4])


def to_hog_box(x: float, y: float, w: float, h: float) -> Box:
    """The square box dlib's HOG detector draws for a face YuNet boxed as (x, y, w, h)."""
    side = w / _HOG_W
    cx = x + w / 2.0
    cy = y + h / 2.0 + _HOG_DY * side
    return Box(cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)


class YuNetFaceDetector:
    """Finds faces in a BGR frame with YuNet; same interface as ``FaceDetector``.

    ``clahe_mode`` works as for ``FaceDetector`` (``"auto"``: detect on the
    CLAHE-enhanced frame, then on the frame as given when nothing was found).
    Boxes are HOG-like squares (``to_hog_box``) so the quality gate's size
    thresholds mean the same with both detectors.
    """

    def __init__(
        self,
        *,
        variant: YuNetVariant = "float",
        score_threshold: float = DEFAULT_SCORE,
        nms_threshold: float = 0.3,
        min_input: int = DEFAULT_MIN_INPUT,
        retry_input: int | None = DEFAULT_RETRY_INPUT,
        max_side: int = 1280,
        clahe_mode: ClaheMode = "auto",
        threads: int = 2,
        model_path: Path | None = None,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError("score_threshold must be in (0, 1)")
        if not 64 <= min_input <= max_side:
            raise ValueError("need 64 <= min_input <= max_side")
        if retry_input is not None and not min_input < retry_input <= 2 * max_side:
            raise ValueError("need min_input < retry_input <= 2 * max_side")
        path = model_path if model_path is not None else MODELS_DIR / YUNET_FILES[variant]
        if not path.is_file():
            raise FileNotFoundError(f"YuNet model not found: {path}")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ImportError("cv2.FaceDetectorYN is missing: install opencv-python-headless>=4.8")
        self.variant: YuNetVariant = variant
        self.score_threshold = score_threshold
        self.min_input = min_input
        self.retry_input = retry_input
        self.max_side = max_side
        self.clahe_mode: ClaheMode = clahe_mode
        self.threads = threads
        self._net: Any = cv2.FaceDetectorYN.create(
            str(path), "", (320, 320), score_threshold, nms_threshold, 100
        )
        dlib: Any = importlib.import_module("dlib")
        models = load_models_module()
        self._dlib = dlib
        self._shape: Any = dlib.shape_predictor(models.pose_predictor_five_point_model_location())

    def detect(self, image: Image) -> list[DetectedFace]:
        """All faces in ``image``, largest first."""
        _check_image(image)
        if self.clahe_mode == "off":
            return self._detect_on(image, image, enhanced=False, retry=True)
        found = self._detect_on(clahe(image), image, enhanced=True, retry=True)
        if not found and self.clahe_mode == "auto":
            found = self._detect_on(image, image, enhanced=False, retry=False)
        return found

    def raw(self, image: Image, *, longest_side: int | None = None) -> npt.NDArray[np.float32]:
        """YuNet's face-shaped rows (x, y, w, h, 5 landmark pairs, score) in ``image``
        pixels (``plausible``).

        The image is resized for YuNet to ``longest_side`` when given, else up to
        ``min_input`` or down to ``max_side``."""
        h, w = image.shape[:2]
        longest = max(h, w)
        scale = 1.0
        if longest_side is not None:
            scale = longest_side / float(longest)
        elif longest < self.min_input:
            scale = self.min_input / float(longest)
        elif longest > self.max_side:
            scale = self.max_side / float(longest)
        src = image
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            interp = cv2.INTER_LINEAR if scale > 1.0 else cv2.INTER_AREA
            src = np.asarray(cv2.resize(image, size, interpolation=interp), dtype=np.uint8)
        prev = cv2.getNumThreads()
        cv2.setNumThreads(self.threads)
        try:
            self._net.setInputSize((src.shape[1], src.shape[0]))
            _, rows = self._net.detect(src)
        finally:
            cv2.setNumThreads(prev)
        if rows is None:
            return np.zeros((0, 15), np.float32)
        out = np.asarray(rows, dtype=np.float32).copy()
        out[:, :14] /= scale
        keep = [i for i in range(len(out)) if plausible(out[i])]
        return out[keep] if keep else np.zeros((0, 15), np.float32)

    def shape(self, rgb: npt.NDArray[np.uint8], box: Box) -> Any:
        """dlib's full_object_detection (5 points) for ``box`` in ``rgb``."""
        rect = self._dlib.rectangle(
            round(box.x1), round(box.y1), round(box.x2) - 1, round(box.y2) - 1
        )
        return self._shape(rgb, rect)

    def _detect_on(
        self, image: Image, original: Image, *, enhanced: bool, retry: bool
    ) -> list[DetectedFace]:
        h, w = image.shape[:2]
        rows = self.raw(image)
        if not len(rows) and retry and self.retry_input is not None:
            first = max(self.min_input, min(max(h, w), self.max_side))
            if self.retry_input > first:
                rows = self.raw(image, longest_side=self.retry_input)
        if not len(rows):
            return []
        rgb = np.asarray(cv2.cvtColor(original, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        faces: list[DetectedFace] = []
        for row in rows:
            box = to_hog_box(*(float(v) for v in row[:4])).clip(w, h)
            if box.width < 2 or box.height < 2:
                continue
            faces.append(
                DetectedFace(
                    box=box,
                    landmarks=_landmarks(self.shape(rgb, box)),
                    score=float(row[14]),
                    enhanced=enhanced,
                    points5=_points5(row),
                )
            )
        faces.sort(key=lambda f: f.box.area, reverse=True)
        log.debug("yunet: %d face(s) (enhanced=%s)", len(faces), enhanced)
        return faces
