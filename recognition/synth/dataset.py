"""Write a YOLO-format detection dataset: synthetic scenes plus tiles of real images.

Layout under `out`: `images/{train,val}/*.jpg`, `labels/{train,val}/*.txt`
(`0 cx cy w h`, normalised) and `data.yaml`. Real images are read from their
manifests where they lie and only resized tiles are written to `out`, which
must be outside the repository (e.g. /tmp or var/).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from recognition.plates.manifest import LabelledImage, Split, load_manifest, split_of
from recognition.synth.arrays import u8
from recognition.synth.scene import SceneConfig, SceneGenerator
from recognition.types import Box

log = logging.getLogger(__name__)

Bgr = npt.NDArray[np.uint8]
INFERENCE_SIDE = 640
"""Long side the detector letterboxes frames to; real tiles are cut at this scale."""


@dataclass(frozen=True)
class DatasetSpec:
    """What goes into a training set."""

    synthetic_train: int = 3000
    synthetic_val: int = 150
    tile: int = 320
    real_manifests: tuple[Path, ...] = ()
    real_repeat: int = 3
    real_crops_manifest: Path | None = None
    background_video: Path | None = None
    seed: int = 0


@dataclass(frozen=True)
class DatasetSummary:
    data_yaml: Path
    images: dict[str, int]
    boxes: dict[str, int]
    real_images: dict[str, int]


def video_frames(path: Path, count: int) -> list[Bgr]:
    """`count` frames spread evenly over a video (backgrounds for scenes)."""
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames: list[Bgr] = []
    for i in np.linspace(0, max(total - 1, 0), count).astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, frame = cap.read()
        if ok:
            frames.append(u8(frame))
    cap.release()
    return frames


def plate_crops(manifest: Path, *, split: Split = "train") -> list[Bgr]:
    """Real plate crops (a manifest of crops without boxes), only from one split."""
    crops: list[Bgr] = []
    for item in load_manifest(manifest):
        if split_of(item.rel) != split:
            continue
        img = cv2.imread(str(item.path))
        if img is not None:
            crops.append(u8(img))
    return crops


def yolo_lines(boxes: Sequence[Box], width: int, height: int) -> str:
    out = []
    for b in boxes:
        cx, cy = (b.x1 + b.x2) / 2 / width, (b.y1 + b.y2) / 2 / height
        out.append(f"0 {cx:.6f} {cy:.6f} {b.width / width:.6f} {b.height / height:.6f}")
    return "\n".join(out) + ("\n" if out else "")


def _write(out: Path, split: str, name: str, img: Bgr, boxes: Sequence[Box]) -> None:
    cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    h, w = img.shape[:2]
    (out / "labels" / split / f"{name}.txt").write_text(yolo_lines(boxes, w, h))


def real_tiles(
    item: LabelledImage, rng: np.random.Generator, *, tile: int, repeat: int
) -> list[tuple[Bgr, list[Box]]]:
    """Tiles of a real image at inference scale, each centred loosely on a labelled plate."""
    img = cv2.imread(str(item.path))
    if img is None:
        log.warning("cannot read %s", item.path)
        return []
    h, w = img.shape[:2]
    tiles: list[tuple[Bgr, list[Box]]] = []
    for _ in range(repeat):
        s = INFERENCE_SIDE / max(h, w) * rng.uniform(0.8, 1.25)
        small = cv2.resize(
            img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
        sh, sw = small.shape[:2]
        boxes = [Box(b.x1 * s, b.y1 * s, b.x2 * s, b.y2 * s) for b in item.boxes]
        anchors = [*boxes, None]
        for anchor in anchors:
            tw, th = min(tile, sw), min(tile, sh)
            if anchor is None:
                x0, y0 = int(rng.integers(0, sw - tw + 1)), int(rng.integers(0, sh - th + 1))
            else:
                lo_x, hi_x = anchor.x2 - tw, anchor.x1
                lo_y, hi_y = anchor.y2 - th, anchor.y1
                x0 = int(np.clip(rng.uniform(min(lo_x, hi_x), max(lo_x, hi_x)), 0, sw - tw))
                y0 = int(np.clip(rng.uniform(min(lo_y, hi_y), max(lo_y, hi_y)), 0, sh - th))
            crop = small[y0 : y0 + th, x0 : x0 + tw]
            labels = []
            for b in boxes:
                shifted = Box(b.x1 - x0, b.y1 - y0, b.x2 - x0, b.y2 - y0)
                vis = shifted.clip(tw, th)
                if shifted.area > 0 and vis.area / shifted.area >= 0.35 and vis.width >= 4:
                    labels.append(vis)
            tiles.append((np.ascontiguousarray(crop), labels))
    return tiles


def write_dataset(out: Path, spec: DatasetSpec) -> DatasetSummary:
    """Generate the dataset under `out` (created; existing files are overwritten)."""
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    backgrounds = video_frames(spec.background_video, 60) if spec.background_video else []
    crops = {
        s: plate_crops(spec.real_crops_manifest, split=s) if spec.real_crops_manifest else []
        for s in ("train", "val")
    }
    images = {"train": 0, "val": 0}
    nboxes = {"train": 0, "val": 0}
    real_images = {"train": 0, "val": 0}
    cfg = SceneConfig(width=spec.tile, height=spec.tile)
    for split, count in (("train", spec.synthetic_train), ("val", spec.synthetic_val)):
        gen = SceneGenerator(config=cfg, backgrounds=backgrounds, real_crops=crops[split])
        for i in range(count):
            rng = np.random.default_rng([spec.seed, 0 if split == "train" else 1, i])
            scene = gen.generate(rng)
            _write(out, split, f"synth_{i:06d}", scene.image, scene.boxes)
            images[split] += 1
            nboxes[split] += len(scene.boxes)
            if (i + 1) % 500 == 0:
                log.info("synthetic %s: %d/%d", split, i + 1, count)
    for m_index, manifest in enumerate(spec.real_manifests):
        for j, item in enumerate(load_manifest(manifest)):
            if not item.boxes_known:
                continue
            split = split_of(item.rel)
            rng = np.random.default_rng([spec.seed, 2, m_index, j])
            repeat = spec.real_repeat if split == "train" else 1
            real_images[split] += 1
            for k, (tile_img, labels) in enumerate(
                real_tiles(item, rng, tile=spec.tile, repeat=repeat)
            ):
                _write(out, split, f"real{m_index}_{j:05d}_{k:02d}", tile_img, labels)
                images[split] += 1
                nboxes[split] += len(labels)
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: plate\n"
    )
    log.info("dataset %s: images %s boxes %s real %s", out, images, nboxes, real_images)
    return DatasetSummary(data_yaml=data_yaml, images=images, boxes=nboxes, real_images=real_images)
