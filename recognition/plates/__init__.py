"""Licence plates: detection (YOLO on ONNX Runtime), reading, evaluation, training."""
