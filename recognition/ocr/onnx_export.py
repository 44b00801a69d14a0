"""The plate network as ONNX, for ONNX Runtime: the same outputs, about 1.6x faster on one thread.

    python -m recognition.ocr.onnx_export [--pth recognition/models/plate_reader.pth]
        [--out recognition/models/plate_reader.onnx]

The graph is EasyOCR's generation2 forward pass with its adaptive pooling written as the
mean it computes (a fixed 64 x 192 input pools a height of 3 to 1), batch size dynamic.
Weights are stored as float16, as in the .pth (7.5 MB, not 15), each cast back to float32
by a Cast node that ONNX Runtime folds when it loads the model: the float32 arithmetic is
the torch reader's. The .pth's sha256 is written in the model's metadata (`source_sha256`);
the reader uses the ONNX only when it matches the shipped weights, so a retrained .pth
without a fresh export falls back to torch (with a warning) instead of reading with stale
weights. Re-export after every training run.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recognition.ocr.network import MODELS_DIR, NETWORK_NAME, load_network
from recognition.ocr.prep import IMG_H, IMG_W

ONNX_PATH = MODELS_DIR / f"{NETWORK_NAME}.onnx"
PTH_PATH = MODELS_DIR / f"{NETWORK_NAME}.pth"
SHA_KEY = "source_sha256"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wrapped(model: Any) -> Any:
    import torch

    class Plain(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: Any) -> Any:
            m = self.m
            # AdaptiveAvgPool2d((None, 1)) over (N, W, C, H): the mean over H
            v = m.FeatureExtraction(x).permute(0, 3, 1, 2).mean(dim=3)
            return m.Prediction(m.SequenceModeling(v).contiguous())

    return Plain(model).eval()


def _half_initializers(model: Any) -> None:
    """Store float32 initializers as float16, each behind a Cast back to float32."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def export(pth: Path = PTH_PATH, out: Path = ONNX_PATH) -> Path:
    """Write the ONNX network for `pth`; returns `out`."""
    import onnx
    import torch

    net = _wrapped(load_network(pth))
    x = torch.zeros(1, 1, IMG_H, IMG_W)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        raw = Path(tmp) / "net.onnx"
        torch.onnx.export(
            net,
            (x,),
            str(raw),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
        model = onnx.load(str(raw))
    _half_initializers(model)
    meta = model.metadata_props.add()
    meta.key, meta.value = SHA_KEY, sha256(pth)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--pth", type=Path, default=PTH_PATH)
    ap.add_argument("--out", type=Path, default=ONNX_PATH)
    args = ap.parse_args(argv)
    path = export(args.pth, args.out)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MB) from {args.pth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
