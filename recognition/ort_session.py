"""One way to open an ONNX model on the CPU for the lane: the detector, both plate readers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def cpu_session(
    path: Path, *, threads: int, providers: Sequence[str] = ("CPUExecutionProvider",)
) -> Any:
    """An ONNX Runtime session on `threads` intra-op threads, run sequentially, fully optimised,
    quiet, and with idle threads not spinning: spinning threads after a run starve the lane's
    other models on the same cores (measured 18 vs 10 ms a plate read)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), sess_options=opts, providers=chosen)
