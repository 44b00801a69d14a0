"""A synthetic lane for the driver-face capture rate, built from portrait photos.

There is no real lane footage with visible faces to measure against, so each
photo of a ``file,identity`` manifest becomes one "vehicle": the person's head
is pasted into the driver's seat of a 1280x720 windshield scene (often with
another person of the manifest as the front passenger), over several frames
of an approach (the face grows), under random night-time exposure and noise,
windshield glare, motion blur and JPEG compression. The driver pipeline
(detect in the vehicle box, select by seat, quality gate, best frame) runs on
those frames.

Figures (all over vehicles):

- ``capture_rate``: a usable driver face was kept.
- ``driver_correct``: of those, the kept face is the one pasted in the driver seat.
- ``match_rate``: the kept face was identified as the right person against a
  gallery of the identity's *other* photos (vehicles whose identity has no
  other usable photo are left out of this one rate).
- ``false_match``: identified as someone else.
- ``reasons``: counts of why no usable face was kept.

Known bias: heads are cut out of the photos where the same detector found
them, and pasted heads keep studio lighting and a frontal pose, so real lanes
will do worse; use this to compare settings, not as a field figure.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recognition.faces.driver import SeatLayout, driver_face
from recognition.faces.evaluate import read_manifest
from recognition.faces.match import Decision, FaceMatcher, Gallery
from recognition.types import Box, FaceEncoder, FaceObservation, Image

log = logging.getLogger(__name__)

FRAME_W, FRAME_H = 1280, 720
VEHICLE = Box(240.0, 110.0, 1040.0, 610.0)


@dataclass(frozen=True)
class Conditions:
    """Random capture conditions of one vehicle."""

    face_px: float
    exposure: float
    glare: float
    blur_px: int
    passenger: bool


def simulate_capture(
    manifest_path: Path | str,
    *,
    encoder: FaceEncoder,
    layout: SeatLayout | None = None,
    frames_per_vehicle: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Capture and match figures of the synthetic lane (see the module doc)."""
    layout = layout or SeatLayout()
    rng = np.random.default_rng(seed)
    rows = read_manifest(manifest_path)
    heads: list[tuple[Image, str]] = []
    reference: list[FaceObservation | None] = []
    for path, identity in rows:
        raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if raw is None:
            continue
        image = np.asarray(raw, dtype=np.uint8)
        faces = encoder.faces(image)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.box.area)
        heads.append((_head(image, face.box), identity))
        reference.append(face if face.reject_reason is None else None)
    matcher = FaceMatcher()
    n = captured = correct = matched = false_match = match_probes = 0
    reasons: Counter[str] = Counter()
    for i, (head, identity) in enumerate(heads):
        cond = Conditions(
            face_px=float(rng.uniform(40.0, 90.0)),
            exposure=float(rng.uniform(0.15, 1.0)),
            glare=float(rng.uniform(0.0, 0.6)),
            blur_px=int(rng.choice([0, 0, 0, 5, 9])),
            passenger=bool(rng.random() < 0.6),
        )
        others = [j for j, (_, other) in enumerate(heads) if other != identity]
        passenger = heads[int(rng.choice(others))][0] if cond.passenger and others else None
        frames, driver_box = _frames(head, passenger, cond, layout, frames_per_vehicle, rng)
        result = driver_face([(f, VEHICLE) for f in frames], encoder=encoder, layout=layout)
        n += 1
        if not result.usable or result.face is None:
            reasons[str(result.reason)] += 1
            continue
        captured += 1
        correct += result.face.box.iou(driver_box) > 0.3
        gallery = Gallery(matcher=matcher)
        for j, ref in enumerate(reference):
            if j != i and ref is not None:
                gallery.add(heads[j][1], ref)
        if not any(heads[j][1] == identity and reference[j] for j in range(len(heads)) if j != i):
            continue
        match_probes += 1
        r = gallery.identify(result.face)
        matched += r.decision is Decision.MATCH and r.identity == identity
        false_match += r.decision is Decision.MATCH and r.identity != identity
    return {
        "vehicles": n,
        "capture_rate": captured / n if n else None,
        "driver_correct": correct / captured if captured else None,
        "match_rate": matched / match_probes if match_probes else None,
        "false_match": false_match / match_probes if match_probes else None,
        "reasons": dict(reasons),
    }


def _head(image: Image, box: Box) -> Image:
    """Head and shoulders around a face box."""
    b = Box(
        box.x1 - 0.6 * box.width,
        box.y1 - 0.7 * box.height,
        box.x2 + 0.6 * box.width,
        box.y2 + 0.9 * box.height,
    )
    return np.ascontiguousarray(b.crop(image))


def _frames(
    head: Image,
    passenger: Image | None,
    cond: Conditions,
    layout: SeatLayout,
    count: int,
    rng: np.random.Generator,
) -> tuple[list[Image], Box]:
    frames: list[Image] = []
    driver_box = Box(0, 0, 0, 0)
    mid = (VEHICLE.x1 + VEHICLE.x2) / 2.0
    sign = layout.driver_direction if layout.camera == "front" else 1
    for k in range(count):
        grow = 1.0 + 0.2 * k
        canvas = np.asarray(rng.normal(70, 12, (FRAME_H, FRAME_W, 3)).clip(0, 255), np.uint8)
        face_px = cond.face_px * grow
        driver_box = _paste(canvas, head, face_px, mid + sign * 0.22 * VEHICLE.width)
        if passenger is not None:
            _paste(canvas, passenger, face_px * 0.95, mid - sign * 0.22 * VEHICLE.width)
        frames.append(_degrade(canvas, cond, rng))
    return frames, driver_box


def _paste(canvas: Image, head: Image, face_px: float, cx: float) -> Box:
    """Paste ``head`` scaled so its face is ``face_px`` wide, centred at ``cx``."""
    s = face_px / (head.shape[1] / 2.2)
    tile = np.asarray(cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), np.uint8)
    th, tw = tile.shape[:2]
    x0 = int(cx - tw / 2)
    y0 = int(VEHICLE.y1 + 0.45 * VEHICLE.height - th / 2)
    x0c, y0c = max(0, x0), max(0, y0)
    x1c, y1c = min(FRAME_W, x0 + tw), min(FRAME_H, y0 + th)
    canvas[y0c:y1c, x0c:x1c] = tile[y0c - y0 : y1c - y0, x0c - x0 : x1c - x0]
    fw, fh = tw / 2.2, th / 2.6
    fx0, fy0 = x0 + 0.6 * fw, y0 + 0.7 * fh
    return Box(fx0, fy0, fx0 + fw, fy0 + fh)


def _degrade(frame: Image, cond: Conditions, rng: np.random.Generator) -> Image:
    f = frame.astype(np.float32) * cond.exposure
    f += rng.normal(0.0, 2.0 + 8.0 * (1.0 - cond.exposure), f.shape)
    if cond.glare > 0:
        x = np.linspace(0.0, 1.0, FRAME_W, dtype=np.float32)[None, :, None]
        veil = 255.0 * cond.glare * (0.4 + 0.6 * x) * float(rng.uniform(0.7, 1.0))
        f = f * (1.0 - cond.glare) + veil
    out = np.asarray(np.clip(f, 0, 255), dtype=np.uint8)
    if cond.blur_px:
        kernel = np.full((1, cond.blur_px), 1.0 / cond.blur_px, np.float32)
        out = np.asarray(cv2.filter2D(out, -1, kernel), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        return out
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
