"""SFace face embeddings (OpenCV's ``FaceRecognizerSF``), aligned on YuNet's five points.

SFace (OpenCV Zoo, Apache-2.0; the block-quantized int8 ONNX file ships in
``recognition/models``) maps a 112x112 face, aligned by a similarity transform
on the eyes, nose tip and mouth corners (``alignCrop``), to a 128-d vector.
Embeddings are L2-normalised here, so the Euclidean distance that the matcher
and pgvector's ``vector_l2_ops`` use is ``sqrt(2 - 2 cos)``, a monotone
function of SFace's own cosine score: thresholds are calibrated in that
distance (``calibration_sface.json``). SFace embeddings are not comparable
with dlib's: the two never meet in one gallery or column.

Models are loaded in the constructor, never at import.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.detect import Point
from recognition.types import Image

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SIZE = 112


class SFaceEmbedder:
    """128-d, L2-normalised SFace embeddings of faces given by their five points."""

    def __init__(self, *, threads: int = 2, model_path: Path | None = None) -> None:
        path = model_path if model_path is not None else MODELS_DIR / SFACE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"SFace model not found: {path}")
        if not hasattr(cv2, "FaceRecognizerSF"):
            raise ImportError(
                "cv2.FaceRecognizerSF is missing: install opencv-python-headless>=4.8"
            )
        self.threads = threads
        self._net: Any = cv2.FaceRecognizerSF.create(str(path), "")

    def align(
        self, image: Image, points5: tuple[Point, Point, Point, Point, Point]
    ) -> npt.NDArray[np.uint8]:
        """The 112x112 BGR face aligned on ``points5`` (YuNet's order)."""
        row = np.zeros((1, 15), np.float32)
        for i, (x, y) in enumerate(points5):
            row[0, 4 + 2 * i] = x
            row[0, 5 + 2 * i] = y
        return np.asarray(self._net.alignCrop(image, row), dtype=np.uint8)

    def embed(
        self, image: Image, points5: tuple[Point, Point, Point, Point, Point]
    ) -> npt.NDArray[np.float32]:
        """The unit-length embedding of the face at ``points5`` in BGR ``image``."""
        return self.feature(self.align(image, points5))

    def feature(self, aligned: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The unit-length embedding of a face ``align`` returned."""
        prev = cv2.getNumThreads()
        cv2.setNumThreads(self.threads)
        try:
            feat = np.asarray(self._net.feature(aligned), dtype=np.float32).reshape(128)
        finally:
            cv2.setNumThreads(prev)
        norm = float(np.linalg.norm(feat))
        out: npt.NDArray[np.float32] = feat / norm if norm > 0 else feat
        return out
