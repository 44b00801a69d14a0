"""Plate detector: our YOLO model run with ONNX Runtime, our own letterbox and NMS."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recognition.ort_session import cpu_session
from recognition.plates.letterbox import PAD_VALUE, Letterbox, letterbox
from recognition.plates.nms import nms, xywh_to_xyxy
from recognition.types import Box, Image, PlateDetection

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "plate_yolo.onnx"
FINDER_PATH = MODEL_PATH.with_name("plate_yolo_finder.onnx")
"""The shipped model fine-tuned on real photos of every region: finds more plates, frames
them differently; paired with MODEL_PATH's boxes (`recognition.plates.ensemble`)."""
CLOSEUP_FINDER_PATH = MODEL_PATH.with_name("plate_yolo_closeup.onnx")
"""The finder fine-tuned on close-up photos and transplanted EU / Brazilian plates; the
shipped pair joins its plates to FINDER_PATH's."""
DEFAULT_CONF = 0.4
DEFAULT_IOU = 0.5
DEFAULT_IMGSZ = 640


class YoloPlateDetector:
    """Finds plates in whole frames; implements `recognition.types.PlateDetector`.

    The model is the shipped `recognition/models/plate_yolo.onnx` unless
    `model_path` is given. Frames are letterboxed to `imgsz` on the long side
    and padded only to a multiple of 32 (rectangular input), so a 1280x720
    frame runs at 640x384. `also` adds smaller sizes (e.g. 320) the frame is run
    at as well, their boxes merged before NMS: a close-up plate too large for the
    model at `imgsz` is found at the smaller scale.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        threads: int = 2,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        imgsz: int = DEFAULT_IMGSZ,
        max_det: int = 50,
        also: Sequence[int] = (),
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        self.model_path = model_path or MODEL_PATH
        if not self.model_path.is_file():
            raise FileNotFoundError(f"plate detector model not found: {self.model_path}")
        self._session: Any = cpu_session(self.model_path, threads=threads, providers=providers)
        inp = self._session.get_inputs()[0]
        self._input_name: str = inp.name
        shape = inp.shape
        # a model exported without dynamic axes only takes its fixed square size
        self._fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        self.imgsz = int(shape[2]) if self._fixed else imgsz
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.also = tuple(int(a) for a in also if not self._fixed and int(a) != self.imgsz)
        log.info(
            "plate detector %s (%s, imgsz %d, %d threads)",
            self.model_path.name,
            self._session.get_providers()[0],
            self.imgsz,
            threads,
        )

    def _prepare(
        self, images: Sequence[Image], size: int
    ) -> tuple[npt.NDArray[np.float32], list[Letterbox]]:
        boxed = [letterbox(im, size=size, square=self._fixed) for im in images]
        th = max(b[0].shape[0] for b in boxed)
        tw = max(b[0].shape[1] for b in boxed)
        batch = np.full((len(images), th, tw, 3), PAD_VALUE, np.uint8)
        for i, (img, _) in enumerate(boxed):
            batch[i, : img.shape[0], : img.shape[1]] = img
        # BGR HWC uint8 -> RGB CHW float 0..1
        tensor = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return np.ascontiguousarray(tensor), [b[1] for b in boxed]

    def _candidates(
        self, pred: npt.NDArray[np.float32], lb: Letterbox
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """(xyxy in frame pixels, score) of the anchors at or above `conf`."""
        # pred: (4 + classes, anchors) -> best class score per anchor
        scores = pred[4:].max(axis=0)
        keep = scores >= self.conf
        xyxy = xywh_to_xyxy(pred[:4, keep].T.astype(np.float32))
        sc = scores[keep].astype(np.float32)
        if len(sc) > 1000:
            top = np.argsort(-sc)[:1000]
            xyxy, sc = xyxy[top], sc[top]
        return lb.to_frame(xyxy), sc

    def _decode(
        self,
        found: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
        shape: tuple[int, ...],
    ) -> list[PlateDetection]:
        boxes = np.concatenate([f[0] for f in found]) if found else np.zeros((0, 4), np.float32)
        sc = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.float32)
        if not len(sc):
            return []
        idx = nms(boxes, sc, iou_threshold=self.iou, max_out=self.max_det)
        h, w = shape[:2]
        out = []
        for b, s in zip(boxes[idx], sc[idx], strict=True):
            box = Box(float(b[0]), float(b[1]), float(b[2]), float(b[3])).clip(w, h)
            if box.width >= 2 and box.height >= 2:
                out.append(PlateDetection(box=box, score=float(s)))
        return out

    def detect_batch(self, images: Sequence[Image]) -> list[list[PlateDetection]]:
        """Detect in several frames with one network call (frames of one camera batch best)."""
        if not images:
            return []
        if self._fixed:  # fixed batch size 1 models
            return [self.detect(im) for im in images] if len(images) > 1 else [self._run(images)[0]]
        return self._run(images)

    def _run(self, images: Sequence[Image]) -> list[list[PlateDetection]]:
        found: list[list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]] = [
            [] for _ in images
        ]
        for size in (self.imgsz, *self.also):
            tensor, boxes = self._prepare(images, size)
            (pred,) = self._session.run(None, {self._input_name: tensor})[:1]
            for i in range(len(images)):
                found[i].append(self._candidates(pred[i], boxes[i]))
        return [self._decode(found[i], images[i].shape) for i in range(len(images))]

    def detect(self, image: Image) -> list[PlateDetection]:
        """Plates in one BGR frame, highest score first."""
        return self._run([image])[0]
