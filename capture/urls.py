"""Recognising source strings and hiding credentials in them."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s?#]*@")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|user|username|token|access_token"
    r"|auth|key|api_key|apikey|secret|signature|sig)=)[^&;#\s]*",
    re.IGNORECASE,
)
_STREAM_SCHEME = re.compile(r"^(?:rtsps?|https?)://", re.IGNORECASE)
_ANY_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_DEVICE = re.compile(r"^(?:device:)?(?P<index>\d+)$", re.IGNORECASE)


def scrub_url(text: str) -> str:
    """`text` with credentials in every URL inside it replaced by ``***``.

    ``rtsp://user:pass@host/x`` becomes ``rtsp://***@host/x``; secret-looking
    query parameters (``?token=...``, ``&password=...``) keep their name and
    lose their value. Works on whole log or error messages, not only on a
    bare URL, and leaves text without URLs unchanged.
    """
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAM.sub(r"\g<key>***", text)


def is_stream_url(source: str) -> bool:
    """True for ``rtsp://``, ``rtsps://``, ``http://`` and ``https://`` sources."""
    return _STREAM_SCHEME.match(source) is not None


def has_scheme(source: str) -> bool:
    """True when `source` starts with any ``scheme://``."""
    return _ANY_SCHEME.match(source) is not None


def device_index(source: str) -> int | None:
    """The camera index of ``device:N`` or a bare ``N``; None for anything else."""
    match = _DEVICE.match(source.strip())
    return int(match.group("index")) if match else None
