"""Text rendering for synthetic plates and signs: glyph masks fitted into boxes.

Fonts are looked up on the machine (DejaVu, matplotlib's bundled TTFs); when no
TTF is found, OpenCV's built-in Hershey fonts are used, so rendering never fails
and never downloads anything.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from recognition.synth.arrays import u8

log = logging.getLogger(__name__)

Mask = npt.NDArray[np.uint8]
"""A single-channel uint8 coverage mask, 0 background, 255 ink."""

_FONT_NAMES = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerifCondensed-Bold.ttf",
    "DejaVuSans.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneralBol.ttf",
    "cmss10.ttf",
    "cmb10.ttf",
)
_HERSHEY = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
_RENDER_PX = 72


def _font_dirs() -> list[Path]:
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
    try:
        import matplotlib

        dirs.append(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf")
    except ImportError:  # pragma: no cover - matplotlib comes with ultralytics
        pass
    return [d for d in dirs if d.is_dir()]


@functools.cache
def font_paths() -> tuple[Path, ...]:
    """TTF files usable for plate glyphs, in a fixed order (reproducible)."""
    found: dict[str, Path] = {}
    for d in _font_dirs():
        for p in sorted(d.rglob("*.ttf")):
            if p.name in _FONT_NAMES and p.name not in found:
                found[p.name] = p
    paths = tuple(found[n] for n in _FONT_NAMES if n in found)
    if not paths:
        log.warning("no TTF fonts found; synthetic text uses OpenCV Hershey fonts only")
    return paths


@functools.cache
def _pil_font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), _RENDER_PX)


def font_count() -> int:
    """Number of distinct fonts `text_mask` can draw with (TTFs plus Hershey)."""
    return len(font_paths()) + len(_HERSHEY)


def _ttf_mask(text: str, font_index: int) -> Mask:
    font = _pil_font(font_paths()[font_index])
    left, top, right, bottom = font.getbbox(text)
    img = PILImage.new("L", (int(right - left) + 8, int(bottom - top) + 8), 0)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, fill=255, font=font)
    return np.asarray(img, dtype=np.uint8)


def _hershey_mask(text: str, face: int, thickness: int) -> Mask:
    scale = 2.0
    (w, h), base = cv2.getTextSize(text, face, scale, thickness)
    img = np.zeros((h + base + 8, w + 8), np.uint8)
    cv2.putText(img, text, (4, h + 4), face, scale, 255, thickness, cv2.LINE_AA)
    return img


def _trim(mask: Mask) -> Mask:
    ys, xs = np.nonzero(mask > 20)
    if len(xs) == 0:
        return mask
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def text_mask(text: str, *, font_index: int, weight: int = 0) -> Mask:
    """Ink mask of `text`, trimmed to the ink; `weight` > 0 dilates (bolder strokes)."""
    n_ttf = len(font_paths())
    if not text.strip():
        return np.zeros((4, 4), np.uint8)
    if font_index < n_ttf:
        mask = _ttf_mask(text, font_index)
    else:
        face = _HERSHEY[(font_index - n_ttf) % len(_HERSHEY)]
        mask = _hershey_mask(text, face, 3 + weight)
    if weight > 0 and font_index < n_ttf:
        k = 1 + 2 * weight
        mask = u8(cv2.dilate(mask, np.ones((k, k), np.uint8)))
    return _trim(mask)


def fit_mask(mask: Mask, width: int, height: int) -> Mask:
    """Resize a trimmed ink mask to exactly width x height pixels."""
    width, height = max(1, width), max(1, height)
    interp = cv2.INTER_AREA if mask.shape[1] > width else cv2.INTER_LINEAR
    return u8(cv2.resize(mask, (width, height), interpolation=interp))


def natural_width(mask: Mask, height: int) -> int:
    """Width the mask would have at `height` pixels tall keeping its aspect."""
    h, w = mask.shape[:2]
    return max(1, round(int(w) * height / max(int(h), 1)))


def paint(
    canvas: npt.NDArray[np.uint8],
    mask: Mask,
    x: int,
    y: int,
    color: tuple[int, int, int],
) -> None:
    """Alpha-blend a solid colour through `mask` at (x, y) into a BGR canvas, clipped."""
    h, w = mask.shape[:2]
    ch, cw = canvas.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    if x2 <= x1 or y2 <= y1:
        return
    m = mask[y1 - y : y2 - y, x1 - x : x2 - x].astype(np.float32)[..., None] / 255.0
    region = canvas[y1:y2, x1:x2].astype(np.float32)
    col = np.array(color, np.float32)
    canvas[y1:y2, x1:x2] = (region * (1.0 - m) + col * m).astype(np.uint8)


def draw_text_box(
    canvas: npt.NDArray[np.uint8],
    text: str,
    *,
    x: int,
    y: int,
    width: int | None,
    height: int,
    color: tuple[int, int, int],
    font_index: int,
    weight: int = 0,
) -> int:
    """Draw `text` with its ink `height` px tall at (x, y); width None keeps the aspect.

    Returns the drawn width.
    """
    mask = text_mask(text, font_index=font_index, weight=weight)
    w = natural_width(mask, height) if width is None else width
    paint(canvas, fit_mask(mask, w, height), x, y, color)
    return w
