"""Shipped model files (ONNX, checkpoints, model cards); a package so they install with it."""
