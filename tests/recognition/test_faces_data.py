"""Faces on the real development photos (../shared/data); skipped when absent."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.faces.encoder import FaceRecognitionEncoder
from recognition.faces.evaluate import evaluate_faces_detailed, read_manifest
from recognition.faces.match import Decision, FaceMatcher, Gallery
from recognition.types import Image

SHARED = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")
    return path


def _read(path: Path) -> Image:
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert raw is not None, path
    return np.asarray(raw, dtype=np.uint8)


@pytest.fixture(scope="module")
def encoder() -> FaceRecognitionEncoder:
    return FaceRecognitionEncoder()


@pytest.mark.slow
def test_single_face_examples_meet_targets(encoder: FaceRecognitionEncoder) -> None:
    ev = evaluate_faces_detailed(
        shared("faces", "face-recognition-examples", "manifest.csv"), encoder=encoder
    )
    assert ev.n_images >= 10
    assert ev.detect_rate is not None and ev.detect_rate >= 0.98
    assert ev.rank1 is not None and ev.rank1 >= 0.9
    assert ev.tar_far_1e2 is not None and ev.tar_far_1e2 >= 0.9


@pytest.mark.slow
def test_deepface_meets_targets(encoder: FaceRecognitionEncoder) -> None:
    ev = evaluate_faces_detailed(shared("faces", "deepface", "manifest.csv"), encoder=encoder)
    assert ev.detect_rate is not None and ev.detect_rate >= 0.98
    assert ev.tar_far_1e3 is not None and ev.tar_far_1e3 >= 0.9
    assert ev.rank1 is not None and ev.rank1 >= 0.95
    assert ev.n_rejected_by_quality <= 0.1 * ev.n_images  # press photos: mostly usable


@pytest.mark.slow
def test_group_photos_identify_everyone_listed(encoder: FaceRecognitionEncoder) -> None:
    root = shared("faces", "face-recognition-examples")
    gallery = Gallery(matcher=FaceMatcher())
    for path, identity in read_manifest(root / "manifest.csv"):
        faces = [f for f in encoder.faces(_read(path)) if f.reject_reason is None]
        if faces:
            gallery.add(identity, max(faces, key=lambda f: f.box.area))
    with (root / "multi_face.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    found_total = expected_total = 0
    for row in rows:
        expected = set(row["identities"].split("|"))
        faces = encoder.faces(_read(root / row["file"]))
        assert len(faces) >= len(expected)
        found = {
            r.identity
            for r in (gallery.identify(f) for f in faces)
            if r.decision is Decision.MATCH and r.identity is not None
        }
        assert found <= expected  # nobody who is not in the photo
        found_total += len(found & expected)
        expected_total += len(expected)
    assert found_total >= 0.8 * expected_total
