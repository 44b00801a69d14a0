"""Face photo sources for the face benches: the shared development sets and Extended Yale B.

``sources(work)`` returns ``{name: manifest}`` for what is present: deepface and
face-recognition-examples from ../shared/data/faces, and ``yale`` when
``var/faces-src/CroppedYale`` holds the cropped Extended Yale B faces (fetched from
``Uranium2/recognition`` at 3129bffc; see ../shared/data/README.md). Yale B crops
are tight 168x192 grey faces: each chosen one is padded (edge replicate) so a head
can be cut around it, and only moderate light directions are used (azimuth <= 50,
elevation <= 40 degrees; the lane renderer adds its own dim exposure), at most
``YALE_PER_PERSON`` per person, picked by a hash of the file name (full-size crops
only: that mirror also holds 24x24 thumbnails, left out). The library's HOG finds
only about a third of these padded crops, so ``yale_locator`` gives the face box
from the crop itself (the median HOG box relative to the crop where HOG found one:
x -0.04..1.07, y 0.01..0.98 of the crop; spread about 0.05).

ORL (``dnr2/ProjetoAM``) is not used: that mirror holds 23x28 px thumbnails, smaller
than every face size the issue asks about.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import cv2

from recognition.faces.lanesim import Locator
from recognition.types import Box, Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "faces"
YALE_SRC = ROOT / "var" / "faces-src" / "CroppedYale"
YALE_PER_PERSON = 6
_YALE_NAME = re.compile(r"(yaleB\d+)_P00A([+-]\d+)E([+-]\d+)\.pgm$")


def shared_sources() -> dict[str, Path]:
    out = {}
    for name, folder in (("deepface", "deepface"), ("fre", "face-recognition-examples")):
        m = DATA / folder / "manifest.csv"
        if m.is_file():
            out[name] = m
    return out


def yale_manifest(work: Path, *, per_person: int = YALE_PER_PERSON) -> Path | None:
    """Padded Yale B crops and their ``file,identity`` manifest under ``work``."""
    if not YALE_SRC.is_dir():
        return None
    out = work / "yale-src"
    manifest = out / "manifest.csv"
    if manifest.is_file():
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    picked: dict[str, list[Path]] = {}
    for p in sorted(YALE_SRC.glob("yaleB*/*.pgm")):
        m = _YALE_NAME.search(p.name)
        if m is None or abs(int(m.group(2))) > 50 or abs(int(m.group(3))) > 40:
            continue
        picked.setdefault(m.group(1), []).append(p)
    rows = []
    for person, files in sorted(picked.items()):
        files.sort(key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
        for p in files[:per_person]:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None or img.shape[0] < 100:
                continue
            h, w = img.shape[:2]
            pad = cv2.copyMakeBorder(img, h // 2, h // 2, w // 2, w // 2, cv2.BORDER_REPLICATE)
            name = p.stem + ".png"
            cv2.imwrite(str(out / name), pad)
            rows.append((name, person))
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(["file", "identity"])
        wr.writerows(rows)
    return manifest


def yale_locator(image: Image) -> Box:
    """The face box of a padded Yale B crop (``yale_manifest``)."""
    h, w = image.shape[:2]
    x0, y0, cw, ch = w / 4.0, h / 4.0, w / 2.0, h / 2.0
    return Box(x0 - 0.04 * cw, y0 + 0.01 * ch, x0 + 1.07 * cw, y0 + 0.98 * ch)


def sources(work: Path) -> dict[str, tuple[Path, Locator | None]]:
    """``{name: (manifest, locator for render_face_set or None for the default)}``."""
    out: dict[str, tuple[Path, Locator | None]] = {
        k: (m, None) for k, m in shared_sources().items()
    }
    yale = yale_manifest(work)
    if yale is not None:
        out["yale"] = (yale, yale_locator)
    return out
