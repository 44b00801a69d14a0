"""Synthetic lanes built from portrait photos: a lane face set per size bucket
(``render_face_set``, for detector and encoder figures) and a driver capture rate
(``simulate_capture``).

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

import csv
import importlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

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
        heads.append((head_crop(image, face.box), identity))
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


def head_origin(box: Box) -> tuple[int, int]:
    """Where `head_crop` starts in the portrait (may be outside it)."""
    return int(box.x1 - 0.6 * box.width), int(box.y1 - 0.7 * box.height)


def head_crop(image: Image, box: Box) -> Image:
    """Head and shoulders around a face box: 0.6 face widths each side, 0.7 face heights
    above and 0.9 below, from `head_origin`. Where that runs past the portrait's edges the
    edge pixels are repeated, so the face always sits at the same place in the crop (the
    true box of a pasted face is computed from that place)."""
    x1, y1 = head_origin(box)
    x2, y2 = round(box.x2 + 0.6 * box.width), round(box.y2 + 0.9 * box.height)
    h, w = image.shape[:2]
    inner = image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
    pads = (max(0, -y1), max(0, y2 - h), max(0, -x1), max(0, x2 - w))
    if any(pads):
        return np.ascontiguousarray(cv2.copyMakeBorder(inner, *pads, cv2.BORDER_REPLICATE))
    return np.ascontiguousarray(inner)


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


# --- A lane face set: one face per 640x480 windshield frame, with its true box --------

SET_W, SET_H = 640, 480

SET_BUCKET_RANGES: tuple[tuple[float, float], ...] = (
    (30.0, 36.0),
    (36.0, 60.0),
    (60.0, 110.0),
    (110.0, 120.0),
)
"""Sizes drawn by ``render_face_set``: one face per bucket and photo (30-120 px)."""


@dataclass(frozen=True)
class LaneFace:
    """One rendered frame: its file (relative to the set's manifest), identity,
    the pasted face's box (HOG-like geometry, frame pixels), what was done to it,
    and the photo it was rendered from (its ``file`` in the source manifest)."""

    file: str
    identity: str
    box: Box
    conditions: str
    source: str = ""


Locator = Callable[[Image], Box | None]
"""Finds the subject's face box in a clean portrait (None: skip the photo)."""


def hog_locator() -> Locator:
    """face_recognition's default detector (dlib HOG, upsample 1), largest face."""
    dlib: Any = importlib.import_module("dlib")
    hog: Any = dlib.get_frontal_face_detector()

    def locate(image: Image) -> Box | None:
        s = min(1.0, 800.0 / max(image.shape[:2]))
        small = (
            cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else image
        )
        rects = hog(np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)), 1)
        if not len(rects):
            return None
        r = max(rects, key=lambda r: r.area())
        return Box(r.left() / s, r.top() / s, (r.right() + 1) / s, (r.bottom() + 1) / s)

    return locate


def render_face_set(
    manifest_path: Path | str,
    out_dir: Path | str,
    *,
    seed: int = 0,
    locate: Locator | None = None,
    ranges: Sequence[tuple[float, float]] = SET_BUCKET_RANGES,
) -> Path:
    """Render a lane face set from a ``file,identity`` manifest of portraits.

    Each photo gives one frame per size range: the head is pasted into the
    driver's side of a dark 640x480 windshield scene, slightly turned and
    rolled, under tint, dim exposure or IR-like grey, windshield reflections,
    sometimes a sun visor or the A-pillar over part of the face, motion blur,
    sensor noise and JPEG. Writes the frames and ``manifest.csv``
    (``file,identity,x,y,w,h,conditions,source``; a ``file,identity`` manifest
    with extra columns; ``source`` is the photo's ``file`` in the source
    manifest, so evaluation leaves out pairs of frames of one photo) under
    ``out_dir`` and returns the manifest path.

    Known bias: the true box is where ``locate`` (default: the library's HOG)
    found the face on the clean photo, and photos where it found none are left
    out; faces stay near-frontal press portraits.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    locate = locate or hog_locator()
    rng = np.random.default_rng(seed)
    rows: list[LaneFace] = []
    base = Path(manifest_path).parent
    for n, (path, identity) in enumerate(read_manifest(manifest_path)):
        raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if raw is None:
            continue
        image = np.asarray(raw, dtype=np.uint8)
        face = locate(image)
        if face is None:
            log.info("no face located, photo left out: %s", path.name)
            continue
        for k, (lo, hi) in enumerate(ranges):
            frame, box, cond = _lane_frame(image, face, float(rng.uniform(lo, hi)), rng)
            name = f"{n:04d}_{k}.jpg"
            cv2.imwrite(str(out / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            rows.append(LaneFace(name, identity, box, cond, path.relative_to(base).as_posix()))
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "identity", "x", "y", "w", "h", "conditions", "source"])
        for r in rows:
            b = r.box
            w.writerow(
                [
                    r.file,
                    r.identity,
                    *(f"{v:.1f}" for v in (b.x1, b.y1, b.width, b.height)),
                    r.conditions,
                    r.source,
                ]
            )
    return manifest


def _lane_frame(
    image: Image, face: Box, face_px: float, rng: np.random.Generator
) -> tuple[Image, Box, str]:
    tags: list[str] = []
    # Cabin: dark, smooth, a brighter strip of sky/road above the dashboard line.
    low = rng.normal(45.0, 18.0, (6, 8, 3)).clip(5, 120).astype(np.float32)
    canvas: npt.NDArray[np.float32] = np.asarray(
        cv2.resize(low, (SET_W, SET_H), interpolation=cv2.INTER_CUBIC), np.float32
    )
    canvas[: int(SET_H * rng.uniform(0.08, 0.2))] += float(rng.uniform(40, 120))
    # Head: pose (roll + yaw-like squash), scale, feathered paste on the driver's side.
    head = head_crop(image, face)
    hx0, hy0 = head_origin(face)
    squash = float(rng.uniform(0.85, 1.0))
    s = face_px / (face.width * squash)
    roll = float(rng.uniform(-10.0, 10.0))
    tile = cv2.resize(head, None, fx=s * squash, fy=s, interpolation=cv2.INTER_AREA)
    th, tw = tile.shape[:2]
    rot = cv2.getRotationMatrix2D((tw / 2.0, th / 2.0), roll, 1.0)
    tile = cv2.warpAffine(tile, rot, (tw, th), borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((th, tw), np.float32)
    cv2.ellipse(
        mask,
        (tw // 2, th // 2),
        (max(1, int(tw * 0.45)), max(1, int(th * 0.48))),
        0,
        0,
        360,
        1.0,
        -1,
    )
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.04 * tw))[:, :, None]
    cx = float(rng.uniform(0.55, 0.8)) * SET_W
    cy = float(rng.uniform(0.38, 0.6)) * SET_H
    x0, y0 = int(cx - tw / 2), int(cy - th / 2)
    x0c, y0c = max(0, x0), max(0, y0)
    x1c, y1c = min(SET_W, x0 + tw), min(SET_H, y0 + th)
    sub = (slice(y0c - y0, y1c - y0), slice(x0c - x0, x1c - x0))
    region = canvas[y0c:y1c, x0c:x1c]
    m = mask[sub]
    canvas[y0c:y1c, x0c:x1c] = region * (1 - m) + tile[sub].astype(np.float32) * m
    # True box: the located face, scaled the same way (roll ignored: <= 10 degrees).
    fx0 = x0 + (face.x1 - hx0) * s * squash
    fy0 = y0 + (face.y1 - hy0) * s
    box = Box(fx0, fy0, fx0 + face.width * s * squash, fy0 + face.height * s)
    # Occluders: a sun visor from above, the A-pillar from the side.
    if rng.random() < 0.2:
        cover = float(rng.uniform(0.1, 0.35))
        canvas[: max(0, int(box.y1 + cover * box.height))] *= 0.25
        tags.append("visor")
    if rng.random() < 0.15:
        xs = int(box.x2 - float(rng.uniform(0.1, 0.25)) * box.width)
        canvas[:, xs : xs + int(0.15 * SET_W)] = float(rng.uniform(10, 40))
        tags.append("pillar")
    # Light: exposure and tint, or IR-like grey.
    f = canvas * float(rng.uniform(0.15, 0.75))
    if rng.random() < 0.3:
        grey = f.mean(axis=2, keepdims=True) * float(rng.uniform(1.0, 1.8))
        f = np.repeat(grey, 3, axis=2)
        tags.append("ir")
    else:
        f = f * rng.uniform(0.75, 1.05, 3).astype(np.float32)
        tags.append("tint")
    # Windshield reflection: a veil plus one or two bright soft diagonal bands.
    if rng.random() < 0.7:
        strength = float(rng.uniform(0.1, 0.5))
        xx, yy = np.meshgrid(np.linspace(0, 1, SET_W), np.linspace(0, 1, SET_H))
        veil = 0.5 + 0.5 * (xx if rng.random() < 0.5 else 1 - xx)
        for _ in range(int(rng.integers(1, 3))):
            c, wdt = float(rng.uniform(-0.5, 1.5)), float(rng.uniform(0.05, 0.25))
            veil = veil + np.exp(-(((xx + 0.6 * yy) - c) ** 2) / (2 * wdt**2))
        f = f * (1 - strength) + 255.0 * strength * (veil / veil.max())[:, :, None]
        tags.append("glare")
    # Sensor: motion blur, noise, JPEG.
    if rng.random() < 0.5:
        k = int(rng.choice([3, 5, 7, 9]))
        kernel = np.full((1, k), 1.0 / k, np.float32)
        f = np.asarray(cv2.filter2D(f.astype(np.float32), -1, kernel), np.float64)
        tags.append(f"blur{k}")
    f = f + rng.normal(0.0, float(rng.uniform(2.0, 10.0)), f.shape)
    out = np.asarray(np.clip(f, 0, 255), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 80))])
    if ok:
        out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
    return out, box.clip(SET_W, SET_H), "+".join(tags)
