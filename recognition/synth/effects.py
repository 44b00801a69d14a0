"""Photometric effects for synthetic scenes: lighting modes, blur, glare, noise, JPEG."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from recognition.synth.arrays import f32, u8

Bgr = npt.NDArray[np.uint8]
Rng = np.random.Generator
Lighting = Literal["day", "night", "infrared"]


def motion_blur(img: Bgr, rng: Rng, *, max_len: int = 13) -> Bgr:
    length = int(rng.integers(3, max_len + 1))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1)
    kernel = f32(cv2.warpAffine(kernel, rot, (length, length)))
    kernel /= max(float(kernel.sum()), 1e-6)
    return u8(cv2.filter2D(img, -1, kernel))


def defocus(img: Bgr, rng: Rng, *, max_sigma: float = 1.6) -> Bgr:
    return u8(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, max_sigma)))


def noise(img: Bgr, rng: Rng, *, max_sigma: float = 12.0) -> Bgr:
    sigma = rng.uniform(2.0, max_sigma)
    n = rng.normal(0.0, sigma, (*img.shape[:2], 1)).astype(np.float32)
    if rng.random() < 0.4:
        n = n + rng.normal(0.0, sigma * 0.5, img.shape).astype(np.float32)
    return u8(np.clip(img.astype(np.float32) + n, 0, 255))


def jpeg(img: Bgr, rng: Rng, *, min_quality: int = 25) -> Bgr:
    ok, buf = cv2.imencode(
        ".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(min_quality, 96))]
    )
    if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
        return img
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img if out is None else u8(out)


def glare(img: Bgr, rng: Rng, *, strength: float | None = None) -> Bgr:
    """A soft white highlight somewhere on the image (sun or headlight on a plate)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
    axes = (max(1, int(w * rng.uniform(0.15, 0.6))), max(1, int(h * rng.uniform(0.15, 0.6))))
    cv2.ellipse(mask, c, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = f32(cv2.GaussianBlur(mask, (0, 0), max(axes) * 0.4 + 1))
    s = rng.uniform(0.3, 0.9) if strength is None else strength
    out = img.astype(np.float32) + mask[..., None] * s * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def light_spots(img: Bgr, rng: Rng, n: int) -> Bgr:
    """Street lamps, headlights: bright blurred blobs added to the image."""
    h, w = img.shape[:2]
    add = np.zeros((h, w, 3), np.float32)
    for _ in range(n):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        r = int(rng.integers(2, max(3, w // 20)))
        col = (rng.uniform(150, 255), rng.uniform(180, 255), rng.uniform(200, 255))
        cv2.circle(add, c, r, col, -1)
    add = cv2.GaussianBlur(add, (0, 0), rng.uniform(2.0, 8.0)) * rng.uniform(1.0, 2.5)
    return u8(np.clip(img.astype(np.float32) + add, 0, 255))


def relight(
    img: Bgr,
    rng: Rng,
    mode: Lighting,
    plate_mask: npt.NDArray[np.float32],
) -> Bgr:
    """Apply day / night / infrared lighting; plates (mask 1) are retro-reflective.

    At night and under infrared illumination plates stay bright while the rest
    of the scene goes dark, which is what the detector must learn to use.
    """
    f = img.astype(np.float32)
    m = plate_mask[..., None]
    if mode == "day":
        gain = rng.uniform(0.6, 1.3)
        bias = rng.uniform(-25, 25)
        cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)
        out = f * gain * cast + bias
        gamma = rng.uniform(0.7, 1.4)
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
        return u8(np.clip(out, 0, 255))
    if mode == "night":
        scene_gain = rng.uniform(0.12, 0.45)
        plate_gain = rng.uniform(0.45, 1.1)
        tint = np.array(
            [rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.0), rng.uniform(0.9, 1.2)], np.float32
        )
        out = f * (scene_gain + (plate_gain - scene_gain) * m) * tint
        out = np.clip(out, 0, 255).astype(np.uint8)
        return light_spots(out, rng, int(rng.integers(0, 6)))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    scene_gain = rng.uniform(0.2, 0.6)
    plate_gain = rng.uniform(1.0, 1.6)
    out_g = gray * (scene_gain + (plate_gain - scene_gain) * plate_mask)
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1.0 - 0.5 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * rng.uniform(0, 2)
    out_g = np.clip(out_g * vignette, 0, 255).astype(np.uint8)
    return u8(cv2.cvtColor(out_g, cv2.COLOR_GRAY2BGR))
