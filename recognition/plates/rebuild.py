"""Rebuild the real plate set from mirrored GitHub repositories (no network).

Reads every source of `recognition.plates.sources` from its bare git mirror
(`MIRRORS/OWNER+NAME/repo`, made by the tool `fetch github:OWNER/NAME`) at the pinned
commit and writes, under OUT (keep it under var/: images are never committed):

* `train/`, `val/`, `test/`: `manifest.csv` (`file,plate_text,x,y,w,h`, one row per
  plate; empty box for plate crops) and the images at `GROUP/SOURCE/NAME`, GROUP being
  us / eu / br / mixed, so `lanecap eval plates OUT/test/manifest.csv` reports them under
  `per_group`;
* `yolo/images/{train,val}` + `yolo/labels/{train,val}`: the train and val images of
  "train" sources that have boxes (images without plates as negatives), the folder
  form that `lanecap train detector --finetune OUT/yolo` accepts;
* `sources.json`: per source the repository, commit, licence, use and counts.

Splits: "train" sources 80/10/10 by SHA-256 of the photo key (`convert.photo_key`:
Roboflow copies and neighbouring video frames share a key, so they share a split);
"eval-only" sources go to test only. Exact-duplicate images (SHA-256 of the bytes) are
kept once, and Roboflow copies of one photo once; eval-only sources are read first, so
an image they share with a train source stays in test.

    python -m recognition.plates.rebuild --mirrors /work/.mirror --out var/plates-real
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from recognition.plates.convert import (
    RawItem,
    Tree,
    convert,
    image_kind,
    image_size,
    photo_id,
    photo_key,
    yolo_lines,
)
from recognition.plates.sources import SOURCES, Source, by_name

log = logging.getLogger(__name__)

Split3 = Literal["train", "val", "test"]
SPLITS: tuple[Split3, ...] = ("train", "val", "test")
TRAIN_PERCENT, VAL_PERCENT = 80, 10
DEFAULT_MIRRORS = Path(os.environ.get("LANECAP_MIRRORS", "/work/.mirror"))


class RebuildError(Exception):
    """A mirror or commit is missing; `repo` names what to fetch."""

    def __init__(self, message: str, *, repo: str) -> None:
        super().__init__(message)
        self.repo = repo


def split_for(key: str, use: str) -> Split3:
    """Deterministic split of a photo key: 80/10/10 for train sources, test otherwise."""
    if use != "train":
        return "test"
    v = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 100
    if v < TRAIN_PERCENT:
        return "train"
    return "val" if v < TRAIN_PERCENT + VAL_PERCENT else "test"


class GitTree:
    """Files of a bare git repository at one commit, read with `git cat-file --batch`."""

    def __init__(self, git_dir: Path, commit: str, *, repo: str) -> None:
        self.git_dir, self.commit = git_dir, commit
        if not git_dir.is_dir():
            raise RebuildError(
                f"no mirror at {git_dir}: fetch it with the tool `fetch github:{repo}`", repo=repo
            )
        ok = subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
        )
        if ok.returncode != 0:
            raise RebuildError(
                f"{git_dir} lacks commit {commit}: fetch github:{repo} again", repo=repo
            )
        self._proc: subprocess.Popen[bytes] | None = None
        self._cache: dict[str, list[str]] = {}

    def files(self, folder: str) -> list[str]:
        if folder not in self._cache:
            out = subprocess.run(
                ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "-z", "--name-only",
                 self.commit, "--", folder],
                capture_output=True, check=True,
            ).stdout  # fmt: skip
            self._cache[folder] = sorted(p.decode() for p in out.split(b"\0") if p)
        return self._cache[folder]

    def read(self, path: str) -> bytes | None:
        if "\n" in path:
            return None
        if self._proc is None:
            self._proc = subprocess.Popen(
                ["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )  # fmt: skip
        stdin: IO[bytes] | None = self._proc.stdin
        stdout: IO[bytes] | None = self._proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{self.commit}:{path}\n".encode())
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            return None  # missing (or a tree)
        data = stdout.read(int(header[2]))
        stdout.read(1)
        return data

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait()
            self._proc = None


@dataclass
class SourceStats:
    """Counts of one source (what sources.json reports)."""

    listed: int = 0
    not_image: int = 0
    duplicate_bytes: int = 0
    duplicate_photo: int = 0
    no_plates: int = 0
    images: Counter[str] = field(default_factory=Counter)
    plates: Counter[str] = field(default_factory=Counter)
    with_text: Counter[str] = field(default_factory=Counter)
    yolo: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Kept:
    """One image written: where, which split, its plates."""

    source: Source
    item: RawItem
    data: bytes
    split: Split3
    rel: str  # GROUP/SOURCE/NAME, relative to the split folder


def _name(path: str, digest: str, ext: str) -> str:
    stem = PurePosixPath(path).stem
    stem = re.sub(r"\.rf\.[0-9a-f]{8,}$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "img"
    return f"{stem}_{digest[:8]}.{ext}"


class Dedup:
    """Exact duplicates by SHA-256 of the bytes; Roboflow copies by photo key."""

    def __init__(self) -> None:
        self.digests: set[str] = set()
        self.photos: set[str] = set()

    def check(self, digest: str, photo: str | None) -> Literal["new", "bytes", "photo"]:
        if digest in self.digests:
            return "bytes"
        if photo is not None and photo in self.photos:
            return "photo"
        self.digests.add(digest)
        if photo is not None:
            self.photos.add(photo)
        return "new"


def collect(
    sources: tuple[Source, ...], trees: dict[str, Tree]
) -> tuple[list[Kept], dict[str, SourceStats]]:
    """Convert, verify, deduplicate and split every source whose tree is given."""
    kept: list[Kept] = []
    stats: dict[str, SourceStats] = {}
    dedup = Dedup()
    order = sorted(sources, key=lambda s: s.use == "train")  # eval-only first
    for src in order:
        tree = trees.get(src.name)
        if tree is None:
            continue
        st = stats.setdefault(src.name, SourceStats())
        for item in convert(src, tree):
            st.listed += 1
            data = item.data if item.data is not None else tree.read(item.path)
            kind = image_kind(data) if data is not None else None
            if data is None or kind is None:
                st.not_image += 1
                continue
            digest = hashlib.sha256(data).hexdigest()
            key = photo_key(item.path)
            photo = f"rf:{photo_id(item.path)}" if src.roboflow_keep_one else None
            verdict = dedup.check(digest, photo)
            if verdict != "new":
                st.duplicate_bytes += verdict == "bytes"
                st.duplicate_photo += verdict == "photo"
                continue
            split = split_for(f"{src.name}:{key}" if not src.roboflow_keep_one else key, src.use)
            rel = f"{src.group}/{src.name}/{_name(item.path, digest, kind)}"
            kept.append(Kept(source=src, item=item, data=data, split=split, rel=rel))
            if not item.plates:
                st.no_plates += 1
            st.images[split] += 1 if item.plates else 0
            st.plates[split] += len(item.plates)
            st.with_text[split] += sum(1 for p in item.plates if p.text)
    return kept, stats


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def write(out: Path, kept: list[Kept], stats: dict[str, SourceStats]) -> dict[str, Any]:
    """Write the split folders, the YOLO folder and sources.json; returns the summary."""
    for sub in (*SPLITS, "yolo"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    writers: dict[str, Any] = {}
    handles = []
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        fh = (out / split / "manifest.csv").open("w", newline="", encoding="utf-8")
        handles.append(fh)
        w = csv.writer(fh)
        w.writerow(["file", "plate_text", "x", "y", "w", "h"])
        writers[split] = w
    per_group: dict[str, Counter[str]] = {}
    try:
        for k in kept:
            target = out / k.split / k.rel
            boxed = [p for p in k.item.plates if p.box is not None]
            if k.item.plates:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(k.data)
                per_group.setdefault(k.source.group, Counter())[k.split] += 1
                for p in k.item.plates:
                    b = p.box
                    box = ["", "", "", ""] if b is None else [
                        _fmt(b.x1), _fmt(b.y1), _fmt(b.x2 - b.x1), _fmt(b.y2 - b.y1)
                    ]  # fmt: skip
                    writers[k.split].writerow([k.rel, p.text, *box])
            crop = any(p.box is None for p in k.item.plates)
            if k.source.use == "train" and k.split != "test" and not crop:
                _write_yolo(out / "yolo", k, boxed, target if k.item.plates else None)
                stats[k.source.name].yolo[k.split] += 1
    finally:
        for fh in handles:
            fh.close()
    summary = _summary(stats, per_group)
    (out / "sources.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _write_yolo(root: Path, k: Kept, boxed: list[Any], written: Path | None) -> None:
    size = image_size(k.data)
    if size is None:
        return
    w, h = size
    name = f"{k.source.name}__{PurePosixPath(k.rel).name}"
    img = root / "images" / k.split / name
    img.parent.mkdir(parents=True, exist_ok=True)
    if written is not None:
        try:
            os.link(written, img)
        except OSError:
            shutil.copyfile(written, img)
    else:
        img.write_bytes(k.data)
    lab = root / "labels" / k.split / (Path(name).stem + ".txt")
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text(yolo_lines((b.box for b in boxed), w, h))


def _summary(stats: dict[str, SourceStats], per_group: dict[str, Counter[str]]) -> dict[str, Any]:
    table = {s.name: s for s in SOURCES}
    out: dict[str, Any] = {"sources": {}, "per_group": {}}
    for name, st in stats.items():
        s = table[name]
        out["sources"][name] = {
            "repo": s.repo, "commit": s.commit, "paths": list(s.paths),
            "label_format": s.label_format, "group": s.group, "licence": s.licence,
            "use": s.use, "listed": st.listed, "not_image": st.not_image,
            "duplicate_bytes": st.duplicate_bytes, "duplicate_photo": st.duplicate_photo,
            "no_plates": st.no_plates, "images": dict(st.images), "plates": dict(st.plates),
            "plates_with_text": dict(st.with_text), "yolo_images": dict(st.yolo),
        }  # fmt: skip
    for g, c in sorted(per_group.items()):
        out["per_group"][g] = {s: c.get(s, 0) for s in SPLITS}
    return out


def subset_manifest(manifest: Path, *, per_group: int, out_name: str) -> Path:
    """A smaller manifest beside MANIFEST: at most PER_GROUP images per group, taken in
    turn from each source folder of the group in hash order (deterministic)."""
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_file: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    folders: dict[str, dict[str, list[str]]] = {}
    for f in by_file:
        parts = PurePosixPath(f).parts
        folders.setdefault(parts[0], {}).setdefault("/".join(parts[:2]), []).append(f)
    chosen: list[str] = []
    for group in sorted(folders):
        queues = [
            sorted(files, key=lambda f: hashlib.sha256(f.encode()).hexdigest())
            for _, files in sorted(folders[group].items())
        ]
        picked: list[str] = []
        while len(picked) < per_group and any(queues):
            for q in queues:
                if q and len(picked) < per_group:
                    picked.append(q.pop(0))
        chosen.extend(sorted(picked))
    target = manifest.parent / out_name
    with target.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "plate_text", "x", "y", "w", "h"])
        w.writeheader()
        for f in chosen:
            w.writerows(by_file[f])
    return target


def open_trees(
    sources: tuple[Source, ...], mirrors: Path, *, allow_missing: bool
) -> dict[str, Tree]:
    """A GitTree per source; missing mirrors raise (or are skipped with allow_missing)."""
    trees: dict[str, Tree] = {}
    for s in sources:
        try:
            trees[s.name] = GitTree(mirrors / s.mirror_name / "repo", s.commit, repo=s.repo)
        except RebuildError as e:
            if not allow_missing:
                raise
            log.warning("skipping %s: %s", s.name, e)
    return trees


def rebuild(
    *, mirrors: Path, out: Path, names: tuple[str, ...] | None = None, allow_missing: bool = False
) -> dict[str, Any]:
    """Rebuild OUT from the mirrors; returns the sources.json summary."""
    sources = by_name(names)
    trees = open_trees(sources, mirrors, allow_missing=allow_missing)
    try:
        kept, stats = collect(sources, trees)
    finally:
        for t in trees.values():
            if isinstance(t, GitTree):
                t.close()
    out.mkdir(parents=True, exist_ok=True)
    return write(out, kept, stats)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="fetch's mirror root")
    p.add_argument("--out", type=Path, default=Path("var/plates-real"))
    p.add_argument("--source", action="append", default=None, help="only these (repeatable)")
    p.add_argument(
        "--allow-missing", action="store_true", help="skip sources whose mirror is missing"
    )
    p.add_argument(
        "--test-subset",
        type=int,
        default=150,
        help="also write test/manifest_subset.csv with at most this many images per group (0: none)",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        summary = rebuild(
            mirrors=a.mirrors,
            out=a.out,
            names=tuple(a.source) if a.source else None,
            allow_missing=a.allow_missing,
        )
    except RebuildError as e:
        p.error(f"{e} (or pass --allow-missing)")
    if a.test_subset > 0:
        sub = subset_manifest(
            a.out / "test" / "manifest.csv", per_group=a.test_subset, out_name="manifest_subset.csv"
        )
        log.info("wrote %s", sub)
    print(json.dumps(summary["per_group"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
