"""Synthetic training data for the plate detector: plates, scenes, YOLO datasets."""

from recognition.synth.plates import PLATE_STYLES, PlateStyle, RenderedPlate, render_plate
from recognition.synth.scene import Scene, SceneConfig, SceneGenerator

__all__ = [
    "PLATE_STYLES",
    "PlateStyle",
    "RenderedPlate",
    "Scene",
    "SceneConfig",
    "SceneGenerator",
    "render_plate",
]
