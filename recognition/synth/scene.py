"""Compose synthetic lane/street scenes: backgrounds, vehicles, plates, distractors.

`SceneGenerator.generate(rng)` returns an image with the plate boxes. Scenes
are drawn at the scale the detector sees at inference (a 1280x720 frame
letterboxed to 640), so plate widths default to 12..220 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from recognition.synth import effects
from recognition.synth.arrays import f32, u8
from recognition.synth.negatives import render_negative
from recognition.synth.plates import RenderedPlate, real_plate, render_plate
from recognition.types import Box

Bgr = npt.NDArray[np.uint8]
Rng = np.random.Generator

_CAR_COLORS = (
    (240, 240, 240), (20, 20, 20), (160, 160, 165), (40, 40, 170), (150, 60, 20),
    (90, 90, 90), (30, 60, 30), (200, 200, 190), (20, 120, 200), (110, 20, 20),
)  # fmt: skip


@dataclass(frozen=True)
class SceneConfig:
    """Knobs for scene generation; defaults are the shipped model's recipe."""

    width: int = 320
    height: int = 320
    min_plate_width: float = 12.0
    max_plate_width: float = 220.0
    real_crop_share: float = 0.3
    empty_share: float = 0.08
    max_plates: int = 4
    max_negatives: int = 4
    night_share: float = 0.18
    infrared_share: float = 0.1


@dataclass(frozen=True)
class Scene:
    """One synthetic image with its plate boxes (pixels) and plate texts ('' if unknown)."""

    image: Bgr = field(repr=False)
    boxes: tuple[Box, ...]
    texts: tuple[str, ...]


def _procedural_background(rng: Rng, w: int, h: int) -> Bgr:
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(h * rng.uniform(0.2, 0.6))
    top, bottom = rng.integers(60, 240, 3), rng.integers(60, 230, 3)
    for y in range(horizon):
        t = y / max(horizon, 1)
        img[y] = (top * (1 - t) + bottom * t).astype(np.uint8)
    road = rng.integers(50, 140)
    img[horizon:] = (road, road, road + rng.integers(-10, 10))
    for _ in range(int(rng.integers(2, 9))):  # buildings, walls, booths
        x1, y1 = int(rng.integers(-w // 4, w)), int(rng.integers(0, horizon + 1))
        x2, y2 = x1 + int(rng.integers(w // 10, w // 2)), horizon + int(rng.integers(0, h // 6))
        col = tuple(int(c) for c in rng.integers(30, 230, 3))
        cv2.rectangle(img, (x1, y1 - int(rng.integers(0, h // 2))), (x2, y2), col, -1)
        if rng.random() < 0.5:
            step = int(rng.integers(6, 20))
            for wx in range(x1 + 3, x2 - 3, step):
                for wy in range(max(0, y1 - h // 2), y2 - 3, step):
                    if rng.random() < 0.5:
                        cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2),
                                      tuple(int(c) for c in rng.integers(20, 250, 3)), -1)  # fmt: skip
    for _ in range(int(rng.integers(0, 4))):  # lane markings
        x = int(rng.integers(0, w))
        cv2.line(img, (x, h), (int(w / 2 + (x - w / 2) * 0.2), horizon), (230, 230, 230),
                 int(rng.integers(1, 5)))  # fmt: skip
    texture = rng.normal(0, rng.uniform(2, 12), (h // 4 + 1, w // 4 + 1, 1)).astype(np.float32)
    texture = f32(cv2.resize(texture, (w, h)))[..., None]
    return u8(np.clip(img.astype(np.float32) + texture, 0, 255))


def _crop_background(rng: Rng, src: Bgr, w: int, h: int) -> Bgr:
    sh, sw = src.shape[:2]
    scale = rng.uniform(0.5, 2.0) * max(w / sw, h / sh)
    cw, ch = min(sw, int(w / scale)), min(sh, int(h / scale))
    x, y = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    out = cv2.resize(src[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        out = out[:, ::-1].copy()
    return u8(out)


def _draw_vehicle(rng: Rng, img: Bgr, cx: float, cy: float, plate_w: float, plate_h: float) -> None:
    """A car/truck rear or front around a plate centred at (cx, cy)."""
    bw = plate_w / rng.uniform(0.2, 0.38)
    bh = bw * rng.uniform(0.45, 0.8)
    top = cy - bh * rng.uniform(0.45, 0.75)
    x1, x2, y1, y2 = (
        cx - bw / 2 + rng.normal(0, bw * 0.04),
        cx + bw / 2 + rng.normal(0, bw * 0.04),
        top,
        top + bh,
    )
    col = np.array(_CAR_COLORS[int(rng.integers(len(_CAR_COLORS)))], np.float32) + rng.normal(
        0, 12, 3
    )
    col = np.clip(col, 0, 255)
    c = tuple(int(v) for v in col)
    dark = tuple(int(v * 0.55) for v in col)
    # cabin / glass above the body
    cab_top = y1 - bh * rng.uniform(0.3, 0.7)
    inset = bw * rng.uniform(0.08, 0.2)
    cabin = np.array(
        [[x1 + inset, cab_top], [x2 - inset, cab_top], [x2 - bw * 0.03, y1], [x1 + bw * 0.03, y1]],
        np.int32,
    )
    cv2.fillPoly(img, [cabin], c, cv2.LINE_AA)
    glass = np.array([[x1 + inset * 1.3, cab_top + bh * 0.05], [x2 - inset * 1.3, cab_top + bh * 0.05],
                      [x2 - bw * 0.08, y1 - bh * 0.03], [x1 + bw * 0.08, y1 - bh * 0.03]], np.int32)  # fmt: skip
    g = int(rng.integers(10, 90))
    cv2.fillPoly(img, [glass], (g, g, g + int(rng.integers(0, 20))), cv2.LINE_AA)
    # wheels and shadow
    wr = max(2, int(bh * 0.22))
    for wx in (x1 + bw * 0.15, x2 - bw * 0.15):
        cv2.ellipse(img, (int(wx), int(y2)), (int(wr * 0.7), wr), 0, 0, 360, (15, 15, 15), -1)
    cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), c, -1, cv2.LINE_AA)
    # shading gradient on the body
    ys, ye = max(0, int(y1)), min(img.shape[0], int(y2))
    xs, xe = max(0, int(x1)), min(img.shape[1], int(x2))
    if ye > ys and xe > xs:
        ramp = np.linspace(rng.uniform(0.8, 1.1), rng.uniform(0.6, 0.95), ye - ys, dtype=np.float32)
        img[ys:ye, xs:xe] = np.clip(img[ys:ye, xs:xe] * ramp[:, None, None], 0, 255).astype(
            np.uint8
        )
    # bumper below the plate, lights at the sides
    by = cy + plate_h * rng.uniform(0.6, 1.2)
    cv2.rectangle(img, (int(x1), int(by)), (int(x2), int(y2)), dark, -1)
    lw, lh = bw * rng.uniform(0.1, 0.2), bh * rng.uniform(0.1, 0.25)
    ly = y1 + bh * rng.uniform(0.05, 0.3)
    light = ((30, 30, 200), (40, 120, 230), (220, 220, 220))[int(rng.integers(3))]
    for lx in (x1 + bw * 0.03, x2 - bw * 0.03 - lw):
        cv2.rectangle(img, (int(lx), int(ly)), (int(lx + lw), int(ly + lh)), light, -1, cv2.LINE_AA)
    if rng.random() < 0.5:  # grille / trim
        cv2.rectangle(img, (int(cx - bw * 0.25), int(ly)), (int(cx + bw * 0.25), int(ly + lh)),
                      dark, -1)  # fmt: skip


def _destination_quad(rng: Rng, corners: npt.NDArray[np.float32], img_w: int, img_h: int,
                      target_w: float, cx: float, cy: float) -> npt.NDArray[np.float32]:  # fmt: skip
    """Where the rendered plate image's corners go so the plate is `target_w` wide at (cx, cy)."""
    plate_w = float(corners[1, 0] - corners[0, 0])
    s = target_w / max(plate_w, 1.0)
    pcx = float(corners[:, 0].mean())
    pcy = float(corners[:, 1].mean())
    src = np.array([[0, 0], [img_w, 0], [img_w, img_h], [0, img_h]], np.float32)
    pts = (src - [pcx, pcy]) * s
    # perspective: yaw shrinks one side's height, pitch one edge's width
    yaw = rng.normal(0, 0.12)
    pitch = rng.normal(0, 0.08)
    half_w = max(abs(pts[:, 0]).max(), 1.0)
    half_h = max(abs(pts[:, 1]).max(), 1.0)
    pts[:, 1] *= 1.0 + yaw * pts[:, 0] / half_w
    pts[:, 0] *= 1.0 + pitch * pts[:, 1] / half_h
    pts[:, 0] *= rng.uniform(0.7, 1.0) if rng.random() < 0.3 else 1.0  # seen at an angle
    shear = rng.normal(0, 0.06)
    pts[:, 0] += shear * pts[:, 1]
    angle = math.radians(float(np.clip(rng.normal(0, 5), -20, 20)))
    rot = np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32
    )
    pts = pts @ rot.T + [cx, cy]
    return pts.astype(np.float32)


def _plate_effects(rng: Rng, plate: RenderedPlate) -> Bgr:
    img = plate.image
    if rng.random() < 0.15:
        img = effects.glare(img, rng, strength=rng.uniform(0.2, 0.8))
    if rng.random() < 0.15:  # dirt
        dirt = rng.normal(1.0, 0.15, (4, 8)).astype(np.float32)
        dirt = f32(cv2.resize(dirt, (img.shape[1], img.shape[0])))[..., None]
        img = np.clip(img * dirt, 0, 255).astype(np.uint8)
    gain = rng.uniform(0.6, 1.15)
    return u8(np.clip(img.astype(np.float32) * gain, 0, 255))


def _occlude(rng: Rng, img: Bgr, box: Box) -> None:
    """Cover up to about a third of a plate: tow bar, bike rack, pole, another car."""
    col = tuple(int(c) for c in rng.integers(0, 255, 3))
    if rng.random() < 0.5:
        bw = box.width * rng.uniform(0.05, 0.3)
        x = box.x1 + rng.uniform(-0.1, 1.0) * box.width
        cv2.rectangle(
            img,
            (int(x), int(box.y1 - box.height)),
            (int(x + bw), int(box.y2 + box.height)),
            col,
            -1,
        )
    else:
        side = rng.random() < 0.5
        cover = box.width * rng.uniform(0.1, 0.35)
        x1 = box.x1 - box.width if side else box.x2 - cover
        x2 = box.x1 + cover if side else box.x2 + box.width
        y1 = box.y1 + box.height * rng.uniform(-0.5, 0.5)
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(box.y2 + box.height)), col, -1)


def _log_uniform(rng: Rng, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def paste(img: Bgr, src: Bgr, alpha: npt.NDArray[np.uint8],
          quad: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:  # fmt: skip
    """Warp `src` (with `alpha`) onto `img` in place so its corners land on `quad`
    (TL, TR, BR, BL); returns the pasted alpha (0..1) over the whole image."""
    h, w = img.shape[:2]
    sh, sw = src.shape[:2]
    src_q = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    m = cv2.getPerspectiveTransform(src_q, quad)
    # draw only inside the quad's bounding rectangle (fast for small plates)
    x1, y1 = np.floor(quad.min(0)).astype(int)
    x2, y2 = np.ceil(quad.max(0)).astype(int)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
    full = np.zeros((h, w), np.float32)
    if x2 <= x1 or y2 <= y1:
        return full
    shift = np.array([[1, 0, -x1], [0, 1, -y1], [0, 0, 1]], np.float64) @ m
    size = (x2 - x1, y2 - y1)
    scale = math.sqrt(abs(float(np.linalg.det(m[:2, :2])))) if m[2, 2] else 1.0
    if scale < 0.5:  # pre-shrink to avoid aliasing when shrinking a lot
        k = max(1, int(1 / scale / 2))
        src = u8(cv2.resize(src, (max(1, sw // k), max(1, sh // k)), interpolation=cv2.INTER_AREA))
        alpha = u8(
            cv2.resize(alpha, (max(1, sw // k), max(1, sh // k)), interpolation=cv2.INTER_AREA)
        )
        shrink = np.diag([sw / src.shape[1], sh / src.shape[0], 1.0])
        shift = shift @ shrink
    warped = cv2.warpPerspective(src, shift, size, flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(alpha, shift, size, flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    roi = img[y1:y2, x1:x2].astype(np.float32)
    img[y1:y2, x1:x2] = (
        roi * (1 - a[..., None]) + warped.astype(np.float32) * a[..., None]
    ).astype(np.uint8)
    full[y1:y2, x1:x2] = a
    return full


class SceneGenerator:
    """Draws synthetic scenes; deterministic for a given `numpy.random.Generator` state."""

    def __init__(
        self,
        *,
        config: SceneConfig | None = None,
        backgrounds: Sequence[Bgr] = (),
        real_crops: Sequence[Bgr] = (),
    ) -> None:
        self.config = config or SceneConfig()
        self.backgrounds = list(backgrounds)
        self.real_crops = list(real_crops)

    def _plate(self, rng: Rng) -> RenderedPlate:
        if self.real_crops and rng.random() < self.config.real_crop_share:
            return real_plate(self.real_crops[int(rng.integers(len(self.real_crops)))])
        return render_plate(rng)

    def _background(self, rng: Rng) -> Bgr:
        w, h = self.config.width, self.config.height
        if self.backgrounds and rng.random() < 0.6:
            return _crop_background(
                rng, self.backgrounds[int(rng.integers(len(self.backgrounds)))], w, h
            )
        return _procedural_background(rng, w, h)

    def generate(self, rng: Rng) -> Scene:
        cfg = self.config
        w, h = cfg.width, cfg.height
        img = self._background(rng)
        plate_mask = np.zeros((h, w), np.float32)
        boxes: list[Box] = []
        texts: list[str] = []
        taken: list[Box] = []
        n_plates = 0 if rng.random() < cfg.empty_share else int(rng.integers(1, cfg.max_plates + 1))
        n_neg = int(rng.integers(0, cfg.max_negatives + 1))
        # far-away vehicles first so nearer ones overlap them
        widths = sorted(
            _log_uniform(rng, cfg.min_plate_width, cfg.max_plate_width) for _ in range(n_plates)
        )
        for pw in widths:
            plate = self._plate(rng)
            pimg = _plate_effects(rng, plate)
            ph = pw * plate.image.shape[0] / max(plate.image.shape[1], 1) * 0.8
            for _ in range(12):
                cx = rng.uniform(-0.1 * pw, w + 0.1 * pw)
                cy = rng.uniform(-0.1 * ph, h + 0.1 * ph)
                probe = Box(cx - pw, cy - ph * 1.5, cx + pw, cy + ph * 1.5)
                if all(probe.iou(t) == 0.0 for t in taken):
                    break
            else:
                continue
            if rng.random() < 0.8:
                _draw_vehicle(rng, img, cx, cy, pw, ph)
            ih, iw = pimg.shape[:2]
            quad = _destination_quad(rng, plate.corners, iw, ih, pw, cx, cy)
            plate_mask = np.maximum(plate_mask, paste(img, pimg, plate.alpha, quad))
            src_q = np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], np.float32)
            m = cv2.getPerspectiveTransform(src_q, quad)
            pc = cv2.perspectiveTransform(plate.corners.reshape(1, 4, 2), m).reshape(4, 2)
            full = Box(
                float(pc[:, 0].min()),
                float(pc[:, 1].min()),
                float(pc[:, 0].max()),
                float(pc[:, 1].max()),
            )
            taken.append(Box(full.x1 - pw * 0.6, full.y1 - ph, full.x2 + pw * 0.6, full.y2 + ph))
            vis = full.clip(w, h)
            if full.area <= 0 or vis.area / full.area < 0.35 or vis.width < 4 or vis.height < 3:
                continue
            if rng.random() < 0.1:
                _occlude(rng, img, full)
            boxes.append(vis)
            texts.append(plate.text)
        for _ in range(n_neg):
            nw = int(_log_uniform(rng, 10, min(w, 260)))
            nimg, nalpha = render_negative(rng, nw)
            nh = nimg.shape[0]
            for _ in range(8):
                x, y = (
                    int(rng.integers(-nw // 4, w - nw * 3 // 4)),
                    int(rng.integers(-nh // 4, h - nh * 3 // 4)),
                )
                cand = Box(x, y, x + nw, y + nh)
                if all(cand.iou(b) == 0.0 and not _overlaps(cand, b) for b in boxes):
                    quad = np.array(
                        [[x, y], [x + nw, y], [x + nw, y + nh], [x, y + nh]], np.float32
                    )
                    quad += rng.normal(0, nw * 0.03, (4, 2)).astype(np.float32)
                    paste(img, nimg, nalpha, quad)
                    break
        r = rng.random()
        mode: effects.Lighting = (
            "night"
            if r < cfg.night_share
            else "infrared"
            if r < cfg.night_share + cfg.infrared_share
            else "day"
        )
        img = effects.relight(img, rng, mode, plate_mask)
        if rng.random() < 0.1:
            img = effects.glare(img, rng)
        if rng.random() < 0.25:
            img = effects.motion_blur(img, rng, max_len=9)
        elif rng.random() < 0.25:
            img = effects.defocus(img, rng)
        if rng.random() < 0.4:
            img = effects.noise(img, rng)
        if rng.random() < 0.6:
            img = effects.jpeg(img, rng)
        return Scene(image=img, boxes=tuple(boxes), texts=tuple(texts))


def _overlaps(a: Box, b: Box) -> bool:
    return a.x1 < b.x2 and b.x1 < a.x2 and a.y1 < b.y2 and b.y1 < a.y2
