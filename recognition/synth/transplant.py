"""Real photos with their plates swapped for rendered plates of other regions.

Real European and Brazilian car photos with boxes that may be trained on are scarce
(MODEL_CARD_plate_detector.md, "Real data recipe"), while US and Romanian photos are
not. `transplant` paints over a labelled plate (inpainting a little beyond its box)
and pastes a rendered plate of another style (`recognition.synth.plates`) in its place:
about the same area, the plate's own proportions, a small roll and yaw, the old plate's
brightness, a little blur and noise. The vehicle, the scene, the camera and the
plate's size in the photo stay real; only the plate's look changes.

    python -m recognition.synth.transplant --data var/ft-tight --out var/ft-swap

writes a YOLO folder (`images|labels/{train,val}`; `lanecap train detector --finetune`
takes it as it is) holding the transplants of
`--data`'s images (train and val apart, so the split holds) plus links to its
originals.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from recognition.plates.convert import read_yolo_boxes, yolo_lines
from recognition.synth.arrays import f32, u8
from recognition.synth.plates import PlateStyle, render_plate
from recognition.synth.scene import paste
from recognition.types import Box

log = logging.getLogger(__name__)

Bgr = npt.NDArray[np.uint8]
Rng = np.random.Generator

FOREIGN_STYLES: tuple[PlateStyle, ...] = ("eu", "eu_two_line", "br_old", "br_mercosur")
"""The styles pasted by default: the regions short of real training photos."""
INPAINT_MARGIN = 0.08  # share of the box's size painted over beyond it on each side
MIN_BOX = 10.0  # px: smaller plates are kept as they are (too small to repaint)


@dataclass(frozen=True)
class Swapped:
    """A photo after `transplant`: every box (swapped or kept) and the swapped ones' styles."""

    image: Bgr
    boxes: tuple[Box, ...]
    styles: tuple[PlateStyle | None, ...]


def _paste_quad(
    rng: Rng, box: Box, aspect: float, shape: tuple[int, ...]
) -> npt.NDArray[np.float32] | None:
    """Corners (TL, TR, BR, BL) of a plate of `aspect` taking the place of `box`."""
    area = box.width * box.height * rng.uniform(0.85, 1.2)
    w = math.sqrt(area * aspect)
    h = w / aspect
    cx, cy = box.x1 + box.width / 2, box.y1 + box.height / 2
    pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float32) / 2
    yaw = float(np.clip(rng.normal(0, 0.06), -0.15, 0.15))  # one side a little taller
    pts[:, 1] *= 1.0 + yaw * np.sign(pts[:, 0])
    angle = math.radians(float(np.clip(rng.normal(0, 3), -10, 10)))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    pts = (pts @ rot.T + [cx, cy]).astype(np.float32)
    hgt, wid = shape[:2]
    if pts[:, 0].min() < 0 or pts[:, 1].min() < 0 or pts[:, 0].max() > wid or pts[:, 1].max() > hgt:
        return None
    return f32(pts)


def _match_light(plate: Bgr, old: Bgr, rng: Rng) -> Bgr:
    """Scale the plate so its bright part is about as bright as the old plate's."""
    ref = float(np.percentile(cv2.cvtColor(old, cv2.COLOR_BGR2GRAY), 90)) if old.size else 200.0
    own = float(np.percentile(cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY), 90))
    gain = float(np.clip(ref / max(own, 1.0) * rng.uniform(0.9, 1.1), 0.25, 1.4))
    return u8(np.clip(plate.astype(np.float32) * gain, 0, 255))


def _swap_one(img: Bgr, box: Box, style: PlateStyle, rng: Rng) -> Box | None:
    plate = render_plate(rng, style)
    c = plate.corners
    x1, y1 = int(c[:, 0].min()), int(c[:, 1].min())
    x2, y2 = math.ceil(c[:, 0].max()), math.ceil(c[:, 1].max())
    src, alpha = plate.image[y1:y2, x1:x2], plate.alpha[y1:y2, x1:x2]
    quad = _paste_quad(rng, box, (x2 - x1) / max(y2 - y1, 1), img.shape)
    if quad is None:
        return None
    mx, my = box.width * INPAINT_MARGIN, box.height * INPAINT_MARGIN
    old = img[int(box.y1) : math.ceil(box.y2), int(box.x1) : math.ceil(box.x2)]
    src = _match_light(src, old, rng)
    # paint over the old plate, working on the region around it only
    hgt, wid = img.shape[:2]
    rx1, ry1 = max(0, int(box.x1 - 2 * mx) - 8), max(0, int(box.y1 - 2 * my) - 8)
    rx2, ry2 = min(wid, math.ceil(box.x2 + 2 * mx) + 8), min(hgt, math.ceil(box.y2 + 2 * my) + 8)
    mask = np.zeros((ry2 - ry1, rx2 - rx1), np.uint8)
    cv2.rectangle(mask, (int(box.x1 - mx) - rx1, int(box.y1 - my) - ry1),
                  (int(box.x2 + mx) - rx1, int(box.y2 + my) - ry1), 255, -1)  # fmt: skip
    img[ry1:ry2, rx1:rx2] = cv2.inpaint(img[ry1:ry2, rx1:rx2], mask, 5, cv2.INPAINT_TELEA)
    # blur at the size the plate lands at: sigma there, divided by the shrink
    landed = float(quad[:, 1].max() - quad[:, 1].min()) / max(src.shape[0], 1)
    sigma = rng.uniform(0.1, 0.7) * max(1.0, box.height / 40) / max(landed, 1e-3)
    src = u8(cv2.GaussianBlur(src, (0, 0), sigma))
    a = paste(img, src, alpha, quad)
    noise = rng.normal(0, rng.uniform(1, 5), img.shape) * (a[..., None] > 0)
    img[:] = u8(np.clip(img.astype(np.float32) + noise, 0, 255))
    return Box(
        float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()),
        float(quad[:, 1].max()),
    )  # fmt: skip


def transplant(
    image: Bgr,
    boxes: Sequence[Box],
    rng: Rng,
    *,
    styles: Sequence[PlateStyle] = FOREIGN_STYLES,
    share: float = 1.0,
) -> Swapped:
    """`image` (not modified) with each box, at chance `share`, swapped for a plate of
    one of `styles`. Boxes too small or too near the edge to swap are kept as they are."""
    img = image.copy()
    out: list[Box] = []
    used: list[PlateStyle | None] = []
    for box in boxes:
        style = styles[int(rng.integers(len(styles)))]
        new = None
        if min(box.width, box.height) >= MIN_BOX and rng.random() < share:
            new = _swap_one(img, box, style, rng)
        out.append(new or box)
        used.append(style if new else None)
    return Swapped(image=img, boxes=tuple(out), styles=tuple(used))


def _share(shares: dict[str, float], name: str, default: float) -> float:
    return next((n for p, n in shares.items() if name.startswith(p)), default)


def swap_folder(
    data: Path,
    out: Path,
    copies: dict[str, float],
    *,
    keep: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, int]:
    """Transplants of `data`'s YOLO images under `out`, plus links to the originals.

    `copies` maps a file-name prefix (the rebuilt sources' `SOURCE__` names) to the
    number of transplants per image (a fraction is a chance); others get none. `keep`
    maps prefixes to the chance an original training image is linked (default all),
    to keep an epoch short; validation images are all linked."""
    counts: Counter[str] = Counter()
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, img_path in enumerate(sorted((data / "images" / split).iterdir())):
            lab = data / "labels" / split / (img_path.stem + ".txt")
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
            if split == "val" or rng.random() < _share(keep or {}, img_path.name, 1.0):
                for d, s in ((out / "images" / split / img_path.name, img_path),
                             (out / "labels" / split / lab.name, lab)):  # fmt: skip
                    if s.is_file() and not d.exists():
                        os.symlink(s.resolve(), d)
                counts[f"{split}:kept"] += 1
            want = _share(copies, img_path.name, 0.0)
            n = int(want) + int(rng.random() < want - int(want))
            if not n:
                continue
            raw = cv2.imread(str(img_path))
            if raw is None:
                continue
            img = u8(raw)
            boxes = read_yolo_boxes(lab, img.shape[1], img.shape[0])
            for k in range(n):
                sw = transplant(img, boxes, rng)
                if not any(sw.styles):
                    continue
                name = f"swap{k}__{img_path.stem}"
                q = int(rng.integers(60, 96))
                cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), sw.image,
                            [cv2.IMWRITE_JPEG_QUALITY, q])  # fmt: skip
                (out / "labels" / split / f"{name}.txt").write_text(
                    yolo_lines(sw.boxes, img.shape[1], img.shape[0])
                )
                counts[f"{split}:swapped"] += 1
    return dict(counts)


DEFAULT_COPIES = {
    "dev-openalpr-us-dev": 4.0,  # close-up car photos: the kind of the hidden sets
    "dev-romania-detect": 1.0,
    "open-lpr": 0.35,  # close-up photos of parked cars
    "romania-train": 0.4,
    "anpr-roboflow": 0.2,
    "openimages-": 0.15,
}
"""Transplants per image, by source (the file-name prefix)."""
DEFAULT_KEEP = {"open-lpr": 0.35, "romania-train": 0.4, "anpr-roboflow": 0.2, "openimages-": 0.2}
"""Originals linked: every dev photo, part of the sources the finder has already seen
(about 3,100 training images, 40 minutes an epoch at 640 on 2 cores)."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("var/ft-tight"), help="tighten's output")
    p.add_argument("--out", type=Path, default=Path("var/ft-swap"))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (a.data / "images").is_dir():
        raise SystemExit(f"{a.data}: no images/ (run python -m recognition.plates.tighten first)")
    counts = swap_folder(a.data, a.out, DEFAULT_COPIES, keep=DEFAULT_KEEP, seed=a.seed)
    (a.out / "transplant.json").write_text(
        json.dumps({"copies": DEFAULT_COPIES, "keep": DEFAULT_KEEP, **counts}) + "\n"
    )
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
