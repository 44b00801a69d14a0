"""Benchmark: our plate reader vs plain EasyOCR, same crops, one run, same threads.

Readers on the ground-truth crops of each manifest (reader-only accuracy):

* `ours`: `EasyOcrReader()` (the shipped fine-tuned network, grammars, two-row reading),
  with its default adaptive framings; `ours-consensus` (always four framings) and
  `ours-single` (one framing) are the same network read the two other ways;
* `easyocr-recognize`: plain EasyOCR english_g2 `recognize()` on the same crop,
  output cleaned to A-Z0-9 (what one gets without our work);
* `easyocr-readtext` (manifests with boxes only): plain `readtext()` on the whole
  frame, CRAFT detector included; the text boxes whose centre falls inside the
  labelled plate box are joined left to right. About 4 s a frame: `--frames` limits it.

Prints exact match, character error rate and ms per crop (p50/p95), and each
baseline's ratio to ours.

    python bench/bench_reader.py [MANIFEST ...] [--threads 2] [--split all|val] [--frames 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recognition.plates.grammar import clean
from recognition.plates.manifest import load_manifest, split_of
from recognition.plates.read_eval import edit_distance, evaluate_reader
from recognition.plates.reader import EasyOcrReader
from recognition.types import Image, PlateRead

DEFAULT_MANIFESTS = (
    Path("/work/shared/data/plates/openalpr-us-crops/manifest.csv"),
    Path("/work/shared/data/plates/openalpr-us-dev/manifest.csv"),
)


def _plain_easyocr(threads: int, *, detector: bool) -> Any:
    import easyocr
    import easyocr_en_models
    import torch

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return easyocr.Reader(
            ["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(),
            user_network_directory=str(Path("var/easyocr-user").resolve()),
            download_enabled=False, detector=detector, verbose=False,
        )  # fmt: skip


class PlainRecognize:
    """EasyOCR english_g2 `recognize()` on the whole crop, text cleaned to A-Z0-9."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def read(self, crop: Image) -> PlateRead | None:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = self.reader.recognize(gray, detail=1)
        text = clean("".join(str(t) for _b, t, _c in results))
        conf = float(np.mean([float(c) for *_, c in results])) if results else 0.0
        return PlateRead(text, conf) if text else None


def readtext_frames(reader: Any, manifest: Path, *, frames: int, split: str) -> dict[str, Any]:
    """Plain EasyOCR on whole frames; text inside each labelled box, joined left to right."""
    items = [i for i in load_manifest(manifest) if i.boxes_known and any(i.texts)]
    if split != "all":
        items = [i for i in items if split_of(i.rel) == split]
    exact = errors = chars = 0
    ms: list[float] = []
    n = 0
    for item in items[:frames]:
        image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = reader.readtext(image, detail=1)
        ms.append((time.perf_counter() - start) * 1000)
        for box, text in zip(item.boxes, item.texts, strict=True):
            if not text:
                continue
            inside = []
            for pts, t, _c in found:
                cx = float(np.mean([p[0] for p in pts]))
                cy = float(np.mean([p[1] for p in pts]))
                if box.x1 <= cx <= box.x2 and box.y1 <= cy <= box.y2:
                    inside.append((cx, str(t)))
            got = clean("".join(t for _x, t in sorted(inside)))
            n += 1
            exact += got == text
            errors += edit_distance(got, text)
            chars += len(text)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "exact": exact / n,
        "cer": errors / max(chars, 1),
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p95": float(np.percentile(ms, 95)),
        "note": f"first {len(ms)} frames; ms per whole frame",
    }


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="*", type=Path, default=list(DEFAULT_MANIFESTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", choices=["all", "train", "val"], default="all")
    ap.add_argument("--frames", type=int, default=30, help="Frames for readtext (0: skip it).")
    ap.add_argument("--limit", type=int, default=None, help="Crops per manifest.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ours = EasyOcrReader(threads=args.threads)
    plain = _plain_easyocr(args.threads, detector=args.frames > 0)
    readers: dict[str, Any] = {
        "ours": ours,
        "ours-consensus": EasyOcrReader(threads=args.threads, framings="consensus"),
        "ours-single": EasyOcrReader(threads=args.threads, framings="single"),
        "easyocr-recognize": PlainRecognize(plain),
    }
    report: dict[str, Any] = {"network": ours.network, "threads": args.threads, "results": {}}
    for manifest in args.manifests:
        if not manifest.is_file():
            print(f"skip {manifest}: not found")
            continue
        res: dict[str, Any] = {}
        for name, reader in readers.items():
            r = evaluate_reader(manifest, reader=reader, split=args.split, limit=args.limit)
            r.pop("errors")
            res[name] = r["overall"]
            print(f"  {manifest.parent.name} {name}: done", file=sys.stderr, flush=True)
        if args.frames > 0 and any(i.boxes_known for i in load_manifest(manifest)):
            res["easyocr-readtext"] = readtext_frames(
                plain, manifest, frames=args.frames, split=args.split
            )
        report["results"][str(manifest)] = res
        o = res["ours"]
        print(f"\n{manifest} [{args.split}] ({ours.network})")
        print(
            f"{'reader':20} {'n':>5} {'exact':>7} {'cer':>7} {'ms p50':>8} {'ms p95':>8}  exact ratio (ours/x)  speed ratio (x/ours)"
        )
        for name, r in res.items():
            if not r.get("n"):
                continue
            print(
                f"{name:20} {r['n']:5d} {r['exact']:7.3f} {r['cer']:7.3f} {r['ms_p50']:8.1f} "
                f"{r['ms_p95']:8.1f}  {_ratio(o['exact'], r['exact']):>20}  {_ratio(r['ms_p50'], o['ms_p50']):>20}"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
