"""Plate detection and reading, driver faces, matching; training and evaluation.

Never imports `capture` or `storage`: `lanecap` wires them together.
"""
