"""Make ultralytics work without network: no downloads, no telemetry, local font.

Call `setup_offline()` before importing ultralytics anywhere.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _any_ttf() -> Path | None:
    from recognition.synth.text import font_paths

    paths = font_paths()
    if paths:
        return paths[0]
    try:
        import cv2

        found = sorted(Path(cv2.__file__).parent.rglob("*.ttf"))
        return found[0] if found else None
    except ImportError:  # pragma: no cover
        return None


def setup_offline(config_dir: Path | None = None) -> Path:
    """Set the ultralytics environment for offline use; returns its config dir."""
    if config_dir is None:
        config_dir = Path(
            os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "lanecap-yolo"
        )
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    ttf = _any_ttf()
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = font_dir / name
        if not target.exists() and ttf is not None:
            shutil.copyfile(ttf, target)
    if ttf is None:
        log.warning("no TTF font found; ultralytics may try to download Arial.ttf")
    from ultralytics import settings

    settings.update({"sync": False})  # type: ignore[no-untyped-call]
    return config_dir
