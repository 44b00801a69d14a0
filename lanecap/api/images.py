"""Uploaded images are measured from their header before anything decodes them.

A small PNG can claim a huge canvas (a "decompression bomb": 730 KiB of zeros deflate to
gigabytes of pixels), so `check_upload` reads the width and height from the PNG IHDR chunk
or the first JPEG frame header (SOFn) and refuses an image over the pixel limit with
`ImageTooLarge` (413) before OpenCV allocates anything. Only JPEG and PNG are accepted:
any other bytes, a truncated header or a zero dimension read as "not a decodable image"
(the caller's message) and never reach a decoder. An empty upload is a clean BadRequest.

The limit is the process's: `create_app` sets it from `api.max_image_pixels`.
"""

from __future__ import annotations

import struct
from typing import Literal

from lanecap.api.errors import ApiError, BadRequest

DEFAULT_MAX_PIXELS = 40_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
# Frame headers: every SOFn but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field

_limit = DEFAULT_MAX_PIXELS

ImageFormat = Literal["png", "jpeg"]


class ImageTooLarge(ApiError):
    status = 413
    code = "image_too_large"

    def __init__(self, *, width: int, height: int, limit: int) -> None:
        self.width = width
        self.height = height
        self.limit = limit
        super().__init__(
            f"the image is {width}x{height} pixels ({width * height / 1e6:.1f} Mpx);"
            f" at most {limit / 1e6:.1f} Mpx are accepted",
            hint="send a smaller image (a portrait or a camera frame needs far fewer pixels)",
        )


def set_max_pixels(limit: int) -> None:
    """The largest width x height decoded from now on (this process)."""
    global _limit
    if limit < 1:
        raise ValueError("the pixel limit must be positive")
    _limit = limit


def max_pixels() -> int:
    return _limit


def _png_size(data: bytes) -> tuple[int, int] | None:
    # signature, then the IHDR chunk first: length (13), type, width, height
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of the first frame header; None when the marker structure before it
    is broken (libjpeg would then read something else, so nothing is decoded)."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA, 0x00):  # SOI again, EOI, or scan data before a frame
            return None
        if i + 2 > n:
            return None
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2:
            return None
        if marker in _SOF:
            if length < 8 or i + 7 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return width, height
        i += length
    return None


def dimensions(data: bytes) -> tuple[ImageFormat, int, int] | None:
    """(format, width, height) from a JPEG or PNG header; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        size = _png_size(data)
        fmt: ImageFormat = "png"
    elif data.startswith(JPEG_SOI):
        size = _jpeg_size(data)
        fmt = "jpeg"
    else:
        return None
    if size is None or size[0] == 0 or size[1] == 0:
        return None
    return fmt, size[0], size[1]


def check_upload(data: bytes, *, limit: int | None = None) -> tuple[int, int] | None:
    """(width, height) of an uploaded JPEG/PNG that may be decoded; None when it is not a
    JPEG or PNG with a sound header. BadRequest when empty, ImageTooLarge over the limit."""
    if not data:
        raise BadRequest("the image is empty (0 bytes)", hint="attach a JPEG or PNG file")
    found = dimensions(data)
    if found is None:
        return None
    _, width, height = found
    cap = _limit if limit is None else limit
    if width * height > cap:
        raise ImageTooLarge(width=width, height=height, limit=cap)
    return width, height
