"""Store and forward: a lane node's durable local queue of sealed crossings.

When PostgreSQL or S3 cannot be reached, sealed crossings (ciphertext for the
agency plus search hashes; nothing the node can read back) are written here,
one file each, fsync'd and renamed into place, and replayed in order when
storage returns. Commits are idempotent by crossing id, so a replay after a
crash never duplicates. The spool is bounded: past `warn_ratio` of `max_bytes`
it raises an alarm (log + metric); when full it refuses, loudly.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from lanecap.archive import SealedCrossing, SealedObject
from storage import crossings as repo
from storage.crypto import WrappedKey
from storage.objects import StoredObject

log = logging.getLogger(__name__)

SUFFIX = ".lcs"


class SpoolFull(Exception):
    def __init__(self, directory: Path, used: int, limit: int) -> None:
        super().__init__(
            f"spool {directory} is full ({used} of {limit} bytes): storage has been unreachable "
            "too long; restore PostgreSQL/S3 or raise spool_max_mb"
        )


def _b(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def encode(sealed: SealedCrossing) -> bytes:
    r = sealed.record
    doc = {
        "v": 1,
        "objects": [
            {"data_class": o.data_class, "key": o.key, "blob": _b(o.blob)} for o in sealed.objects
        ],
        "record": {
            "id": str(r.id),
            "lane_id": r.lane_id,
            "started_at": r.started_at.isoformat(),
            "ended_at": r.ended_at.isoformat(),
            "plate_conf": r.plate_conf,
            "plate_region": r.plate_region,
            "plate_flags": list(r.plate_flags),
            "face_status": r.face_status,
            "n_frames": r.n_frames,
            "alert": r.alert,
            "reads": [
                {
                    **asdict(p),
                    "seen_at": p.seen_at.isoformat(),
                    "box": list(p.box),
                    "char_conf": list(p.char_conf),
                }
                for p in r.reads
            ],
            "faces": [
                {
                    "camera_id": f.camera_id,
                    "seen_at": f.seen_at.isoformat(),
                    "box": list(f.box),
                    "quality": f.quality,
                    # None from a lane node (the officer service protects it at ingest)
                    "embedding": None
                    if f.embedding is None
                    else _b(np.asarray(f.embedding, dtype="<f4").tobytes()),
                    "seat": f.seat,
                    "passenger_no": f.passenger_no,
                }
                for f in r.faces
            ],
            "objects": [[kind, asdict(o)] for kind, o in r.objects],
            "sealed": _b(r.sealed),
            "plate_index": _b(r.plate_index),
            "plate_fold_index": _b(r.plate_fold_index),
            "keys": [
                {"purpose": k.purpose, "key_id": k.key_id, "wrapped": _b(k.wrapped)} for k in r.keys
            ],
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def decode(data: bytes) -> SealedCrossing:
    doc: dict[str, Any] = json.loads(data)
    if doc.get("v") != 1:
        raise ValueError(f"unknown spool format {doc.get('v')!r}")
    r = doc["record"]
    record = repo.CrossingRecord(
        id=uuid.UUID(r["id"]),
        lane_id=r["lane_id"],
        started_at=datetime.fromisoformat(r["started_at"]),
        ended_at=datetime.fromisoformat(r["ended_at"]),
        plate_text=None,
        plate_conf=r["plate_conf"],
        plate_region=r["plate_region"],
        plate_flags=tuple(r["plate_flags"]),
        face_status=r["face_status"],
        n_frames=r["n_frames"],
        alert=r["alert"],
        reads=tuple(
            repo.PlateReadRecord(
                camera_id=p["camera_id"],
                role=p["role"],
                seen_at=datetime.fromisoformat(p["seen_at"]),
                box=tuple(p["box"]),
                det_score=p["det_score"],
                text=p["text"],
                confidence=p["confidence"],
                char_conf=tuple(p["char_conf"]),
            )
            for p in r["reads"]
        ),
        faces=tuple(
            repo.FaceRecord(
                camera_id=f["camera_id"],
                seen_at=datetime.fromisoformat(f["seen_at"]),
                box=tuple(f["box"]),
                quality=f["quality"],
                embedding=None
                if f["embedding"] is None
                else np.frombuffer(_unb(f["embedding"]) or b"", dtype="<f4").copy(),
                seat=f.get("seat", "driver"),
                passenger_no=f.get("passenger_no"),
            )
            for f in r["faces"]
        ),
        objects=tuple((kind, StoredObject(**o)) for kind, o in r["objects"]),
        sealed=_unb(r["sealed"]),
        plate_index=_unb(r["plate_index"]),
        plate_fold_index=_unb(r["plate_fold_index"]),
        keys=tuple(
            WrappedKey(k["purpose"], k["key_id"], _unb(k["wrapped"]) or b"") for k in r["keys"]
        ),
    )
    objects = tuple(
        SealedObject(o["data_class"], o["key"], _unb(o["blob"]) or b"") for o in doc["objects"]
    )
    return SealedCrossing(objects, record)


@dataclass
class Spool:
    directory: Path
    max_bytes: int = 2 * 2**30
    warn_ratio: float = 0.8

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()  # a write interrupted by a crash: never renamed, never visible

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("*" + SUFFIX))

    def used_bytes(self) -> int:
        total = 0
        for p in self.files():
            try:
                total += p.stat().st_size
            except FileNotFoundError:  # drained meanwhile by a forwarder thread
                continue
        return total

    def __len__(self) -> int:
        return len(self.files())

    def put(self, sealed: SealedCrossing) -> Path:
        data = encode(sealed)
        with self._lock:  # one writer at a time picks the next sequence number
            return self._write(sealed, data)

    def _write(self, sealed: SealedCrossing, data: bytes) -> Path:
        used = self.used_bytes()
        if used + len(data) > self.max_bytes:
            raise SpoolFull(self.directory, used, self.max_bytes)
        if used + len(data) > self.warn_ratio * self.max_bytes:
            log.error(
                "spool %s is %.0f%% full: storage unreachable",
                self.directory,
                100 * (used + len(data)) / self.max_bytes,
            )
        files = self.files()
        seq = int(files[-1].name.split("-", 1)[0]) + 1 if files else 1
        final = self.directory / f"{seq:012d}-{sealed.record.id}{SUFFIX}"
        tmp = final.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return final

    def quarantine_first(self, reason: str) -> Path | None:
        """Move the oldest file to `rejected/` (with a `.why` beside it) so the rest can go on:
        a file storage refuses for what it holds, not for an outage. Nothing is deleted."""
        files = self.files()
        if not files:
            return None
        bad = self.directory / "rejected"
        bad.mkdir(exist_ok=True, mode=0o700)
        dest = bad / files[0].name
        os.replace(files[0], dest)
        dest.with_suffix(".why").write_text(reason + "\n", encoding="utf-8")
        return dest

    def drain(self, commit: Callable[[SealedCrossing], bool]) -> int:
        """Commit spooled crossings in order; stops at the first failure (raised). Returns how many."""
        done = 0
        for path in self.files():
            commit(decode(path.read_bytes()))
            path.unlink()
            done += 1
        return done
