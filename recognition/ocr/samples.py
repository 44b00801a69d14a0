"""Training samples for the plate reader: rendered plates and augmented real crops.

Every sample is (network input line, label). Labels are the plate's main text,
A-Z0-9 only (stacked small characters, state names and slogans are not part of it),
the same convention as the openalpr crop manifests.

Rendered plates come from `recognition.synth.plates.render_plate` (US, EU one- and
two-row, Brazil old and Mercosur, generic), are put on a random background, warped
in perspective and cropped the way a detector box would cut them (a little loose
or tight); then both kinds go through the same camera degradations: downscale
(small, far plates), blur, noise, JPEG, low contrast, brightness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from recognition.ocr.prep import Line, prepare
from recognition.synth.arrays import u8
from recognition.synth.plates import PlateStyle, render_plate

Rng = np.random.Generator
Bgr = npt.NDArray[np.uint8]

STYLE_WEIGHTS: dict[PlateStyle, float] = {
    "us": 0.5,
    "eu": 0.15,
    "eu_two_line": 0.07,
    "br_old": 0.1,
    "br_mercosur": 0.1,
    "generic": 0.08,
}


@dataclass(frozen=True)
class RealCrop:
    """A real plate crop in memory with its main-line text.

    `box` is the plate's (x1, y1, x2, y2) in `image` when the image is the plate with
    real surroundings (cut from a whole photo); None when the image is the plate itself.
    """

    image: Bgr
    text: str
    box: tuple[float, float, float, float] | None = None


def _background(rng: Rng, h: int, w: int) -> Bgr:
    base = rng.integers(0, 256, 3)
    small = rng.normal(0, rng.uniform(2, 40), (max(2, h // 8), max(2, w // 8), 1))
    noise = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    img = noise[..., None] + base.astype(np.float32)
    if rng.random() < 0.5:
        ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
        img = img + ramp * rng.uniform(-60, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def _warp_crop(rng: Rng, img: Bgr, corners: npt.NDArray[np.float32], *, loose: float) -> Bgr:
    """Perspective-warp `img` onto a background and crop around the warped corners."""
    h, w = img.shape[:2]
    pad = int(max(h, w) * 0.3)
    canvas = _background(rng, h + 2 * pad, w + 2 * pad)
    canvas[pad : pad + h, pad : pad + w] = img
    src = corners + pad
    pw, ph = float(src[1, 0] - src[0, 0]), float(src[3, 1] - src[0, 1])
    jitter = np.stack(
        [rng.uniform(-0.06, 0.06, 4) * pw, rng.uniform(-0.1, 0.1, 4) * ph], axis=1
    ).astype(np.float32)
    rot = np.deg2rad(rng.normal(0, 3))
    c, s = np.cos(rot), np.sin(rot)
    centre = src.mean(axis=0)
    rotm = np.array([[c, -s], [s, c]], np.float32)
    dst = ((src - centre) @ rotm.T + centre + jitter).astype(np.float32)
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    warped = cv2.warpPerspective(
        canvas, m, (canvas.shape[1], canvas.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )
    x1, y1 = dst.min(axis=0)
    x2, y2 = dst.max(axis=0)
    bw, bh = x2 - x1, y2 - y1
    mx = rng.uniform(-0.03, loose) * bw
    my = rng.uniform(-0.05, loose * 1.5) * bh
    xa = int(np.clip(x1 - mx * rng.uniform(0.5, 1.5), 0, warped.shape[1] - 2))
    xb = int(np.clip(x2 + mx * rng.uniform(0.5, 1.5), xa + 2, warped.shape[1]))
    ya = int(np.clip(y1 - my * rng.uniform(0.5, 1.5), 0, warped.shape[0] - 2))
    yb = int(np.clip(y2 + my * rng.uniform(0.5, 1.5), ya + 2, warped.shape[0]))
    return np.ascontiguousarray(warped[ya:yb, xa:xb])


def degrade(rng: Rng, img: Bgr, *, min_h: float = 14) -> Bgr:
    """Camera effects: resolution loss (to `min_h` px high at most), blur, noise, contrast, JPEG."""
    out = img
    h, w = out.shape[:2]
    if rng.random() < 0.7:
        target_h = int(rng.uniform(min_h, max(min_h + 1, min(h, 90))))
        s = target_h / h
        out = u8(
            cv2.resize(out, (max(8, round(w * s)), max(6, target_h)), interpolation=cv2.INTER_AREA)
        )
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        out = u8(cv2.GaussianBlur(out, (k, k), rng.uniform(0.3, 1.5)))
    if rng.random() < 0.15:  # horizontal motion blur
        k = int(rng.integers(3, 7))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        out = u8(cv2.filter2D(out, -1, kern))
    f: npt.NDArray[np.floating[Any]] = out.astype(np.float32)
    if rng.random() < 0.5:  # contrast and brightness
        alpha = rng.uniform(0.35, 1.2)
        beta = rng.uniform(-50, 50)
        f = (f - 128) * alpha + 128 + beta
    if rng.random() < 0.3:  # colour cast
        f = f * rng.uniform(0.7, 1.3, 3)[None, None, :]
    if rng.random() < 0.5:
        f = f + rng.normal(0, rng.uniform(2, 14), f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            out = u8(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    if rng.random() < 0.3:
        out = 255 - out if rng.random() < 0.1 else out
    return np.ascontiguousarray(out, dtype=np.uint8)


def synthetic_sample(rng: Rng) -> tuple[Line, str]:
    styles = list(STYLE_WEIGHTS)
    p = np.array([STYLE_WEIGHTS[s] for s in styles])
    style = styles[int(rng.choice(len(styles), p=p / p.sum()))]
    plate = render_plate(rng, style)
    crop = _warp_crop(rng, plate.image, plate.corners, loose=0.12)
    crop = degrade(rng, crop)
    return prepare(crop, two_rows=style == "eu_two_line"), plate.text


CONTEXT_LOOSE = 0.15
"""How loose a box cut from a real photo may be (detector boxes range from tight to loose)."""


def real_sample(rng: Rng, real: RealCrop) -> tuple[Line, str]:
    img = real.image
    if real.box is not None:  # real surroundings: cut like a detector box, tight or loose
        x1, y1, x2, y2 = real.box
        corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        crop = _warp_crop(rng, img, corners, loose=CONTEXT_LOOSE)
        # photos' plates are small already: keep at least 60 % of their resolution
        return prepare(degrade(rng, crop, min_h=max(14.0, 0.6 * crop.shape[0]))), real.text
    h, w = img.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    # real crops are already tight: shrink the "plate" a little so warps may cut or pad
    inset = (
        np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32)
        * np.array([w, h], np.float32)
        * rng.uniform(0.0, 0.05)
    )
    crop = _warp_crop(rng, img, corners + inset, loose=0.06) if rng.random() < 0.8 else img
    crop = degrade(rng, crop)
    return prepare(crop), real.text
