"""Builds the recognition components a lane needs, from settings (models load here, once)."""

from __future__ import annotations

import importlib.util
import logging

from lanecap.config import LaneConfig, Settings
from lanecap.errors import PipelineError
from lanecap.pipeline import LanePipeline
from recognition.plates.grammar import REGIONS, Region
from recognition.types import FaceEncoder, PlateDetector, PlateReader

log = logging.getLogger(__name__)


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
    from recognition.plates.ensemble import paired_yolo

    try:
        conf = min(rec.plate_min_score, rec.plate_confirm_score)
        if rec.plate_detector == "yolo":
            return YoloPlateDetector(threads=rec.threads, conf=conf)
        return paired_yolo(threads=rec.threads, conf=conf)
    except FileNotFoundError as err:
        raise PipelineError(
            f"plate model missing: {err}",
            hint="train one with `lanecap train detector` or set recognition.plate_detector = 'contour'",
        ) from None


EU_REGIONS = ("de", "fr", "it", "es", "nl", "pl", "ro", "gb")


def grammar_regions(wanted: tuple[str, ...]) -> tuple[Region, ...]:
    """Expand a lane's plate_regions (`any`, `eu`, country codes) into reader grammars."""
    if "any" in wanted:
        return REGIONS
    out: list[Region] = []
    for r in wanted:
        for code in EU_REGIONS if r == "eu" else (r,):
            if code in REGIONS and code not in out:
                out.append(code)
    return tuple(out)


def plate_reader(settings: Settings, lane: LaneConfig | None = None) -> PlateReader:
    from recognition.plates.reader import EasyOcrReader

    rec = settings.recognition
    regions = grammar_regions(lane.plate_regions) if lane is not None else REGIONS
    # One thread: a node serving several lanes loses frames with two per reader (6 lanes x
    # 5 fps: 2 % dropped against none); one lane alone reads a vehicle in 61 ms on two
    # threads and 95 ms on one (bench/bench_lane_reading.py).
    ours = EasyOcrReader(
        threads=1,
        min_confidence=rec.read_min_confidence,
        regions=regions,
        framings=rec.read_framings,
    )
    return with_second_reader(ours, rec.plate_second_reader, regions=regions)


def with_second_reader(
    ours: PlateReader, second: str, *, regions: tuple[Region, ...] = REGIONS
) -> PlateReader:
    """`ours`, asking RapidOCR's recogniser where its read is unsure (`second` = rapidocr)."""
    if second == "none":
        return ours
    from recognition.plates.rapid import AgreementReader, RapidPlateReader

    try:
        rapid = RapidPlateReader(threads=1, regions=regions)
    except (FileNotFoundError, ImportError, RuntimeError) as err:
        log.warning("second plate reader unavailable (%s): reading with ours alone", err)
        return ours
    return AgreementReader(ours, rapid, how="sure-or-confident")


def face_encoder(settings: Settings) -> FaceEncoder:
    from recognition.faces.encoder import FaceRecognitionEncoder

    rec = settings.recognition
    return FaceRecognitionEncoder(
        detector=rec.face_detector,
        encoder=rec.face_encoder,
        model=rec.face_model,
        threads=rec.threads,
        defer=True,  # the lane encodes the face it keeps per vehicle, not every face it sees
    )


def lane_pipeline(settings: Settings, lane: LaneConfig) -> LanePipeline:
    needs_plates = any(c.role != "driver" for c in lane.cameras)
    needs_faces = any(c.role == "driver" for c in lane.cameras)
    return LanePipeline(
        lane,
        detector=plate_detector(settings) if needs_plates else None,
        reader=plate_reader(settings, lane) if needs_plates else None,
        faces=face_encoder(settings) if needs_faces else None,
        min_score=settings.recognition.plate_min_score,
        keep_passengers=settings.security.keep_passenger_faces,
        settle_reads=settings.recognition.settle_reads,
        confirm_floor=settings.recognition.plate_confirm_score,
    )
