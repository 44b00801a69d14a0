"""Demo footage rendered in code: a lane's front plate camera and its driver camera.

Nothing is downloaded: plates are drawn with OpenCV, and the driver's face is
scikit-image's `astronaut` (a NASA public-domain portrait shipped in the wheel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.types import Image

FPS = 10


@dataclass(frozen=True)
class DemoVehicle:
    plate: str
    colour: tuple[int, int, int]
    with_driver_face: bool = True


DEMO_VEHICLES: tuple[DemoVehicle, ...] = (
    DemoVehicle("LCP4821", (40, 40, 160)),
    DemoVehicle("7TRK902", (150, 120, 40)),
    DemoVehicle("BX52KTE", (60, 140, 60), with_driver_face=False),
    DemoVehicle("MX1937A", (90, 90, 90)),
)
PASS_S = 3.0
GAP_S = 1.5


def _astronaut_face() -> Image:
    from skimage import data

    rgb = data.astronaut()[10:250, 130:350]  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def render_plate(text: str, *, width: int = 240) -> Image:
    h = int(width / 4.0)
    plate = np.full((h, width, 3), 245, np.uint8)
    cv2.rectangle(plate, (2, 2), (width - 3, h - 3), (30, 30, 30), 3)
    scale = width / 175.0
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    org = ((width - tw) // 2, (h + th) // 2)
    cv2.putText(
        plate, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, (20, 20, 20), max(2, int(scale * 2))
    )
    return plate


def _road(w: int, h: int, rng: np.random.Generator) -> Image:
    img = np.full((h, w, 3), 95, np.uint8)
    img[: h // 4] = (170, 150, 120)
    noise = rng.integers(-8, 9, size=(h, w, 1), dtype=np.int16)
    road: Image = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    for y in range(h // 4, h, 60):
        cv2.line(road, (w // 2, y), (w // 2, y + 30), (230, 230, 230), 4)
    return road


def _front_frame(w: int, h: int, v: DemoVehicle | None, t: float, bg: Image) -> Image:
    img = bg.copy()
    if v is None:
        return img
    s = 0.55 + 0.45 * t
    cw, ch = int(520 * s), int(300 * s)
    cx, cy = w // 2, int(h * (0.3 + 0.45 * t))
    x1, y1 = cx - cw // 2, cy - ch // 2
    cv2.rectangle(img, (x1, y1), (x1 + cw, y1 + ch), v.colour, -1)
    cv2.rectangle(
        img, (x1 + cw // 8, y1 + ch // 10), (x1 + cw - cw // 8, y1 + ch // 3), (50, 40, 30), -1
    )
    for lx in (x1 + cw // 12, x1 + cw - cw // 12 - cw // 8):
        cv2.rectangle(
            img, (lx, y1 + ch // 2), (lx + cw // 8, y1 + ch // 2 + ch // 10), (200, 230, 240), -1
        )
    plate = render_plate(v.plate, width=int(180 * s))
    ph, pw = plate.shape[:2]
    px, py = cx - pw // 2, y1 + int(ch * 0.72)
    if py >= 0 and py + ph <= h and px >= 0 and px + pw <= w:
        img[py : py + ph, px : px + pw] = plate
    return img


def _driver_frame(w: int, h: int, v: DemoVehicle | None, t: float, bg: Image, face: Image) -> Image:
    img = bg.copy()
    if v is None:
        return img
    # The car slides in from the right, stops at the booth, leaves to the left.
    if t < 0.2:
        offset = int((0.2 - t) * w * 4)
    elif t > 0.8:
        offset = -int((t - 0.8) * w * 4)
    else:
        offset = 0
    x1 = 60 + offset
    cv2.rectangle(img, (x1, 60), (x1 + w - 120, h - 40), v.colour, -1)
    cv2.rectangle(img, (x1 + 30, 90), (x1 + w - 150, h - 140), (70, 60, 50), -1)
    if v.with_driver_face and offset == 0:
        fh, fw = face.shape[:2]
        scale = 190 / fh
        f = cv2.resize(face, (int(fw * scale), int(fh * scale)))
        fx, fy = x1 + 80, 100
        fh2, fw2 = f.shape[:2]
        if fx >= 0 and fx + fw2 <= w:
            img[fy : fy + fh2, fx : fx + fw2] = f
    return img


def render_demo(
    out_dir: Path, *, vehicles: tuple[DemoVehicle, ...] = DEMO_VEHICLES
) -> dict[str, Path]:
    """Write front.mp4 and driver.mp4 into out_dir; returns {camera_name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    fw, fh = 960, 540
    dw, dh = 640, 480
    front_bg = _road(fw, fh, rng)
    driver_bg = np.full((dh, dw, 3), 120, np.uint8)
    face = _astronaut_face()
    paths = {"front": out_dir / "front.mp4", "driver": out_dir / "driver.mp4"}
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    front = cv2.VideoWriter(str(paths["front"]), fourcc, FPS, (fw, fh))
    driver = cv2.VideoWriter(str(paths["driver"]), fourcc, FPS, (dw, dh))
    if not front.isOpened() or not driver.isOpened():
        raise RuntimeError(f"OpenCV cannot write MP4 video into {out_dir}")
    try:
        timeline: list[tuple[DemoVehicle | None, float]] = []
        for v in vehicles:
            timeline += [(None, 0.0)] * int(GAP_S * FPS)
            n = int(PASS_S * FPS)
            timeline += [(v, i / (n - 1)) for i in range(n)]
        timeline += [(None, 0.0)] * int(GAP_S * FPS)
        for shown, t in timeline:
            front.write(_front_frame(fw, fh, shown, t, front_bg))
            driver.write(_driver_frame(dw, dh, shown, t, driver_bg, face))
    finally:
        front.release()
        driver.release()
    return paths
