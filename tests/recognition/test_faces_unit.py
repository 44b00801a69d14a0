"""Faces without models: quality grading, driver selection, matching, evaluation maths."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.faces.detect import Landmarks5
from recognition.faces.driver import (
    DriverSelection,
    SeatLayout,
    best_driver_face,
    blur_faces,
    capture_rate,
    select_driver,
)
from recognition.faces.evaluate import (
    EVAL_KEYS,
    PairScores,
    equal_error_rate,
    evaluate_faces,
    pair_scores,
    rank1_rate,
    tar_at_far,
    threshold_at_far,
)
from recognition.faces.match import Decision, FaceMatcher, Gallery, OperatingPoint
from recognition.faces.quality import FaceMetrics, QualityGate, RejectReason, grade, nose_offset
from recognition.types import Box, FaceObservation, Image

_spec = importlib.util.spec_from_file_location(
    "faces_fixtures", Path(__file__).with_name("test_faces_fixtures.py")
)
assert _spec is not None and _spec.loader is not None
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

REGION = Box(0, 0, 1000, 600)
GOOD = FaceMetrics(face_px=120, brightness=120, sharpness=0.6, nose_offset=0.02)


# --- quality ---------------------------------------------------------------


def test_good_face_passes_with_full_quality() -> None:
    r = grade(GOOD, QualityGate())
    assert r.reject_reason is None and r.quality == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"face_px": 30}, RejectReason.TOO_SMALL),
        ({"brightness": 15}, RejectReason.UNDEREXPOSED),
        ({"brightness": 245}, RejectReason.OVEREXPOSED),
        ({"sharpness": 0.1}, RejectReason.BLURRED),
        ({"nose_offset": 0.45}, RejectReason.NOT_FRONTAL),
    ],
)
def test_each_criterion_rejects_below_half_quality(
    change: dict[str, float], reason: RejectReason
) -> None:
    m = FaceMetrics(**{**GOOD.__dict__, **change})
    r = grade(m, QualityGate())
    assert r.reject_reason is reason
    assert r.quality < 0.5


def test_quality_falls_monotonically_with_blur_metric() -> None:
    qs = [grade(FaceMetrics(120, 120, s, 0.0), QualityGate()).quality for s in (0.5, 0.3, 0.2, 0.1)]
    assert qs == sorted(qs, reverse=True) and qs[0] > qs[-1]


def test_gate_rejects_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError):
        QualityGate(min_face_px=100, good_face_px=50)


def test_nose_offset_frontal_and_turned() -> None:
    frontal = Landmarks5((10, 50), (30, 50), (70, 50), (90, 50), (50, 80))
    turned = Landmarks5((10, 50), (30, 50), (70, 50), (90, 50), (80, 80))
    assert nose_offset(frontal) == pytest.approx(0.0)
    assert nose_offset(turned) == pytest.approx(30 / 60)


# --- driver selection ------------------------------------------------------


def test_front_camera_left_hand_drive_driver_is_on_image_right() -> None:
    left, right = fx.obs(100, 100, 120, seed=1), fx.obs(700, 100, 120, seed=2)
    sel = select_driver([left, right], region=REGION, layout=SeatLayout(drive_side="left"))
    assert sel.driver is right and sel.passenger_boxes == (left.box,) and sel.passengers == ()
    assert sel.reason is None and sel.usable


def test_front_camera_right_hand_drive_driver_is_on_image_left() -> None:
    left, right = fx.obs(100, 100, 120, seed=1), fx.obs(700, 100, 120, seed=2)
    sel = select_driver([right, left], region=REGION, layout=SeatLayout(drive_side="right"))
    assert sel.driver is left


def test_mirrored_arrangement_mirrors_the_choice() -> None:
    faces = [fx.obs(150, 120, 110, seed=1), fx.obs(650, 90, 130, seed=2)]
    mirrored = [
        FaceObservation(Box(1000 - f.box.x2, f.box.y1, 1000 - f.box.x1, f.box.y2), f.encoding, 0.9)
        for f in faces
    ]
    a = select_driver(faces, region=REGION, layout=SeatLayout(drive_side="left")).driver
    b = select_driver(mirrored, region=REGION, layout=SeatLayout(drive_side="right")).driver
    assert a is not None and b is not None
    assert np.array_equal(a.encoding, b.encoding)


def test_rear_seat_face_is_never_the_driver() -> None:
    front_passenger = fx.obs(100, 100, 120, seed=1)
    rear_behind_driver = fx.obs(800, 80, 50, seed=2)
    driver = fx.obs(600, 110, 115, seed=3)
    sel = select_driver(
        [front_passenger, rear_behind_driver, driver], region=REGION, layout=SeatLayout()
    )
    assert sel.driver is driver and len(sel.passenger_boxes) == 2


def test_lone_face_on_passenger_side_is_not_taken_as_driver() -> None:
    sel = select_driver([fx.obs(100, 100, 120)], region=REGION, layout=SeatLayout())
    assert sel.driver is None and sel.reason is RejectReason.DRIVER_NOT_FOUND
    assert len(sel.passenger_boxes) == 1


def test_driver_side_camera_takes_the_nearest_face() -> None:
    near, far = fx.obs(100, 100, 200, seed=1), fx.obs(700, 100, 90, seed=2)
    sel = select_driver([far, near], region=REGION, layout=SeatLayout(camera="driver_side"))
    assert sel.driver is near


def test_keep_passengers_policy_keeps_their_observations() -> None:
    left, right = fx.obs(100, 100, 120, seed=1), fx.obs(700, 100, 120, seed=2)
    sel = select_driver([left, right], region=REGION, layout=SeatLayout(), keep_passengers=True)
    assert sel.passengers == (left,)


def test_no_faces_reason() -> None:
    assert select_driver([], region=REGION, layout=SeatLayout()).reason is RejectReason.NO_FACE


def _sel(driver: FaceObservation | None, passengers: int = 0) -> DriverSelection:
    boxes = tuple(Box(0, 0, 10, 10) for _ in range(passengers))
    reason = None
    if driver is None:
        reason = RejectReason.DRIVER_NOT_FOUND if passengers else RejectReason.NO_FACE
    elif driver.reject_reason:
        reason = RejectReason(driver.reject_reason)
    return DriverSelection(driver, boxes, (), reason)


def test_best_driver_face_across_frames() -> None:
    blurred = fx.obs(600, 100, 120, quality=0.3, reason="blurred")
    ok = fx.obs(600, 100, 100, quality=0.7)
    better = fx.obs(600, 100, 90, quality=0.9)
    r = best_driver_face([_sel(blurred), _sel(ok), _sel(None, 1), _sel(better)])
    assert r.usable and r.face is better and r.frame_index == 3 and r.n_frames == 4


def test_best_driver_face_says_why_none_is_usable() -> None:
    assert best_driver_face([]).reason is RejectReason.NO_FRAMES
    assert best_driver_face([_sel(None), _sel(None)]).reason is RejectReason.NO_FACE
    assert best_driver_face([_sel(None, 2)]).reason is RejectReason.DRIVER_NOT_FOUND
    dark = fx.obs(600, 100, 120, quality=0.4, reason="underexposed")
    small = fx.obs(600, 100, 30, quality=0.2, reason="too_small")
    r = best_driver_face([_sel(small), _sel(dark)])
    assert not r.usable and r.reason is RejectReason.UNDEREXPOSED and r.face is dark


def test_capture_rate() -> None:
    good = best_driver_face([_sel(fx.obs(600, 100, 120))])
    none = best_driver_face([_sel(None)])
    assert capture_rate([good, none, good, none]) == pytest.approx(0.5)
    assert capture_rate([]) is None


def test_blur_faces_destroys_detail_only_inside_boxes() -> None:
    rng = np.random.default_rng(0)
    img: Image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    out = blur_faces(img, [Box(100, 50, 160, 110)], pad=0.0)
    assert np.array_equal(out[:, :90], img[:, :90]) and np.array_equal(out[:, 170:], img[:, 170:])
    inside = out[55:105, 105:155].astype(np.float32)
    assert (
        cv2.Laplacian(inside, cv2.CV_32F).var()
        < 0.05 * cv2.Laplacian(img[55:105, 105:155].astype(np.float32), cv2.CV_32F).var()
    )
    assert img is not out


# --- matching --------------------------------------------------------------


def _enc(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(0, 1, 128)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _face(enc: np.ndarray, *, quality: float = 0.9, reason: str | None = None) -> FaceObservation:
    return FaceObservation(Box(0, 0, 100, 100), enc.astype(np.float32), quality, reason)


def test_shipped_operating_point_is_sane() -> None:
    op = OperatingPoint.shipped()
    assert 0.4 <= op.strict <= op.threshold <= 0.65
    assert op.far <= op.far_target and op.n_impostor > 0 and op.n_genuine > 0


def test_verify_decisions() -> None:
    m = FaceMatcher(threshold=0.5)
    a = _enc(1)
    near = a + 0.3 * _enc(2)
    assert m.verify(_face(a), _face(near)).decision is Decision.MATCH
    assert m.verify(_face(a), _face(_enc(3))).decision is Decision.NO_MATCH
    v = m.verify(_face(a, quality=0.3, reason="blurred"), _face(a))
    assert v.decision is Decision.UNKNOWN and v.reason is RejectReason.BLURRED
    strict = FaceMatcher(threshold=0.5, min_quality=0.8)
    assert strict.verify(_face(a, quality=0.6), _face(a)).reason is RejectReason.LOW_QUALITY


def test_gallery_identify_add_remove() -> None:
    g = Gallery(matcher=FaceMatcher(threshold=0.5))
    assert g.identify(_face(_enc(1))).decision is Decision.NO_MATCH
    g.add("alice", _face(_enc(1)))
    g.add("alice", _face(_enc(11)))
    g.add("bob", _face(_enc(2)))
    assert len(g) == 2
    r = g.identify(_face(_enc(11) + 0.2 * _enc(5)))
    assert r.decision is Decision.MATCH and r.identity == "alice"
    assert r.candidates[0].identity == "alice" and len(r.candidates) == 2
    assert g.identify(_face(_enc(99))).decision is Decision.NO_MATCH
    assert g.identify(_face(_enc(1), quality=0.1, reason="too_small")).decision is Decision.UNKNOWN
    with pytest.raises(ValueError):
        g.add("carol", _face(_enc(3), quality=0.2, reason="blurred"))
    assert g.remove("alice") == 2 and len(g) == 1


# --- evaluation maths ------------------------------------------------------


def test_threshold_and_tar_at_far() -> None:
    s = PairScores(genuine=np.array([0.1, 0.2, 0.5, 0.9]), impostor=np.linspace(0.3, 1.2, 1000))
    t = threshold_at_far(s.impostor, 1e-3)  # one impostor may pass
    assert np.sum(s.impostor <= t) == 1
    tar, _ = tar_at_far(s, 1e-3)
    assert tar == pytest.approx(0.5)
    assert tar_at_far(PairScores(np.zeros(0), s.impostor), 1e-3) == (None, None)


def test_eer_of_separable_and_overlapping_scores() -> None:
    eer, _ = equal_error_rate(PairScores(np.array([0.1, 0.2]), np.array([0.8, 0.9])))
    assert eer == 0.0
    eer, _ = equal_error_rate(PairScores(np.array([0.1, 0.6]), np.array([0.5, 0.9])))
    assert eer == pytest.approx(0.5)


def test_pairs_and_rank1() -> None:
    e = np.array([[0.0] * 128, [0.1] + [0.0] * 127, [5.0] + [0.0] * 127, [5.2] + [0.0] * 127])
    ids = ["a", "a", "b", "c"]
    s = pair_scores(e, ids)
    assert s.genuine.size == 1 and s.impostor.size == 5
    r, n = rank1_rate(e, ids)
    assert n == 2 and r == 1.0  # c has no other image: not a probe


class ColourEncoder:
    """Fake encoder: one face per image unless it is black; encoding from its colour."""

    def faces(self, image: Image) -> list[FaceObservation]:
        c = image.reshape(-1, 3).mean(axis=0)
        if c.max() < 1:
            return []
        enc = np.zeros(128, np.float32)
        enc[:3] = c / 255.0
        return [FaceObservation(Box(0, 0, 10, 10), enc, 0.9)]


def test_evaluate_faces_counts_misses_in_detect_rate(tmp_path: Path) -> None:
    colours = {"a1": (200, 0, 0), "a2": (210, 0, 0), "b1": (0, 200, 0), "b2": (0, 0, 0)}
    for name, c in colours.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((20, 20, 3), c, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    rows = ["a1.png,a", "a2.png,a", "b1.png,b", "b2.png,b", "broken.jpg,b"]
    m = tmp_path / "m.csv"
    m.write_text("file,identity\n" + "\n".join(rows) + "\n")
    r = evaluate_faces(m, encoder=ColourEncoder())
    assert tuple(r) == EVAL_KEYS
    assert r["n_images"] == 5 and r["detect_rate"] == pytest.approx(3 / 5)
    assert r["tar_far_1e3"] == 1.0 and r["eer"] == 0.0
    assert r["rank1"] == 1.0  # b1 is b's only image with a face: not a probe
    json.dumps(r)


def test_manifest_needs_file_and_identity(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    m.write_text("file,name\nx.jpg,a\n")
    with pytest.raises(ValueError):
        evaluate_faces(m, encoder=ColourEncoder())
