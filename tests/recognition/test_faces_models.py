"""Faces with the real dlib models on in-code fixtures (skimage's astronaut)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from recognition.faces.driver import (
    SeatLayout,
    blur_passengers,
    driver_face,
    faces_in_region,
    select_driver,
)
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import EVAL_KEYS
from recognition.faces.match import Decision, FaceMatcher, check_enrolment
from recognition.faces.quality import RejectReason
from recognition.types import Box, Image

_spec = importlib.util.spec_from_file_location(
    "faces_fixtures", Path(__file__).with_name("test_faces_fixtures.py")
)
assert _spec is not None and _spec.loader is not None
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def blur(a: Image, sigma: float) -> Image:
    return np.asarray(cv2.GaussianBlur(a, (0, 0), sigma), dtype=np.uint8)


def flip(a: Image) -> Image:
    return np.asarray(cv2.flip(a, 1), dtype=np.uint8)


def scale(a: Image, f: float) -> Image:
    return np.asarray(cv2.resize(a, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), dtype=np.uint8)


@pytest.fixture(scope="module")
def encoder() -> FaceRecognitionEncoder:
    return FaceRecognitionEncoder()


@pytest.fixture(scope="module")
def img() -> Image:
    out: Image = fx.astronaut()
    return out


def test_astronaut_one_good_face(encoder: FaceRecognitionEncoder, img: Image) -> None:
    faces = encoder.faces(img)
    assert len(faces) == 1
    f = faces[0]
    assert f.encoding.dtype == np.float32 and f.encoding.shape == (128,)
    assert f.reject_reason is None and f.quality > 0.8
    assert f.box.iou(Box(179, 83, 267, 171)) > 0.7


def test_blurred_face_is_rejected_as_blurred(encoder: FaceRecognitionEncoder, img: Image) -> None:
    faces = encoder.faces(blur(img, 3.5))
    assert faces and faces[0].reject_reason == RejectReason.BLURRED
    assert faces[0].quality < 0.5


def test_dark_face_is_rescued_by_clahe_or_rejected(
    encoder: FaceRecognitionEncoder, img: Image
) -> None:
    assert encoder.detector.clahe_mode == "auto"
    dark = np.asarray(img * 0.15, dtype=np.uint8)
    off = FaceRecognitionEncoder(clahe="off").faces(dark)
    auto = encoder.faces(dark)
    assert off[0].reject_reason == RejectReason.UNDEREXPOSED
    assert auto[0].reject_reason is None and auto[0].quality > off[0].quality
    very_dark = np.asarray(img * 0.04, dtype=np.uint8)
    assert encoder.faces(very_dark)[0].reject_reason == RejectReason.UNDEREXPOSED


def test_washed_out_face_is_overexposed(encoder: FaceRecognitionEncoder, img: Image) -> None:
    bright = np.asarray(np.clip(img * 0.25 + 255 * 0.75, 0, 255), dtype=np.uint8)
    faces = encoder.faces(bright)
    assert faces and faces[0].reject_reason == RejectReason.OVEREXPOSED


def test_small_face_is_too_small(encoder: FaceRecognitionEncoder, img: Image) -> None:
    small = scale(img, 0.35)
    faces = encoder.faces(small)
    assert len(faces) == 1 and faces[0].reject_reason == RejectReason.TOO_SMALL


def test_mirrored_photo_verifies_as_the_same_person(
    encoder: FaceRecognitionEncoder, img: Image
) -> None:
    m = FaceMatcher()
    a, b = encoder.faces(img)[0], encoder.faces(flip(img))[0]
    v = m.verify(a, b)
    assert v.decision is Decision.MATCH and v.distance is not None and v.distance < m.threshold
    doc = m.verify_document(a, scale(img, 0.6), encoder=encoder)
    assert doc.decision is Decision.MATCH
    blank = np.full((200, 200, 3), 128, np.uint8)
    assert m.verify_document(a, blank, encoder=encoder).reason is RejectReason.NO_FACE


def test_enrolment_check(encoder: FaceRecognitionEncoder, img: Image) -> None:
    assert check_enrolment(img, encoder=encoder).ok
    two: Image = np.hstack([img, flip(img)])
    assert check_enrolment(two, encoder=encoder).reason is RejectReason.MULTIPLE_FACES
    blank = np.full((300, 300, 3), 90, np.uint8)
    assert check_enrolment(blank, encoder=encoder).reason is RejectReason.NO_FACE
    blurred = blur(img, 3.5)
    assert check_enrolment(blurred, encoder=encoder).reason is RejectReason.BLURRED


def _two_seat_cabin() -> tuple[Image, Box]:
    tile = fx.face_tile()
    other = flip(fx.face_tile(0.9))  # the passenger: mirrored, a little smaller
    frame = fx.cabin([(other, 380, 200), (tile, 760, 190)])
    return frame, Box(300, 150, 1050, 500)


@pytest.mark.parametrize(("drive", "expect_right"), [("left", True), ("right", False)])
def test_driver_in_synthetic_cabin(
    encoder: FaceRecognitionEncoder, drive: str, expect_right: bool
) -> None:
    frame, vehicle = _two_seat_cabin()
    faces = faces_in_region(encoder, frame, region=vehicle)
    assert len(faces) == 2
    layout = SeatLayout(drive_side=drive)  # type: ignore[arg-type]
    sel = select_driver(faces, region=vehicle, layout=layout)
    assert sel.driver is not None and sel.usable
    centre = (sel.driver.box.x1 + sel.driver.box.x2) / 2
    assert (centre > 675) is expect_right
    assert sel.passengers == () and len(sel.passenger_boxes) == 1


def test_passenger_blur_leaves_only_the_driver(encoder: FaceRecognitionEncoder) -> None:
    frame, vehicle = _two_seat_cabin()
    sel = select_driver(
        faces_in_region(encoder, frame, region=vehicle), region=vehicle, layout=SeatLayout()
    )
    blurred = blur_passengers(frame, sel)
    left = encoder.faces(blurred)
    assert len(left) == 1 and sel.driver is not None and left[0].box.iou(sel.driver.box) > 0.5


def test_best_driver_face_over_frames(encoder: FaceRecognitionEncoder) -> None:
    frame, vehicle = _two_seat_cabin()
    shaken = blur(fx.face_tile(), 3.0)  # the driver moved: motion blur
    blurry = fx.cabin([(flip(fx.face_tile(0.9)), 380, 200), (shaken, 760, 190)])
    r = driver_face([(blurry, vehicle), (frame, vehicle)], encoder=encoder, layout=SeatLayout())
    assert r.usable and r.frame_index == 1
    r = driver_face([(blurry, vehicle)], encoder=encoder, layout=SeatLayout())
    assert not r.usable and r.reason is RejectReason.BLURRED


def test_eval_faces_cli_writes_exact_keys(tmp_path: Path, img: Image) -> None:
    from lanecap.cli.faces_cmds import eval_faces

    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "b.png"), flip(img))
    cv2.imwrite(str(tmp_path / "c.png"), np.full((120, 120, 3), 128, np.uint8))
    m = tmp_path / "m.csv"
    m.write_text("file,identity\na.png,astro\nb.png,astro\nc.png,nobody\n")
    out = tmp_path / "out" / "faces.json"
    res = CliRunner().invoke(eval_faces, [str(m), "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert tuple(d)[: len(EVAL_KEYS)] == EVAL_KEYS
    assert d["sized_by"] == "detected" and d["per_size"]["none"]["n_images"] == 1
    assert d["n_images"] == 3 and d["detect_rate"] == pytest.approx(2 / 3)
    assert d["tar_far_1e3"] is None  # no impostor pairs among images with a face
    assert d["rank1"] == 1.0 and d["ms_p50"] > 0


@pytest.mark.slow
def test_lane_simulation_runs_end_to_end(
    tmp_path: Path, encoder: FaceRecognitionEncoder, img: Image
) -> None:
    from recognition.faces.lanesim import simulate_capture

    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "b.png"), flip(img))
    m = tmp_path / "m.csv"
    m.write_text("file,identity\na.png,astro\nb.png,astro\n")
    r = simulate_capture(m, encoder=encoder, frames_per_vehicle=2, seed=1)
    assert r["vehicles"] == 2
    assert r["capture_rate"] is not None and 0.0 <= r["capture_rate"] <= 1.0
    assert r["false_match"] in (None, 0.0)


@pytest.mark.slow
def test_cnn_fallback_finds_a_face_hog_misses(img: Image) -> None:
    from recognition.faces.detect import FaceDetector

    m = cv2.getRotationMatrix2D((223, 127), 65, 1.0)
    tilted = np.asarray(cv2.warpAffine(img, m, (512, 512)), dtype=np.uint8)
    assert FaceDetector(model="hog").detect(tilted) == []
    found = FaceDetector(model="hog+cnn").detect(tilted)
    assert len(found) == 1 and found[0].box.iou(Box(155, 66, 270, 181)) > 0.5
