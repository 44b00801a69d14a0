"""Front-on renderings of licence plates in several jurisdictions' styles.

Each renderer draws a plate `PLATE_H` pixels tall; scene composition warps and
scales it. Styles are approximations (proportions, colours, layout, fonts), not
replicas of any real plate.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from recognition.synth.arrays import u8
from recognition.synth.text import draw_text_box, font_count, font_paths

PlateStyle = Literal["us", "eu", "eu_two_line", "br_old", "br_mercosur", "generic"]
PLATE_STYLES: tuple[PlateStyle, ...] = get_args(PlateStyle)
PLATE_H = 120

Rgb = tuple[int, int, int]
Bgr = npt.NDArray[np.uint8]
Rng = np.random.Generator

_LETTERS = string.ascii_uppercase
_DIGITS = string.digits
_US_STATES = (
    "CALIFORNIA", "TEXAS", "FLORIDA", "NEW YORK", "ILLINOIS", "OHIO", "GEORGIA", "ARIZONA",
    "MICHIGAN", "NEVADA", "OREGON", "WASHINGTON", "COLORADO", "VIRGINIA", "MARYLAND",
    "NEW JERSEY", "PENNSYLVANIA", "MASSACHUSETTS", "UTAH", "IDAHO", "MONTANA", "KANSAS",
    "INDIANA", "ALABAMA", "LOUISIANA", "TENNESSEE", "MINNESOTA", "WISCONSIN", "IOWA",
)  # fmt: skip
_US_SLOGANS = (
    "Sunshine State", "Land of Lincoln", "Empire State", "Grand Canyon State", "dmv.gov",
    "Great Lakes", "Live Free", "Centennial", "Lone Star State", "Peach State", "Explore",
)  # fmt: skip
_EU_CODES = ("RO", "D", "F", "I", "NL", "B", "E", "PL", "CZ", "A", "H", "BG", "P", "GB", "S")
_BR_CITIES = ("SP-SAO PAULO", "RJ-RIO DE JANEIRO", "MG-BELO HORIZONTE", "PR-CURITIBA")


@dataclass(frozen=True)
class RenderedPlate:
    """A plate image (possibly inside a frame) with its alpha and the plate's corners.

    `corners` are the plate's own four corners (TL, TR, BR, BL) in `image`
    coordinates; a licence-plate frame, when drawn, lies outside them.
    """

    image: Bgr = field(repr=False)
    alpha: npt.NDArray[np.uint8] = field(repr=False)
    corners: npt.NDArray[np.float32] = field(repr=False)
    text: str
    style: PlateStyle


def _pick(rng: Rng, seq: str | tuple[str, ...]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _chars(rng: Rng, pattern: str) -> str:
    """L = letter, D = digit, X = either; other characters are kept."""
    out = []
    for c in pattern:
        if c == "L":
            out.append(_pick(rng, _LETTERS))
        elif c == "D":
            out.append(_pick(rng, _DIGITS))
        elif c == "X":
            out.append(_pick(rng, _LETTERS + _DIGITS))
        else:
            out.append(c)
    return "".join(out)


def _font(rng: Rng, *, bold: bool = True) -> int:
    n_ttf = len(font_paths())
    if n_ttf == 0 or rng.random() < 0.12:
        return n_ttf + int(rng.integers(font_count() - n_ttf))
    pool = [i for i, p in enumerate(font_paths()) if ("Bold" in p.name or "cmb" in p.name)]
    if not bold or not pool:
        pool = list(range(n_ttf))
    return pool[int(rng.integers(len(pool)))]


def _jitter(rng: Rng, rgb: Rgb, amount: int = 18) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
    return (b, g, r)


def _canvas(w: int, h: int, bgr: tuple[int, int, int]) -> Bgr:
    return np.full((h, w, 3), bgr, np.uint8)


def _gradient(rng: Rng, img: Bgr, strength: float) -> None:
    h, w = img.shape[:2]
    ramp = np.linspace(-1.0, 1.0, h if rng.random() < 0.6 else w, dtype=np.float32)
    ramp = ramp[:, None] if len(ramp) == h else ramp[None, :]
    tint = rng.uniform(-1, 1, 3).astype(np.float32) * 255 * strength
    img[:] = np.clip(img.astype(np.float32) + ramp[..., None] * tint, 0, 255).astype(np.uint8)


def _scenery(rng: Rng, img: Bgr) -> None:
    """Faint graphics some US plates carry: hills, sun, waves."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        col = _jitter(rng, tuple(int(c) for c in rng.integers(60, 255, 3)), 0)  # type: ignore[arg-type]
        overlay = img.copy()
        if rng.random() < 0.5:
            pts = [(0, h)]
            for x in np.linspace(0, w, int(rng.integers(3, 7))):
                pts.append((int(x), int(h * rng.uniform(0.55, 0.95))))
            pts.append((w, h))
            cv2.fillPoly(overlay, [np.array(pts, np.int32)], col)
        else:
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(overlay, c, int(rng.integers(h // 6, h // 2)), col, -1)
        a = rng.uniform(0.12, 0.35)
        cv2.addWeighted(overlay, a, img, 1 - a, 0, dst=img)


def _main_text(
    rng: Rng,
    img: Bgr,
    text: str,
    *,
    x1: int,
    x2: int,
    y: int,
    height: int,
    color: tuple[int, int, int],
    font_index: int,
    weight: int,
) -> None:
    """Draw plate characters centred in [x1, x2], squeezing them if needed."""
    from recognition.synth.text import natural_width, text_mask

    mask = text_mask(text, font_index=font_index, weight=weight)
    avail = x2 - x1
    width = min(natural_width(mask, height), avail)
    width = int(width * rng.uniform(0.85, 1.0)) if width == avail else width
    x = x1 + (avail - width) // 2
    draw_text_box(
        img, text, x=x, y=y, width=width, height=height, color=color,
        font_index=font_index, weight=weight,
    )  # fmt: skip


def _render_us(rng: Rng) -> tuple[Bgr, str]:
    h = PLATE_H
    w = int(h * rng.uniform(1.9, 2.1))
    bg = _jitter(rng, ((250, 250, 250), (245, 240, 220), (225, 235, 250), (250, 235, 150),
                       (235, 235, 235), (40, 40, 60))[int(rng.choice(6, p=[.4, .15, .15, .1, .1, .1]))])  # fmt: skip
    img = _canvas(w, h, bg)
    dark_bg = sum(bg) < 300
    if not dark_bg and rng.random() < 0.5:
        _scenery(rng, img)
    _gradient(rng, img, rng.uniform(0.0, 0.12))
    ink_choices: tuple[Rgb, ...] = (
        (20, 30, 110),
        (10, 10, 10),
        (150, 20, 20),
        (20, 80, 40),
        (90, 20, 40),
    )
    ink = (_jitter(rng, (235, 235, 235)) if dark_bg
           else _jitter(rng, ink_choices[int(rng.integers(len(ink_choices)))], 10))  # fmt: skip
    accent = _jitter(rng, ink_choices[int(rng.integers(len(ink_choices)))], 20)
    if rng.random() < 0.35:
        band_h = int(h * rng.uniform(0.08, 0.2))
        img[:band_h] = accent
        if rng.random() < 0.5:
            img[h - band_h :] = accent
    state = _pick(rng, _US_STATES)
    if rng.random() < 0.9:
        sh = int(h * rng.uniform(0.11, 0.2))
        sw = min(int(w * rng.uniform(0.35, 0.8)), int(sh * len(state) * 0.9))
        draw_text_box(img, state, x=(w - sw) // 2, y=int(h * 0.05), width=sw, height=sh,
                      color=accent, font_index=_font(rng, bold=False))  # fmt: skip
    if rng.random() < 0.6:
        slogan = _pick(rng, _US_SLOGANS)
        sh = int(h * rng.uniform(0.08, 0.13))
        sw = min(int(w * 0.7), int(sh * len(slogan) * 0.6))
        draw_text_box(img, slogan, x=(w - sw) // 2, y=int(h * 0.86), width=sw, height=sh,
                      color=accent, font_index=_font(rng, bold=False))  # fmt: skip
    pattern = _pick(rng, ("DLLLDDD", "LLLDDDD", "DLLDDD", "LLLDDD", "DDDLLL", "LLDDDDD",
                          "DDLLDD", "XXXXXX", "XXXXXXX", "LLL DDDD", "DDD-LLL", "DLL-DDD"))  # fmt: skip
    text = _chars(rng, pattern)
    x1, x2 = int(w * 0.07), int(w * 0.93)
    if rng.random() < 0.2:  # stacked small characters at the left
        sh = int(h * 0.16)
        sx = int(w * 0.06)
        for i, c in enumerate(_chars(rng, "LL")):
            draw_text_box(img, c, x=sx, y=int(h * 0.3) + i * int(sh * 1.25), width=None,
                          height=sh, color=ink, font_index=_font(rng))  # fmt: skip
        x1 = int(w * 0.16)
    _main_text(rng, img, text, x1=x1, x2=x2, y=int(h * rng.uniform(0.26, 0.34)),
               height=int(h * rng.uniform(0.4, 0.5)), color=ink, font_index=_font(rng),
               weight=int(rng.integers(0, 2)))  # fmt: skip
    if rng.random() < 0.3:  # registration sticker
        sx = int(rng.choice([w * 0.03, w * 0.85]))
        col = _jitter(rng, tuple(int(c) for c in rng.integers(0, 255, 3)), 0)  # type: ignore[arg-type]
        cv2.rectangle(img, (sx, int(h * 0.05)), (sx + int(w * 0.12), int(h * 0.22)), col, -1)
    return img, text.replace(" ", "").replace("-", "")


def _eu_band(rng: Rng, img: Bgr, band_w: int, code: str) -> None:
    h = img.shape[0]
    img[:, :band_w] = _jitter(rng, (0, 51, 153), 10)
    cx, cy, r = band_w // 2, int(h * 0.3), max(2, int(band_w * 0.3))
    for k in range(12):
        a = 2 * np.pi * k / 12
        cv2.circle(img, (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))),
                   max(1, band_w // 22), (0, 204, 255), -1, cv2.LINE_AA)  # fmt: skip
    ch = int(h * 0.26)
    cw = min(int(band_w * 0.8), int(ch * 0.75 * len(code)))
    draw_text_box(img, code, x=(band_w - cw) // 2, y=int(h * 0.62), width=cw, height=ch,
                  color=(255, 255, 255), font_index=_font(rng))  # fmt: skip


def _render_eu(rng: Rng, *, two_line: bool) -> tuple[Bgr, str]:
    h = PLATE_H
    w = int(h * (rng.uniform(1.3, 1.8) if two_line else rng.uniform(4.2, 4.8)))
    yellow = rng.random() < 0.2
    img = _canvas(w, h, _jitter(rng, (250, 205, 20) if yellow else (248, 248, 248), 8))
    _gradient(rng, img, rng.uniform(0.0, 0.08))
    code = _pick(rng, _EU_CODES)
    band_w = int(h * (0.32 if two_line else 0.36)) if rng.random() < 0.9 else 0
    if band_w:
        _eu_band(rng, img, band_w, code)
    ink = _jitter(rng, (15, 15, 15), 10)
    if two_line:
        top, bottom = _chars(rng, _pick(rng, ("LL", "LLL", "DL"))), _chars(rng, "DDDLL")
        for i, part in enumerate((top, bottom)):
            _main_text(rng, img, part, x1=band_w + int(h * 0.06), x2=w - int(h * 0.06),
                       y=int(h * (0.08 + 0.48 * i)), height=int(h * 0.38), color=ink,
                       font_index=_font(rng), weight=0)  # fmt: skip
        text = top + bottom
    else:
        pattern = _pick(rng, ("L DD LLL", "LL DD LLL", "LL-DDD-LL", "L LL DDDD", "LLDD LLL",
                              "D-LLL-DDD", "LL DDD LL", "DDDD LLL", "LL-DD-LL", "LLL DDDD"))  # fmt: skip
        text = _chars(rng, pattern)
        _main_text(rng, img, text, x1=band_w + int(h * 0.1), x2=w - int(h * 0.08),
                   y=int(h * 0.15), height=int(h * rng.uniform(0.64, 0.72)), color=ink,
                   font_index=_font(rng), weight=int(rng.integers(0, 2)))  # fmt: skip
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), ink, max(1, h // 40), cv2.LINE_AA)
    return img, text.replace(" ", "").replace("-", "")


def _render_br_old(rng: Rng) -> tuple[Bgr, str]:
    h = PLATE_H
    w = int(h * rng.uniform(2.9, 3.2))
    red = rng.random() < 0.2
    img = _canvas(w, h, _jitter(rng, (190, 35, 35) if red else (185, 188, 190), 15))
    _gradient(rng, img, rng.uniform(0.0, 0.1))
    ink = _jitter(rng, (245, 245, 245) if red else (20, 20, 20), 10)
    city = _pick(rng, _BR_CITIES)
    draw_text_box(img, city, x=int(w * 0.2), y=int(h * 0.06), width=int(w * 0.6),
                  height=int(h * 0.14), color=ink, font_index=_font(rng))  # fmt: skip
    text = _chars(rng, "LLL-DDDD")
    _main_text(rng, img, text, x1=int(w * 0.05), x2=int(w * 0.95), y=int(h * 0.3),
               height=int(h * 0.58), color=ink, font_index=_font(rng), weight=1)  # fmt: skip
    cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, max(2, h // 30), cv2.LINE_AA)
    return img, text.replace("-", "")


def _render_br_mercosur(rng: Rng) -> tuple[Bgr, str]:
    h = PLATE_H
    w = int(h * rng.uniform(2.9, 3.2))
    img = _canvas(w, h, _jitter(rng, (248, 248, 248), 6))
    band_h = int(h * rng.uniform(0.2, 0.26))
    img[:band_h] = _jitter(rng, (0, 56, 168), 10)
    draw_text_box(img, _pick(rng, ("BRASIL", "ARGENTINA", "URUGUAY", "PARAGUAY")),
                  x=int(w * 0.35), y=int(band_h * 0.2), width=int(w * 0.3),
                  height=int(band_h * 0.6), color=(255, 255, 255), font_index=_font(rng))  # fmt: skip
    fx = int(w * 0.88)
    cv2.rectangle(img, (fx, int(band_h * 0.2)), (fx + int(w * 0.07), int(band_h * 0.8)),
                  (40, 150, 0), -1)  # fmt: skip
    ink = _jitter(rng, (15, 15, 15), 10)
    text = _chars(rng, _pick(rng, ("LLLDLDD", "LLDDDLL", "LLLDDD")))
    _main_text(rng, img, text, x1=int(w * 0.1), x2=int(w * 0.95), y=band_h + int(h * 0.12),
               height=int(h * 0.55), color=ink, font_index=_font(rng), weight=0)  # fmt: skip
    cv2.putText(img, "BR", (int(w * 0.02), int(h * 0.9)), cv2.FONT_HERSHEY_SIMPLEX,
                h / 130, ink, 2, cv2.LINE_AA)  # fmt: skip
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (30, 30, 30), max(1, h // 60))
    return img, text


def _render_generic(rng: Rng) -> tuple[Bgr, str]:
    h = PLATE_H
    w = int(h * rng.uniform(1.8, 5.0))
    bg_rgb = tuple(int(c) for c in rng.integers(0, 256, 3))
    light = sum(bg_rgb) > 380
    img = _canvas(w, h, _jitter(rng, bg_rgb, 0))  # type: ignore[arg-type]
    _gradient(rng, img, rng.uniform(0.0, 0.1))
    ink = _jitter(rng, (20, 20, 20) if light else (240, 240, 240), 20)
    n = int(rng.integers(4, 9))
    text = "".join(_pick(rng, _LETTERS + _DIGITS) for _ in range(n))
    if rng.random() < 0.4:
        k = int(rng.integers(1, n))
        text = text[:k] + _pick(rng, (" ", "-", ".")) + text[k:]
    _main_text(rng, img, text, x1=int(h * 0.12), x2=w - int(h * 0.12), y=int(h * 0.18),
               height=int(h * rng.uniform(0.55, 0.68)), color=ink, font_index=_font(rng),
               weight=int(rng.integers(0, 2)))  # fmt: skip
    if rng.random() < 0.7:
        cv2.rectangle(img, (2, 2), (w - 3, h - 3), ink, max(1, h // 35), cv2.LINE_AA)
    return img, "".join(c for c in text if c.isalnum())


def _round_alpha(w: int, h: int, radius: int) -> npt.NDArray[np.uint8]:
    alpha = np.zeros((h, w), np.uint8)
    r = max(0, min(radius, h // 3))
    cv2.rectangle(alpha, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(alpha, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(alpha, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return alpha


def _bolts(rng: Rng, img: Bgr) -> None:
    h, w = img.shape[:2]
    r = max(2, h // 22)
    col = _jitter(rng, (170, 170, 175), 40)
    xs = (int(w * 0.2), int(w * 0.8)) if rng.random() < 0.6 else (int(w * 0.08), int(w * 0.92))
    ys = (int(h * 0.1),) if rng.random() < 0.6 else (int(h * 0.1), int(h * 0.9))
    for x in xs:
        for y in ys:
            cv2.circle(img, (x, y), r, col, -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), r, (60, 60, 60), 1, cv2.LINE_AA)


def _frame(rng: Rng, plate: Bgr, alpha: npt.NDArray[np.uint8]) -> tuple[Bgr, npt.NDArray[np.uint8], npt.NDArray[np.float32]]:  # fmt: skip
    """Put the plate in a licence-plate frame (chrome or plastic, maybe dealer text)."""
    h, w = plate.shape[:2]
    side, top = int(h * rng.uniform(0.04, 0.12)), int(h * rng.uniform(0.04, 0.15))
    bottom = int(h * rng.uniform(0.06, 0.3))
    fw, fh = w + 2 * side, h + top + bottom
    col = _jitter(rng, ((20, 20, 20), (180, 180, 185), (200, 170, 80), (120, 20, 20))
                  [int(rng.choice(4, p=[0.55, 0.3, 0.1, 0.05]))], 15)  # fmt: skip
    img = np.full((fh, fw, 3), col, np.uint8)
    _gradient(rng, img, 0.08)
    img[top : top + h, side : side + w] = np.where(
        alpha[..., None] > 0, plate, img[top : top + h, side : side + w]
    )
    if bottom > h * 0.12 and rng.random() < 0.6:
        words = _pick(rng, ("AUTO SALES", "HONDA OF CITY", "TOYOTA", "MOTORS", "dealer.com"))
        dh = int(bottom * 0.6)
        dw = min(int(w * 0.7), dh * len(words))
        draw_text_box(img, words, x=(fw - dw) // 2, y=top + h + (bottom - dh) // 2,
                      width=dw, height=dh, color=_jitter(rng, (230, 230, 230), 20),
                      font_index=_font(rng))  # fmt: skip
    # the frame's lip hides a little of the plate's edge
    lip = max(1, int(h * rng.uniform(0.0, 0.05)))
    cv2.rectangle(img, (side - lip, top - lip), (side + w + lip, top + h + lip), col, lip)
    falpha = _round_alpha(fw, fh, int(h * 0.08))
    corners = np.array(
        [[side, top], [side + w, top], [side + w, top + h], [side, top + h]], np.float32
    )
    return img, falpha, corners


def render_plate(rng: Rng, style: PlateStyle | None = None) -> RenderedPlate:
    """Render one random plate, front-on, `PLATE_H` pixels tall (plus any frame)."""
    if style is None:
        style = PLATE_STYLES[
            int(rng.choice(len(PLATE_STYLES), p=[0.34, 0.24, 0.07, 0.1, 0.13, 0.12]))
        ]
    if style == "us":
        img, text = _render_us(rng)
    elif style == "eu":
        img, text = _render_eu(rng, two_line=False)
    elif style == "eu_two_line":
        img, text = _render_eu(rng, two_line=True)
    elif style == "br_old":
        img, text = _render_br_old(rng)
    elif style == "br_mercosur":
        img, text = _render_br_mercosur(rng)
    else:
        img, text = _render_generic(rng)
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        _bolts(rng, img)
    alpha = _round_alpha(w, h, int(h * rng.uniform(0.0, 0.12)))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    if (style == "us" and rng.random() < 0.5) or rng.random() < 0.15:
        img, alpha, corners = _frame(rng, img, alpha)
    return RenderedPlate(image=img, alpha=alpha, corners=corners, text=text, style=style)


def real_plate(crop: Bgr) -> RenderedPlate:
    """Wrap a real plate crop (tight around the plate) as a renderable plate."""
    h, w = crop.shape[:2]
    scale = PLATE_H / max(h, 1)
    img = u8(cv2.resize(crop, (max(1, round(w * scale)), PLATE_H), interpolation=cv2.INTER_LINEAR))
    h, w = img.shape[:2]
    alpha = np.full((h, w), 255, np.uint8)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return RenderedPlate(image=img, alpha=alpha, corners=corners, text="", style="us")
