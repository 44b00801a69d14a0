"""Synthetic vehicle approaches at a camera frame rate: per-vehicle driver capture.

Each portrait of a ``file,identity`` manifest becomes one vehicle driving towards
the driver camera at ``speed_kmh`` (drawn per vehicle), filmed at ``fps``. The face
width follows the distance (``FOCAL_PX / distance``: 110 px at 4 m, 36 px at 12.2 m);
frames are taken while the face is 36-110 px wide, from a random phase, so a vehicle
gives 5-15 frames at 5 fps and 10-30 km/h. Every frame is a 640x480 windshield view
(the driver camera's region of interest) with the driver on the driver's side and,
for 60 % of vehicles, a front passenger (another identity) on the other side.

Conditions fixed per vehicle: exposure (0.15-0.75), IR-like grey (30 %) or a tint,
head pose (roll +-10 degrees, yaw-like squash to 0.85), sun visor (20 %, covering the
top 10-35 % of the face), A-pillar over one side of the face (15 %). Per frame:
windshield reflection (70 %: veil plus bright bands that move between frames,
10-50 %), horizontal motion blur growing with speed and face size, noise, JPEG 45-80,
and a small pose jitter. The driver pipeline (detect in the region,
select the driver by seat, quality gate, best face over the vehicle's frames: what
``driver.driver_face`` does) runs on
the frames.

Known bias: pasted heads keep the portraits' poses and studio light under the
synthetic degradations, and the face box of the source photo comes from a detector;
use it to compare settings, not as a field figure.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from recognition.faces.driver import (
    DriverFace,
    SeatLayout,
    best_driver_face,
    faces_in_region,
    select_driver,
)
from recognition.faces.lanesim import head_crop, head_origin
from recognition.types import Box, FaceEncoder, Image

log = logging.getLogger(__name__)

W, H = 640, 480
FOCAL_PX = 440.0
"""Face width times distance (px x m): 110 px at 4 m."""
MIN_FACE_PX, MAX_FACE_PX = 36.0, 110.0


@dataclass(frozen=True)
class Vehicle:
    """Conditions of one vehicle (fixed over its frames)."""

    speed_kmh: float
    exposure: float
    ir: bool
    tint: tuple[float, float, float]
    roll: float
    squash: float
    visor: float
    pillar: float
    passenger: bool
    cx: float
    cy: float


@dataclass(frozen=True)
class Approach:
    """One vehicle's frames, its driver's true box in each, and its conditions."""

    frames: list[Image]
    driver_boxes: list[Box]
    vehicle: Vehicle


def face_sizes(speed_kmh: float, fps: float, phase: float) -> list[float]:
    """Face widths of the frames taken while the face is 36-110 px wide."""
    step = speed_kmh / 3.6 / fps
    far = FOCAL_PX / MIN_FACE_PX
    out = []
    d = far - phase * step
    while d > 0 and FOCAL_PX / d <= MAX_FACE_PX:
        out.append(FOCAL_PX / d)
        d -= step
    return out


def draw_vehicle(rng: np.random.Generator, speed: tuple[float, float]) -> Vehicle:
    return Vehicle(
        speed_kmh=float(rng.uniform(*speed)),
        exposure=float(rng.uniform(0.15, 0.75)),
        ir=bool(rng.random() < 0.3),
        tint=(
            float(rng.uniform(0.75, 1.05)),
            float(rng.uniform(0.75, 1.05)),
            float(rng.uniform(0.75, 1.05)),
        ),
        roll=float(rng.uniform(-10.0, 10.0)),
        squash=float(rng.uniform(0.85, 1.0)),
        visor=float(rng.uniform(0.1, 0.35)) if rng.random() < 0.2 else 0.0,
        pillar=float(rng.uniform(0.1, 0.25)) if rng.random() < 0.15 else 0.0,
        passenger=bool(rng.random() < 0.6),
        cx=float(rng.uniform(0.62, 0.78)),
        cy=float(rng.uniform(0.4, 0.55)),
    )


def render_approach(
    driver: tuple[Image, Box],
    passenger: tuple[Image, Box] | None,
    vehicle: Vehicle,
    *,
    fps: float,
    rng: np.random.Generator,
) -> Approach:
    """The frames of one vehicle; ``driver`` / ``passenger``: a portrait and its face box."""
    sizes = face_sizes(vehicle.speed_kmh, fps, float(rng.random()))
    frames, boxes = [], []
    for px in sizes:
        canvas = _cabin(rng)
        jitter = float(rng.normal(0.0, 1.5))
        box = _paste(canvas, *driver, px, vehicle.cx * W, vehicle.cy * H, vehicle, jitter)
        if passenger is not None and vehicle.passenger:
            _paste(canvas, *passenger, px * 0.95, (1.0 - vehicle.cx) * W, vehicle.cy * H,
                   vehicle, -jitter)  # fmt: skip
        frames.append(_degrade(canvas, box, px, vehicle, rng))
        boxes.append(box.clip(W, H))
    return Approach(frames, boxes, vehicle)


@dataclass
class CaptureResult:
    """Per-vehicle capture figures (``run_capture``)."""

    vehicles: int = 0
    captured: int = 0
    driver_correct: int = 0
    frames: int = 0
    miss_reasons: Counter[str] = field(default_factory=Counter)
    frame_reasons: Counter[str] = field(default_factory=Counter)
    frame_ms: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    """Per captured vehicle: the time to encode its kept face where the encoder deferred
    it (``FaceRecognitionEncoder(defer=True)``, as the lane runs), else about 0."""
    kept: list[tuple[int, DriverFace, Box | None]] = field(default_factory=list)

    @property
    def capture_rate(self) -> float | None:
        return self.captured / self.vehicles if self.vehicles else None


def run_capture(
    approaches: Sequence[Approach], *, encoder: FaceEncoder, layout: SeatLayout
) -> CaptureResult:
    """Run the driver pipeline on each approach; count captures, every miss's reason
    (and each frame's), the wall time per analysed frame and per kept face's encoding."""
    out = CaptureResult()
    region = Box(0.0, 0.0, float(W), float(H))
    for k, ap in enumerate(approaches):
        selections = []
        for f in ap.frames:
            t0 = time.perf_counter()
            faces = faces_in_region(encoder, f, region=region)
            sel = select_driver(faces, region=region, layout=layout)
            out.frame_ms.append((time.perf_counter() - t0) * 1000.0)
            out.frame_reasons[str(sel.reason) if sel.reason else "usable"] += 1
            selections.append(sel)
        result = best_driver_face(selections)
        out.vehicles += 1
        out.frames += len(ap.frames)
        if not result.usable or result.face is None or result.frame_index is None:
            out.miss_reasons[str(result.reason)] += 1
            out.kept.append((k, result, None))
            continue
        t0 = time.perf_counter()
        result.face.encoding  # noqa: B018 (a deferred encoding is computed here)
        out.encode_ms.append((time.perf_counter() - t0) * 1000.0)
        out.captured += 1
        truth = ap.driver_boxes[result.frame_index]
        out.driver_correct += result.face.box.iou(truth) > 0.3
        out.kept.append((k, result, truth))
    return out


def _cabin(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    low = rng.normal(45.0, 18.0, (6, 8, 3)).clip(5, 120).astype(np.float32)
    canvas = np.asarray(cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC), np.float32)
    canvas[: int(H * rng.uniform(0.08, 0.2))] += float(rng.uniform(40, 120))
    return canvas


def _paste(
    canvas: npt.NDArray[np.float32],
    image: Image,
    face: Box,
    face_px: float,
    cx: float,
    cy: float,
    v: Vehicle,
    jitter: float,
) -> Box:
    head = head_crop(image, face)
    hx0, hy0 = head_origin(face)
    s = face_px / (face.width * v.squash)
    tile = cv2.resize(head, None, fx=s * v.squash, fy=s, interpolation=cv2.INTER_AREA)
    th, tw = tile.shape[:2]
    rot = cv2.getRotationMatrix2D((tw / 2.0, th / 2.0), v.roll + jitter, 1.0)
    tile = cv2.warpAffine(tile, rot, (tw, th), borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((th, tw), np.float32)
    axes = (max(1, int(tw * 0.45)), max(1, int(th * 0.48)))
    cv2.ellipse(mask, (tw // 2, th // 2), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.04 * tw))[:, :, None]
    x0, y0 = int(cx - tw / 2), int(cy - th / 2)
    x0c, y0c, x1c, y1c = max(0, x0), max(0, y0), min(W, x0 + tw), min(H, y0 + th)
    if x1c <= x0c or y1c <= y0c:
        return Box(0, 0, 0, 0)
    sub = (slice(y0c - y0, y1c - y0), slice(x0c - x0, x1c - x0))
    m = mask[sub]
    region = canvas[y0c:y1c, x0c:x1c]
    canvas[y0c:y1c, x0c:x1c] = region * (1 - m) + tile[sub].astype(np.float32) * m
    fx0 = x0 + (face.x1 - hx0) * s * v.squash
    fy0 = y0 + (face.y1 - hy0) * s
    return Box(fx0, fy0, fx0 + face.width * s * v.squash, fy0 + face.height * s)


def _degrade(
    canvas: npt.NDArray[np.float32],
    box: Box,
    face_px: float,
    v: Vehicle,
    rng: np.random.Generator,
) -> Image:
    if v.visor:
        canvas[: max(0, int(box.y1 + v.visor * box.height))] *= 0.25
    if v.pillar:
        xs = int(box.x2 - v.pillar * box.width)
        canvas[:, xs : xs + int(0.15 * W)] = 25.0
    f = canvas * v.exposure
    if v.ir:
        f = np.repeat(f.mean(axis=2, keepdims=True) * 1.4, 3, axis=2)
    else:
        f = f * np.asarray(v.tint, np.float32)
    if rng.random() < 0.7:
        strength = float(rng.uniform(0.1, 0.5))
        xx, yy = np.meshgrid(np.linspace(0, 1, W), np.linspace(0, 1, H))
        veil = 0.5 + 0.5 * (xx if rng.random() < 0.5 else 1 - xx)
        for _ in range(int(rng.integers(1, 3))):
            c, wdt = float(rng.uniform(-0.5, 1.5)), float(rng.uniform(0.05, 0.25))
            veil = veil + np.exp(-(((xx + 0.6 * yy) - c) ** 2) / (2 * wdt**2))
        f = f * (1 - strength) + 255.0 * strength * (veil / veil.max())[:, :, None]
    # Motion blur: the face's image speed grows with vehicle speed and face size
    # (1/60 s exposure); 0-9 px.
    k = min(9, round(v.speed_kmh / 30.0 * face_px / 110.0 * 6.0 * float(rng.uniform(0.5, 1.5))))
    if k >= 2:
        kernel = np.full((1, k), 1.0 / k, np.float32)
        f = np.asarray(cv2.filter2D(f.astype(np.float32), -1, kernel), np.float64)
    f = f + rng.normal(0.0, float(rng.uniform(2.0, 10.0)), f.shape)
    out = np.asarray(np.clip(f, 0, 255), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 80))])
    if ok:
        out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
    return out
