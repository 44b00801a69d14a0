"""EasyOCR custom network module: the generation2 VGG-BiLSTM-CTC model."""

from easyocr.model.vgg_model import Model

__all__ = ["Model"]
