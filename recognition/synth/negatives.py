"""Plate-like distractors: road signs, stickers, shop signs, painted text.

They are drawn into scenes without labels so the detector learns that text on
a rectangle is not enough to be a plate.
"""

from __future__ import annotations

from typing import Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from recognition.synth.arrays import u8
from recognition.synth.text import draw_text_box, font_count, natural_width, text_mask

Bgr = npt.NDArray[np.uint8]
Rng = np.random.Generator
NegativeKind = Literal[
    "street_sign", "speed_sign", "speed_limit_us", "shop_sign", "sticker", "painted_text"
]
NEGATIVE_KINDS: tuple[NegativeKind, ...] = get_args(NegativeKind)

_WORDS = (
    "MAIN ST", "EXIT 12", "PARKING", "STOP", "TAXI", "BUS 42", "OPEN 24H", "SALE 50%", "PHARMACY",
    "HOTEL", "CAFE", "BORDER", "CUSTOMS", "LANE 3", "NO ENTRY", "ONE WAY", "PIZZA", "BANK",
    "555-0199", "GAS", "DIESEL 1.59", "A1", "E75", "ZONE B", "KM 12", "WC", "EXIT", "SLOW",
    "Market St", "I LOVE NY", "BABY ON BOARD", "TOLL", "DUTY FREE", "CHECKPOINT", "ADUANA",
)  # fmt: skip

_SIGN_COLORS = (
    (0, 110, 0),
    (150, 60, 0),
    (20, 60, 120),
    (255, 255, 255),
    (0, 200, 255),
    (30, 30, 30),
)


def _col(rng: Rng) -> tuple[int, int, int]:
    c = rng.integers(0, 256, 3)
    return (int(c[0]), int(c[1]), int(c[2]))


def _font(rng: Rng) -> int:
    return int(rng.integers(font_count()))


def _text_in(rng: Rng, img: Bgr, text: str, color: tuple[int, int, int], fill: float = 0.6) -> None:
    h, w = img.shape[:2]
    th = max(2, int(h * fill))
    f = _font(rng)
    tw = min(natural_width(text_mask(text, font_index=f), th), int(w * 0.9))
    draw_text_box(
        img, text, x=(w - tw) // 2, y=(h - th) // 2, width=tw, height=th, color=color, font_index=f
    )


def render_negative(
    rng: Rng, width: int, kind: NegativeKind | None = None
) -> tuple[Bgr, npt.NDArray[np.uint8]]:
    """A distractor about `width` pixels wide, as (BGR image, alpha mask)."""
    if kind is None:
        kind = NEGATIVE_KINDS[int(rng.integers(len(NEGATIVE_KINDS)))]
    width = max(8, width)
    word = _WORDS[int(rng.integers(len(_WORDS)))]
    if kind == "speed_sign":
        img = np.full((width, width, 3), 250, np.uint8)
        alpha = np.zeros((width, width), np.uint8)
        cv2.circle(alpha, (width // 2, width // 2), width // 2 - 1, 255, -1, cv2.LINE_AA)
        cv2.circle(img, (width // 2, width // 2), width // 2 - 1, (0, 0, 210), max(2, width // 8))
        inner = img[width // 4 : 3 * width // 4, width // 5 : 4 * width // 5]
        _text_in(
            rng, inner, str(int(rng.choice([30, 40, 50, 60, 70, 80, 90, 100, 120]))), (10, 10, 10)
        )
        return img, alpha
    if kind == "speed_limit_us":
        h = int(width * rng.uniform(1.2, 1.4))
        img = np.full((h, width, 3), 245, np.uint8)
        cv2.rectangle(img, (2, 2), (width - 3, h - 3), (10, 10, 10), max(1, width // 25))
        for i, part in enumerate(("SPEED", "LIMIT")):
            band = img[
                int(h * (0.08 + 0.17 * i)) : int(h * (0.22 + 0.17 * i)), width // 8 : 7 * width // 8
            ]
            _text_in(rng, band, part, (10, 10, 10), 0.9)
        _text_in(
            rng,
            img[int(h * 0.48) : int(h * 0.9), width // 8 : 7 * width // 8],
            str(int(rng.integers(2, 8)) * 10 + 5),
            (10, 10, 10),
            0.9,
        )
        return img, np.full((h, width), 255, np.uint8)
    if kind == "street_sign":
        h = max(4, int(width / rng.uniform(2.5, 6.0)))
        bg = _SIGN_COLORS[int(rng.integers(len(_SIGN_COLORS)))]
        fg = (255, 255, 255) if sum(bg) < 400 else (10, 10, 10)
        img = np.full((h, width, 3), bg, np.uint8)
        cv2.rectangle(img, (1, 1), (width - 2, h - 2), fg, max(1, h // 12))
        _text_in(rng, img, word, fg, rng.uniform(0.45, 0.7))
        return img, np.full((h, width), 255, np.uint8)
    if kind == "shop_sign":
        h = max(4, int(width / rng.uniform(3.0, 9.0)))
        bg, fg = _col(rng), _col(rng)
        img = np.full((h, width, 3), bg, np.uint8)
        _text_in(rng, img, word.title() if rng.random() < 0.5 else word, fg, rng.uniform(0.5, 0.8))
        return img, np.full((h, width), 255, np.uint8)
    if kind == "sticker":
        h = max(4, int(width / rng.uniform(1.0, 3.5)))
        bg = _col(rng)
        img = np.full((h, width, 3), bg, np.uint8)
        if rng.random() < 0.5:  # barcode-like stripes
            for x in range(2, width - 2, 2):
                if rng.random() < 0.5:
                    img[h // 2 :, x] = 0
            _text_in(rng, img[: h // 2], word, (0, 0, 0), 0.7)
        else:
            _text_in(rng, img, word, _col(rng), 0.5)
        alpha = np.zeros((h, width), np.uint8)
        if rng.random() < 0.5:
            cv2.ellipse(
                alpha, (width // 2, h // 2), (width // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1
            )
        else:
            alpha[:] = 255
        return img, alpha
    # painted text: letters straight on the surface behind
    h = max(4, int(width / max(1.5, len(word) * 0.6)))
    img = np.zeros((h, width, 3), np.uint8)
    img[:] = _col(rng)
    mask = text_mask(word, font_index=_font(rng))
    alpha = u8(cv2.resize(mask, (width, h), interpolation=cv2.INTER_AREA))
    return img, alpha
