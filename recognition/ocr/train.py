"""Fine-tune the plate recognition network (CTC) from EasyOCR's english_g2 weights.

Data: rendered plates (recognition.ocr.samples) mixed with augmented real crops
from the train split of a plates manifest (`manifest.split_of`, about 80 %);
crops whose text also occurs in the validation split are left out of training so
the same plate never straddles the split. The validation split is read without
augmentation every `eval_every` steps; the weights with the best validation
exact-match rate are kept in `out/best`, the last ones in `out/last`.

Reproducible from the seed with `workers` <= 1 (one sample stream); the first
`freeze_convs` convolutions keep english_g2's weights (and cost no backward pass).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recognition.ocr.decode import greedy
from recognition.ocr.network import CHARSET, from_english_g2, load_network, save_for_easyocr
from recognition.ocr.prep import IMG_H, IMG_W, prepare
from recognition.ocr.samples import Bgr, RealCrop, real_sample, synthetic_sample
from recognition.plates.manifest import load_manifest, split_of
from recognition.plates.reader import CROP_PAD
from recognition.synth.arrays import u8
from recognition.types import Box

log = logging.getLogger(__name__)

CONTEXT = 0.3
"""Surroundings kept around a labelled box of a photo, so box jitter cuts real pixels."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (all defaults are the shipped model's recipe)."""

    out: Path
    manifests: tuple[Path, ...] = ()
    steps: int = 2400
    batch: int = 32
    lr: float = 3e-4
    head_lr: float = 1e-3
    warmup: int = 60
    real_fraction: float = 0.5
    freeze_convs: int = 4
    eval_every: int = 150
    seed: int = 0
    threads: int = 2
    workers: int = 1
    max_minutes: float | None = None
    init: Path | None = None
    """Start from these EasyOCR-format weights (e.g. the shipped network) instead of english_g2."""


@dataclass
class TrainResult:
    """Where the weights went and what they scored (validation split of the real crops)."""

    best_dir: Path
    last_dir: Path
    best_val_exact: float | None
    history: list[dict[str, float]] = field(default_factory=list)


def load_real(manifests: tuple[Path, ...]) -> tuple[list[RealCrop], list[RealCrop]]:
    """(train, val) crops: whole images for crop manifests, labelled boxes otherwise."""
    train: list[RealCrop] = []
    val: list[RealCrop] = []
    for manifest in manifests:
        for item in load_manifest(manifest):
            loaded = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
            if loaded is None:
                log.warning("unreadable image skipped: %s", item.rel)
                continue
            image = u8(loaded)
            is_val = split_of(item.rel) == "val"
            if not item.boxes_known:
                crops = [RealCrop(image, t) for t in item.texts[:1] if t]
            elif is_val:  # read as the lane reads it: the box grown by the reader's pad
                crops = [
                    RealCrop(u8(b.crop(image, pad=CROP_PAD)), t)
                    for b, t in zip(item.boxes, item.texts, strict=True)
                    if t
                ]
            else:
                crops = [
                    with_context(image, b, t)
                    for b, t in zip(item.boxes, item.texts, strict=True)
                    if t
                ]
            target = val if is_val else train
            target.extend(c for c in crops if c.image.size)
    held = {c.text for c in val}
    train = [c for c in train if c.text not in held]
    return train, val


def with_context(image: Bgr, box: Box, text: str) -> RealCrop:
    """The plate with CONTEXT of its size around it from the photo, and where the plate is."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box.x1 - box.width * CONTEXT)), max(0, int(box.y1 - box.height * CONTEXT))
    x2 = min(w, round(box.x2 + box.width * CONTEXT))
    y2 = min(h, round(box.y2 + box.height * CONTEXT))
    part = np.ascontiguousarray(image[y1:y2, x1:x2])
    return RealCrop(part, text, (box.x1 - x1, box.y1 - y1, box.x2 - x1, box.y2 - y1))


def _encode(texts: list[str]) -> tuple[list[int], list[int]]:
    flat: list[int] = []
    lengths: list[int] = []
    for t in texts:
        flat.extend(CHARSET.index(c) + 1 for c in t)
        lengths.append(len(t))
    return flat, lengths


class _Stream:
    """Infinite batches of (lines, texts); one RNG per worker, seeded from the run seed."""

    def __init__(self, cfg: TrainConfig, real: list[RealCrop]) -> None:
        self.cfg = cfg
        self.real = real

    def batches(self, worker: int) -> Iterator[tuple[np.ndarray[Any, Any], list[str]]]:
        rng = np.random.default_rng([self.cfg.seed, worker])
        cv2.setNumThreads(1)
        while True:
            lines, texts = [], []
            for _ in range(self.cfg.batch):
                if self.real and rng.random() < self.cfg.real_fraction:
                    line, text = real_sample(rng, self.real[int(rng.integers(len(self.real)))])
                else:
                    line, text = synthetic_sample(rng)
                text = "".join(c for c in text if c in CHARSET)
                if not text:
                    continue
                lines.append(line)
                texts.append(text)
            yield np.stack(lines)[:, None], texts


def _loader(cfg: TrainConfig, real: list[RealCrop]) -> Iterator[Any]:
    import torch

    stream = _Stream(cfg, real)

    class _Data(torch.utils.data.IterableDataset):  # type: ignore[misc,type-arg,unused-ignore]
        def __iter__(self) -> Iterator[Any]:
            info = torch.utils.data.get_worker_info()
            return stream.batches(0 if info is None else info.id)

    loader = torch.utils.data.DataLoader(
        _Data(),
        batch_size=None,
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
    )
    return iter(loader)


def evaluate_lines(model: Any, crops: list[RealCrop], *, batch: int = 64) -> dict[str, float]:
    """Exact-match rate and character error rate of the network on crops (no augmentation)."""
    import torch

    from recognition.plates.read_eval import edit_distance

    if not crops:
        return {"exact": float("nan"), "cer": float("nan"), "n": 0.0}
    model.eval()
    exact = 0
    errors = 0
    chars = 0
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            part = crops[i : i + batch]
            x = torch.from_numpy(np.stack([prepare(c.image) for c in part])[:, None])
            probs = model(x, None).softmax(2).numpy()
            for p, c in zip(probs, part, strict=True):
                text = greedy(p).text
                exact += text == c.text
                errors += edit_distance(text, c.text)
                chars += len(c.text)
    model.train()
    return {"exact": exact / len(crops), "cer": errors / max(chars, 1), "n": float(len(crops))}


def train_reader(cfg: TrainConfig) -> TrainResult:
    """Run the fine-tuning described by `cfg`; returns where the weights are and the history."""
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    real_train, real_val = load_real(cfg.manifests)
    log.info("real crops: %d train, %d val", len(real_train), len(real_val))
    model = from_english_g2() if cfg.init is None else load_network(cfg.init)
    convs = [m for m in model.FeatureExtraction.ConvNet if isinstance(m, torch.nn.Conv2d)]
    for conv in convs[: cfg.freeze_convs]:
        conv.requires_grad_(False)
    head = list(model.Prediction.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}], weight_decay=1e-4
    )
    base = [cfg.lr, cfg.head_lr]

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        if cfg.max_minutes:  # a time budget anneals by whichever runs out first
            t = max(t, (time.monotonic() - start) / 60 / cfg.max_minutes)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    start = time.monotonic()
    batches = _loader(cfg, real_train)
    best_dir, last_dir = cfg.out / "best", cfg.out / "last"
    result = TrainResult(best_dir, last_dir, None)
    running = 0.0
    model.train()
    (cfg.out / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))
    for step in range(cfg.steps):
        for group, b in zip(opt.param_groups, base, strict=True):
            group["lr"] = b * lr_at(step)
        x_np, texts = next(batches)
        x = torch.as_tensor(np.asarray(x_np, np.float32))
        assert x.shape[2:] == (IMG_H, IMG_W)
        flat, lengths = _encode(texts)
        logits = model(x, None)  # (B, T, C)
        log_probs = logits.log_softmax(2).permute(1, 0, 2)
        in_len = torch.full((x.shape[0],), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, torch.tensor(flat), in_len, torch.tensor(lengths))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        value = loss.item()
        running = 0.98 * running + 0.02 * value if step else value
        elapsed = (time.monotonic() - start) / 60
        last = step == cfg.steps - 1 or (cfg.max_minutes is not None and elapsed > cfg.max_minutes)
        if (step + 1) % cfg.eval_every == 0 or last:
            val = evaluate_lines(model, real_val)
            row = {"step": float(step + 1), "loss": running, "minutes": elapsed,
                   "val_exact": val["exact"], "val_cer": val["cer"]}  # fmt: skip
            result.history.append(row)
            log.info("step %d loss %.3f val exact %.3f cer %.3f (%.1f min)",
                     step + 1, running, val["exact"], val["cer"], elapsed)  # fmt: skip
            save_for_easyocr(model, last_dir)
            score = val["exact"] if real_val else -running
            if result.best_val_exact is None or score >= result.best_val_exact:
                result.best_val_exact = score
                save_for_easyocr(model, best_dir)
            (cfg.out / "history.json").write_text(json.dumps(result.history, indent=2))
        if last:
            break
    return result
