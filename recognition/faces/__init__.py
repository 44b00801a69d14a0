"""Driver faces: detection, quality gate, driver selection, encodings, matching, evaluation.

No model is loaded at import; ``FaceRecognitionEncoder()`` loads dlib's models
(and SFace's with ``encoder="sface"``).
"""

from recognition.faces.detect import DetectorModel, FaceDetector
from recognition.faces.driver import (
    DriverFace,
    DriverSelection,
    SeatLayout,
    best_driver_face,
    blur_faces,
    blur_passengers,
    capture_rate,
    driver_face,
    faces_in_region,
    select_driver,
)
from recognition.faces.encoder import EncoderKind, FaceDetectorKind, FaceRecognitionEncoder
from recognition.faces.enhance import ClaheMode
from recognition.faces.evaluate import EVAL_KEYS, evaluate_faces
from recognition.faces.match import (
    Decision,
    EnrolmentCheck,
    FaceMatcher,
    Gallery,
    Identification,
    OperatingPoint,
    Verification,
    check_enrolment,
)
from recognition.faces.quality import QualityGate, RejectReason
from recognition.faces.sface import SFaceEmbedder
from recognition.faces.yunet import YuNetFaceDetector

__all__ = [
    "EVAL_KEYS",
    "ClaheMode",
    "Decision",
    "DetectorModel",
    "DriverFace",
    "DriverSelection",
    "EncoderKind",
    "EnrolmentCheck",
    "FaceDetector",
    "FaceDetectorKind",
    "FaceMatcher",
    "FaceRecognitionEncoder",
    "Gallery",
    "Identification",
    "OperatingPoint",
    "QualityGate",
    "RejectReason",
    "SFaceEmbedder",
    "SeatLayout",
    "Verification",
    "YuNetFaceDetector",
    "best_driver_face",
    "blur_faces",
    "blur_passengers",
    "capture_rate",
    "check_enrolment",
    "driver_face",
    "evaluate_faces",
    "faces_in_region",
    "select_driver",
]
