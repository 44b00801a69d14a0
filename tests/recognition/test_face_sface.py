"""SFace encoder, per-encoder thresholds, same-source pairs, synthetic approaches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from recognition.faces.approach import (
    MAX_FACE_PX,
    MIN_FACE_PX,
    draw_vehicle,
    face_sizes,
    render_approach,
)
from recognition.faces.calibrate import calibrate_encoded
from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import EncodedManifest, pair_scores, rank1_rate
from recognition.faces.match import CALIBRATION_FILES, FaceMatcher, OperatingPoint
from recognition.faces.sface import MODELS_DIR, SFACE_FILE, SFACE_SIZE, SFaceEmbedder
from recognition.types import Image
from tests.recognition import test_faces_fixtures as fx
from tests.recognition.test_faces_fixtures import ASTRO_FACE


@pytest.fixture(scope="module")
def img() -> Image:
    out: Image = fx.astronaut()
    return out


@pytest.fixture(scope="module")
def sface_encoder() -> FaceRecognitionEncoder:
    return FaceRecognitionEncoder(detector="yunet", encoder="sface")


def test_shipped_sface_file_matches_its_readme_sha256() -> None:
    readme = (MODELS_DIR / "face_recognition_sface_README.md").read_text(encoding="utf-8")
    licence = (MODELS_DIR / "face_recognition_sface_LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence
    digest = hashlib.sha256((MODELS_DIR / SFACE_FILE).read_bytes()).hexdigest()
    assert f"| {SFACE_FILE} |" in readme and digest in readme


def test_sface_needs_yunet_and_its_model() -> None:
    with pytest.raises(ValueError, match="yunet"):
        FaceRecognitionEncoder(detector="dlib", encoder="sface")
    with pytest.raises(FileNotFoundError):
        SFaceEmbedder(model_path=Path("/nonexistent/sface.onnx"))


def test_sface_embeddings_are_unit_vectors_that_match_the_same_face(
    sface_encoder: FaceRecognitionEncoder, img: Image
) -> None:
    a = sface_encoder.faces(img)
    b = sface_encoder.faces(np.ascontiguousarray(img[:, ::-1]))
    assert len(a) == len(b) == 1
    assert a[0].encoding.shape == (128,)
    assert float(np.linalg.norm(a[0].encoding)) == pytest.approx(1.0, abs=1e-4)
    same = float(np.linalg.norm(a[0].encoding - b[0].encoding))
    assert same < OperatingPoint.shipped("sface").threshold
    # A different 'face': the same chip rolled upside down is far from it.
    obs, _, det = sface_encoder.analyse(img)[0]
    assert det.points5 is not None
    emb = SFaceEmbedder()
    chip = emb.align(img, det.points5)
    assert chip.shape == (SFACE_SIZE, SFACE_SIZE, 3)
    flipped = np.ascontiguousarray(img[::-1])
    h = img.shape[0]
    upside = tuple((x, h - 1 - y) for x, y in det.points5)
    other = emb.embed(flipped, upside)  # type: ignore[arg-type]
    assert float(np.linalg.norm(other - obs.encoding)) > same


def test_each_encoder_has_its_own_calibration() -> None:
    dlib, sface = OperatingPoint.shipped("dlib"), OperatingPoint.shipped("sface")
    assert set(CALIBRATION_FILES) == {"dlib", "sface"}
    assert 0.0 < dlib.threshold < 1.0 < sface.threshold < 2.0
    assert dlib.strict <= dlib.threshold and sface.strict <= sface.threshold
    assert FaceMatcher(encoder="sface").threshold == sface.threshold
    assert FaceMatcher().threshold == dlib.threshold


def test_config_encoder_default_and_sface_needs_yunet() -> None:
    from lanecap.cli.faces_cmds import calibrate_faces, eval_faces
    from lanecap.config import RecognitionConfig

    for cmd in (eval_faces, calibrate_faces):
        opt = next(p for p in cmd.params if p.name == "encoder")
        assert opt.default == RecognitionConfig().face_encoder == "dlib"
    assert RecognitionConfig(face_encoder="sface").face_detector == "yunet"
    with pytest.raises(ValidationError, match="yunet"):
        RecognitionConfig(face_encoder="sface", face_detector="dlib")


def test_components_wire_the_configured_encoder() -> None:
    from lanecap.components import face_encoder
    from lanecap.config import Settings

    s = Settings.model_validate({"recognition": {"face_encoder": "sface"}})
    enc = face_encoder(s)
    assert isinstance(enc, FaceRecognitionEncoder) and enc.encoder == "sface"


def test_pairs_of_one_source_photo_are_left_out() -> None:
    rng = np.random.default_rng(0)
    enc = rng.normal(0, 1, (5, 128))
    ids = ["a", "a", "a", "b", "b"]
    src = ["p1", "p1", "p2", "p3", "p3"]
    plain = pair_scores(enc, ids)
    sourced = pair_scores(enc, ids, src)
    assert (plain.genuine.size, plain.impostor.size) == (4, 6)
    # a: p1-p1 dropped (2 of 3 left); b: its only pair is p3-p3; impostors all kept.
    assert (sourced.genuine.size, sourced.impostor.size) == (2, 6)
    _, n_plain = rank1_rate(enc, ids)
    _, n_sourced = rank1_rate(enc, ids, src)
    assert (n_plain, n_sourced) == (5, 3)


def test_calibration_record_names_its_encoder_and_skips_same_source_pairs() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, (6, 128))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    enc = np.vstack([base, base + rng.normal(0, 0.05, base.shape)])
    ids = [f"p{i}" for i in range(6)] * 2
    part = EncodedManifest(enc, ids, 12, [1.0] * 12, 0, sources=[f"s{i}" for i in range(12)])
    rec = calibrate_encoded([part], ["set"], 0.1, "sface")
    assert rec["encoder"] == "sface" and "1.10" in rec["rates_at"]
    assert rec["operating_point"]["n_genuine"] == 6
    same = EncodedManifest(enc, ids, 12, [1.0] * 12, 0, sources=[f"s{i % 6}" for i in range(12)])
    with pytest.raises(ValueError, match="genuine"):
        calibrate_encoded([same], ["set"], 0.1, "sface")


@pytest.mark.parametrize(("speed", "lo", "hi"), [(10.0, 12, 16), (20.0, 6, 8), (30.0, 4, 6)])
def test_approach_frames_cover_36_to_110_px(speed: float, lo: int, hi: int) -> None:
    sizes = face_sizes(speed, 5.0, 0.5)
    assert lo <= len(sizes) <= hi
    assert all(MIN_FACE_PX <= s <= MAX_FACE_PX for s in sizes)
    assert sizes == sorted(sizes)


def test_render_approach_draws_the_driver_on_the_drivers_side(img: Image) -> None:
    rng = np.random.default_rng(2)
    v = draw_vehicle(rng, (20.0, 20.0))
    ap = render_approach((img, ASTRO_FACE), (img, ASTRO_FACE), v, fps=5.0, rng=rng)
    assert len(ap.frames) == len(ap.driver_boxes) >= 5
    assert all(f.shape == (480, 640, 3) for f in ap.frames)
    widths = [b.width for b in ap.driver_boxes]
    assert widths == sorted(widths) and widths[0] >= 30.0
    assert all((b.x1 + b.x2) / 2 > 320 for b in ap.driver_boxes)  # image right: LHD, front


def test_eval_faces_cli_with_sface(img: Image, tmp_path: Path) -> None:
    import cv2

    from lanecap.cli.faces_cmds import eval_faces

    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "b.png"), np.ascontiguousarray(img[:, ::-1]))
    m = tmp_path / "m.csv"
    m.write_text("file,identity\na.png,astro\nb.png,astro\n")
    out = tmp_path / "o.json"
    res = CliRunner().invoke(eval_faces, [str(m), "--encoder", "sface", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "encoder sface" in res.output
    d = json.loads(out.read_text())
    assert d["detect_rate"] == 1.0 and d["rank1"] == 1.0
    bad = CliRunner().invoke(eval_faces, [str(m), "--encoder", "sface", "--detector", "dlib"])
    assert bad.exit_code != 0 and "yunet" in bad.output


@pytest.mark.parametrize("corner", [(4.0, 6.0), (130.0, 120.0)])
def test_a_face_at_the_portraits_edge_is_pasted_where_its_true_box_says(
    corner: tuple[float, float],
) -> None:
    # a bright 60x70 "face" near an edge of a dark portrait: its head box runs past the edge
    from recognition.faces.approach import Vehicle, _paste
    from recognition.faces.lanesim import head_crop
    from recognition.types import Box

    x, y = corner
    face = Box(x, y, x + 60.0, y + 70.0)
    portrait = np.zeros((200, 200, 3), np.uint8)
    portrait[int(y) : int(y) + 70, int(x) : int(x) + 60] = 255
    head = head_crop(portrait, face)
    assert head.shape[:2] == (int(2.6 * 70), int(2.2 * 60))
    ys, xs = np.nonzero(head[:, :, 0] == 255)
    assert (xs.min(), ys.min()) == (36, 49)  # 0.6 and 0.7 of the face's size, at any edge
    v = Vehicle(20.0, 0.5, False, (1.0, 1.0, 1.0), 0.0, 1.0, 0.0, 0.0, False, 0.5, 0.5)
    canvas = np.zeros((480, 640, 3), np.float32)
    truth = _paste(canvas, portrait, face, 60.0, 320.0, 240.0, v, 0.0)
    ys, xs = np.nonzero(canvas[:, :, 0] > 127)
    found = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    assert found.iou(truth) > 0.85, (found, truth)
