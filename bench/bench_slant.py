"""Benchmark: reading plates seen from beside the lane, with and without deslant.

Each crop of the held-out validation split of `openalpr-us-crops` is sheared
horizontally by +-S (strokes leaning, as a camera beside the lane sees them) and
read by the shipped reader twice in one process: with the shipped preprocessing
(`recognition.ocr.prep.prepare`, which deslants) and with the deslant step left out.

    python bench/bench_slant.py [--shears 0,0.2,0.35,0.5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recognition.plates.reader as reader_module
from recognition.ocr import prep
from recognition.plates.manifest import load_manifest, split_of
from recognition.plates.reader import EasyOcrReader
from recognition.types import Image

SHARED = Path(
    os.environ.get("LANECAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
CROPS = SHARED / "plates" / "openalpr-us-crops" / "manifest.csv"


def without_deslant(crop: Image, *, two_rows: bool = False) -> Any:
    gray = prep.deskew(prep.stretch(prep.to_gray(crop)))
    return prep.to_line(prep.split_rows(gray) if two_rows else gray)


def shear(img: Image, s: float) -> Image:
    h = img.shape[0]
    pad = int(abs(s) * h / 2) + 2  # keep the sheared plate inside the image
    big = cv2.copyMakeBorder(img, 0, 0, pad, pad, cv2.BORDER_REPLICATE)
    m = np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32)
    out = cv2.warpAffine(big, m, (big.shape[1], h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shears", default="0,0.2,0.35,0.5")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not CROPS.is_file():
        sys.exit(f"real plate crops not found: {CROPS} (set LANECAP_SHARED_DATA)")
    items = [i for i in load_manifest(CROPS) if split_of(i.rel) == "val" and i.texts]
    reader = EasyOcrReader(threads=args.threads)
    variants = {"deslant (shipped)": prep.prepare, "no deslant": without_deslant}
    rng = np.random.default_rng(0)
    print(f"{len(items)} validation crops, sheared left or right at random")
    print(f"{'shear':>6} " + " ".join(f"{name:>18}" for name in variants) + "   gain")
    for mag in (float(v) for v in args.shears.split(",")):
        exact = dict.fromkeys(variants, 0)
        for item in items:
            img = np.asarray(cv2.imread(str(item.path), cv2.IMREAD_COLOR), np.uint8)
            sheared = shear(img, mag * float(rng.choice([-1, 1])))
            for name, fn in variants.items():
                reader_module.prepare = fn  # type: ignore[assignment]
                read = reader.read(sheared)
                exact[name] += read is not None and read.text == item.texts[0]
        reader_module.prepare = prep.prepare
        rates = [exact[name] / len(items) for name in variants]
        cells = " ".join(f"{r:18.3f}" for r in rates)
        print(f"{mag:6.2f} {cells}  {rates[0] - rates[1]:+.3f}")


if __name__ == "__main__":
    main()
