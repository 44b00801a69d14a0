"""Driver-face detectors: YuNet beside dlib's HOG, size buckets, the lane face set."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from recognition.faces.detect import FaceDetector
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import EVAL_KEYS, read_manifest
from recognition.faces.lanesim import render_face_set
from recognition.faces.sizes import face_matches, read_boxes, size_bucket
from recognition.faces.yunet import MODELS_DIR, YUNET_FILES, YuNetFaceDetector, to_hog_box
from recognition.types import Box, Image
from tests.recognition import test_faces_fixtures as fx
from tests.recognition.test_faces_fixtures import ASTRO_FACE


@pytest.fixture(scope="module")
def img() -> Image:
    out: Image = fx.astronaut()
    return out


@pytest.fixture(scope="module")
def yunet() -> YuNetFaceDetector:
    return YuNetFaceDetector()


@pytest.mark.parametrize(
    ("width", "bucket"),
    [(12.0, "<30"), (29.9, "<30"), (30.0, "30-36"), (35.9, "30-36"), (36.0, "36-60"),
     (59.0, "36-60"), (60.0, "60-110"), (109.9, "60-110"), (110.0, "110+"), (400.0, "110+")],
)  # fmt: skip
def test_size_bucket(width: float, bucket: str) -> None:
    assert size_bucket(width) == bucket


@pytest.mark.parametrize(
    ("found", "hit"),
    [
        (Box(10, 10, 50, 50), True),  # same box
        (Box(20, 20, 40, 40), True),  # inside: centre inside
        (Box(0, 0, 100, 100), True),  # larger, centre inside
        (Box(45, 45, 90, 90), False),  # corner overlap only
        (Box(200, 200, 240, 240), False),
    ],
)
def test_face_matches(found: Box, hit: bool) -> None:
    assert face_matches(found, Box(10, 10, 50, 50)) is hit


def test_to_hog_box_is_a_square_below_yunets_centre() -> None:
    b = to_hog_box(100.0, 100.0, 47.0, 61.0)
    assert b.width == pytest.approx(50.0) and b.height == pytest.approx(50.0)
    assert (b.x1 + b.x2) / 2 == pytest.approx(123.5)
    assert (b.y1 + b.y2) / 2 > 100.0 + 61.0 / 2


def test_shipped_yunet_files_match_their_readme_sha256() -> None:
    readme = (MODELS_DIR / "face_detection_yunet_README.md").read_text(encoding="utf-8")
    assert (MODELS_DIR / "face_detection_yunet_LICENSE").read_text().startswith("MIT License")
    for name in YUNET_FILES.values():
        digest = hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest()
        assert re.search(rf"{re.escape(name)}.*{digest}", readme), name


def test_yunet_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="score_threshold"):
        YuNetFaceDetector(score_threshold=1.5)
    with pytest.raises(ValueError, match="min_input"):
        YuNetFaceDetector(min_input=32)
    with pytest.raises(FileNotFoundError):
        YuNetFaceDetector(model_path=Path("/nonexistent/yunet.onnx"))


def test_yunet_finds_the_astronaut_with_landmarks(yunet: YuNetFaceDetector, img: Image) -> None:
    faces = yunet.detect(img)
    assert len(faces) == 1
    f = faces[0]
    assert face_matches(f.box, ASTRO_FACE) and 0.6 < f.box.width / ASTRO_FACE.width < 1.5
    lm = f.landmarks
    assert lm.left_eye[0] < lm.right_eye[0]
    assert lm.left_eye[1] < lm.nose[1] and lm.right_eye[1] < lm.nose[1]


def test_yunet_on_a_blank_frame_finds_nothing(yunet: YuNetFaceDetector) -> None:
    assert yunet.detect(np.full((480, 640, 3), 40, np.uint8)) == []


def test_yunet_path_encodes_like_the_dlib_path(img: Image) -> None:
    """Same dlib landmarks and ResNet: stored embeddings stay comparable."""
    y = FaceRecognitionEncoder(detector="yunet", clahe="off").faces(img)
    d = FaceRecognitionEncoder(detector="dlib", clahe="off").faces(img)
    assert len(y) == len(d) == 1
    assert float(np.linalg.norm(y[0].encoding - d[0].encoding)) < 0.1


def _rendered(img: Image, tmp_path: Path, ranges: list[tuple[float, float]], seed: int) -> Path:
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "b.png"), np.ascontiguousarray(img[:, ::-1]))
    src = tmp_path / "src.csv"
    src.write_text("file,identity\na.png,astro\nb.png,astro\n")
    mirrored = Box(img.shape[1] - ASTRO_FACE.x2, ASTRO_FACE.y1, img.shape[1] - ASTRO_FACE.x1,
                   ASTRO_FACE.y2)  # fmt: skip

    def locate(image: Image) -> Box:
        return ASTRO_FACE if image[100, 100].tolist() == img[100, 100].tolist() else mirrored

    return render_face_set(src, tmp_path / "set", seed=seed, locate=locate, ranges=ranges)


def test_render_face_set_writes_true_boxes_in_the_asked_sizes(img: Image, tmp_path: Path) -> None:
    m = _rendered(img, tmp_path, [(30.0, 36.0), (60.0, 110.0)], seed=3)
    rows = read_manifest(m)
    boxes = read_boxes(m)
    assert len(rows) == 4 and len(boxes) == 4
    widths = sorted(b.width for b in boxes.values())
    assert all(29.0 <= w < 36.5 for w in widths[:2]) and all(59.0 <= w < 111 for w in widths[2:])
    for path, _ in rows:
        frame = cv2.imread(str(path))
        assert frame is not None and frame.shape == (480, 640, 3)


@pytest.mark.slow
def test_yunet_finds_small_dim_faces_that_hog_misses(img: Image, tmp_path: Path) -> None:
    """Over rendered windshield frames (36-60 px faces, several seeds), YuNet hits the
    pasted face more often than lanecap's HOG detector, and on most frames."""
    m = _rendered(img, tmp_path, [(36.0, 48.0), (40.0, 60.0)] * 4, seed=11)
    boxes = read_boxes(m)
    yunet, hog = YuNetFaceDetector(), FaceDetector()
    hits = {"yunet": 0, "hog": 0}
    for path, _ in read_manifest(m):
        frame = np.asarray(cv2.imread(str(path)), np.uint8)
        truth = boxes[path]
        hits["yunet"] += any(face_matches(f.box, truth) for f in yunet.detect(frame))
        hits["hog"] += any(face_matches(f.box, truth) for f in hog.detect(frame))
    n = len(boxes)
    assert hits["yunet"] > hits["hog"], hits
    assert hits["yunet"] >= 0.75 * n, hits


def test_eval_faces_cli_reports_per_size_from_true_boxes(img: Image, tmp_path: Path) -> None:
    from lanecap.cli.faces_cmds import eval_faces

    m = _rendered(img, tmp_path, [(60.0, 110.0), (110.0, 120.0)], seed=5)
    out = tmp_path / "faces.json"
    res = CliRunner().invoke(eval_faces, [str(m), "--json", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert tuple(d)[: len(EVAL_KEYS)] == EVAL_KEYS
    assert d["sized_by"] == "truth"
    assert set(d["per_size"]) <= {"60-110", "110+"}
    assert sum(b["n_images"] for b in d["per_size"].values()) == d["n_images"] == 4
    for fig in d["per_size"].values():
        assert fig["hit_rate"] is not None and 0.0 <= fig["hit_rate"] <= 1.0


def test_lane_config_default_detector_is_the_cli_default() -> None:
    from lanecap.cli.faces_cmds import eval_faces
    from lanecap.config import RecognitionConfig

    opt = next(p for p in eval_faces.params if p.name == "detector")
    assert RecognitionConfig().face_detector == opt.default == "yunet"


def test_components_wire_the_configured_detector() -> None:
    from lanecap.components import face_encoder
    from lanecap.config import Settings

    enc = face_encoder(Settings())
    assert isinstance(enc, FaceRecognitionEncoder)
    assert isinstance(enc.detector, YuNetFaceDetector)
    s = Settings.model_validate({"recognition": {"face_detector": "dlib"}})
    dlib_enc = face_encoder(s)
    assert isinstance(dlib_enc, FaceRecognitionEncoder)
    assert isinstance(dlib_enc.detector, FaceDetector)


SHARED_FACES = (
    Path(
        os.environ.get(
            "LANECAP_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
        )
    )
    / "faces"
)


@pytest.mark.slow
def test_yunet_path_keeps_the_clean_portrait_targets() -> None:
    """On clean portraits (large faces) the YuNet path must do what the HOG path does:
    every face found, TAR >= 0.95 at FAR 1e-3 (no large false box taken as the face)."""
    from recognition.faces.evaluate import evaluate_faces_detailed

    manifest = SHARED_FACES / "deepface" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"real data not available: {manifest} is absent")
    ev = evaluate_faces_detailed(manifest, encoder=FaceRecognitionEncoder(detector="yunet"))
    assert ev.detect_rate == 1.0
    assert ev.tar_far_1e3 is not None and ev.tar_far_1e3 >= 0.95
    assert ev.rank1 is not None and ev.rank1 >= 0.98


@pytest.mark.parametrize(
    ("row", "ok"),
    [
        ([10, 10, 40, 54, 20, 30, 38, 30, 29, 40, 21, 50, 37, 50, 0.9], True),
        ([10, 10, 54, 54, 20, 30, 38, 30, 29, 40, 21, 50, 37, 50, 0.9], False),  # too wide
        ([10, 10, 40, 54, 28, 30, 31, 30, 29, 40, 21, 50, 37, 50, 0.9], False),  # eyes collapsed
        ([10, 10, 40, 54, 20, 52, 38, 52, 29, 40, 21, 30, 37, 30, 0.9], False),  # upside down
        (
            [0, 0, 300, 400, 80, 160, 220, 160, 150, 230, 90, 300, 210, 300, 0.5],
            False,
        ),  # large, weak
        ([0, 0, 300, 400, 80, 160, 220, 160, 150, 230, 90, 300, 210, 300, 0.9], True),
    ],
)
def test_plausible_face_shapes(row: list[float], ok: bool) -> None:
    from recognition.faces.yunet import plausible

    assert plausible(np.asarray(row, np.float32)) is ok
