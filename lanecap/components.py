"""Builds the recognition components a lane needs, from settings (models load here, once)."""

from __future__ import annotations

import importlib.util

from lanecap.config import LaneConfig, Settings
from lanecap.errors import PipelineError
from lanecap.pipeline import LanePipeline
from recognition.types import FaceEncoder, PlateDetector, PlateReader


def plate_detector(settings: Settings) -> PlateDetector:
    rec = settings.recognition
    if rec.plate_detector == "contour":
        from recognition.plates.contour import ContourPlateDetector

        return ContourPlateDetector()
    if importlib.util.find_spec("recognition.plates.detector") is None:
        raise PipelineError(
            "the YOLO plate detector is not available in this build",
            hint="set recognition.plate_detector = 'contour' or train one: `lanecap train detector`",
        )
    from recognition.plates.detector import YoloPlateDetector

    try:
        return YoloPlateDetector(threads=rec.threads, conf=rec.plate_min_score)
    except FileNotFoundError as err:
        raise PipelineError(
            f"plate model missing: {err}",
            hint="train one with `lanecap train detector` or set recognition.plate_detector = 'contour'",
        ) from None


def plate_reader(settings: Settings) -> PlateReader:
    from recognition.plates.reader import EasyOcrReader

    rec = settings.recognition
    return EasyOcrReader(threads=rec.threads, min_confidence=rec.read_min_confidence)


def face_encoder(settings: Settings) -> FaceEncoder:
    from recognition.faces.encoder import FaceRecognitionEncoder

    return FaceRecognitionEncoder(model=settings.recognition.face_model)


def lane_pipeline(settings: Settings, lane: LaneConfig) -> LanePipeline:
    needs_plates = any(c.role != "driver" for c in lane.cameras)
    needs_faces = any(c.role == "driver" for c in lane.cameras)
    return LanePipeline(
        lane,
        detector=plate_detector(settings) if needs_plates else None,
        reader=plate_reader(settings) if needs_plates else None,
        faces=face_encoder(settings) if needs_faces else None,
        min_score=settings.recognition.plate_min_score,
    )
