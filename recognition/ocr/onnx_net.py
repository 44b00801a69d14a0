"""The plate network under ONNX Runtime (see `recognition.ocr.onnx_export`); no torch needed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recognition.ocr.onnx_export import SHA_KEY, sha256
from recognition.ort_session import cpu_session

log = logging.getLogger(__name__)


def current(onnx_path: Path, pth_path: Path, *, threads: int = 1) -> OnnxNetwork | None:
    """The ONNX network at `onnx_path` if it was exported from the weights now in `pth_path`."""
    if not onnx_path.is_file() or not pth_path.is_file():
        return None
    net = OnnxNetwork(onnx_path, threads=threads)
    if net.source_sha256 == sha256(pth_path):
        return net
    log.warning(
        "%s was exported from other weights than %s: reading with torch; re-export with "
        "`python -m recognition.ocr.onnx_export`",
        onnx_path.name,
        pth_path.name,
    )
    return None


class OnnxNetwork:
    """`net(lines)` -> logits (N, T, classes) for network input lines (N, 1, H, W)."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        self._session: Any = cpu_session(path, threads=threads)
        self._input: str = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        self.source_sha256: str | None = meta.get(SHA_KEY)

    def __call__(self, lines: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self._session.run(None, {self._input: np.ascontiguousarray(lines, np.float32)})
        return np.asarray(out[0], np.float32)
