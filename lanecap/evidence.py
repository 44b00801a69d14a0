"""The officer service's reader: search, view and export sealed crossings, each one audited.

The only place that decrypts. Every call checks the principal's permission (a refusal
is audited too), requires a stated reason for searches and exports, counts searches
against the user's limit, and writes the audit entry BEFORE any data key is opened:
no entry, no plaintext. Audit entries name crossing ids and kinds, never plate text.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

from lanecap.config import Settings
from lanecap.keys import (
    AUDIT_SIGNING,
    keys_dir,
    load_audit_signing_key,
    load_keyring,
    load_search_key,
)
from lanecap.security.errors import Forbidden, SecurityError
from lanecap.security.ratelimit import SearchLimiter
from lanecap.security.reason_text import require_letters
from lanecap.security.roles import Permission, Principal, can
from lanecap.security.trail import AuditTrail
from recognition.plates.hotlist import fold
from storage import keystore, previews
from storage.crypto import (
    DataKey,
    DecryptionError,
    KeyProvider,
    KeyPurpose,
    SearchKey,
    embedding_from_bytes,
    normalise_plate,
)
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

ImageKind = str
"""plate_crop, face_crop, or passenger_crop_<n> (where a site keeps passengers' faces)."""
IMAGE_KIND = re.compile(r"^(plate_crop|face_crop|passenger_crop_[1-9][0-9]?)$")
_PURPOSE: dict[str, KeyPurpose] = {
    "plate_crop": "plates",
    "record": "plates",
    "face_crop": "faces",
    "face_embedding": "faces",
}


def purpose(kind: str) -> KeyPurpose:
    """The data key (plates or faces) that seals an object kind."""
    if kind.startswith(("passenger_crop_", "passenger_embedding_")):
        return "faces"
    if kind not in _PURPOSE:
        raise SecurityError(f"unknown object kind {kind!r}")
    return _PURPOSE[kind]


@dataclass(frozen=True)
class CrossingHit:
    """A search result: ids and times only; opening it is a separate, audited view."""

    id: uuid.UUID
    lane_id: str
    started_at: datetime
    distance: float | None = None


@dataclass(frozen=True)
class CrossingDetail:
    id: uuid.UUID
    lane_id: str
    started_at: datetime
    ended_at: datetime
    plate_text: str | None = field(repr=False)
    plate_conf: float | None
    read_texts: tuple[str | None, ...] = field(repr=False)
    face_status: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class PreviewDetail:
    """A vehicle still in the lane: its plate vote so far (see lanecap.preview)."""

    id: uuid.UUID
    lane_id: str
    camera_id: str
    first_seen: datetime
    seen_at: datetime
    plate_text: str = field(repr=False)
    plate_conf: float
    n_reads: int
    crop_jpeg: bytes | None = field(repr=False)
    plate_index: bytes | None = field(repr=False)
    plate_fold_index: bytes | None = field(repr=False)
    face_jpeg: bytes | None = field(default=None, repr=False)
    face_embedding: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    face_quality: float | None = None


@dataclass(frozen=True)
class Export:
    """`embedding` is the driver's; `passengers` maps passenger_embedding_<n> to passenger n's
    encoding (only where a site keeps passengers' faces)."""

    detail: CrossingDetail
    images: dict[str, bytes] = field(repr=False)
    embedding: npt.NDArray[np.float32] | None = field(repr=False)
    passengers: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict, repr=False)


def _reason(action: str, reason: str) -> str:
    return require_letters(reason, action=action)


@dataclass
class EvidenceReader:
    pool: ConnectionPool = field(repr=False)
    objects: ObjectStore = field(repr=False)
    keys: KeyProvider = field(repr=False)
    search_key: SearchKey = field(repr=False)
    trail: AuditTrail
    limiter: SearchLimiter
    # Searches read here when set (a replica pool falling back to the primary,
    # storage.db.ReadPool); audit entries and everything else use `pool`.
    read_pool: ConnectionPool | None = field(default=None, repr=False)

    # --- checks -------------------------------------------------------------------------

    def _allow(self, principal: Principal, permission: Permission, target: str) -> None:
        if not can(principal, permission):
            self.trail.record(
                principal,
                "access.denied",
                target=target,
                detail={"permission": permission.value, "role": principal.role},
            )
            raise Forbidden(actor=principal.actor, permission=permission.value)

    def _data_key(self, crossing_id: uuid.UUID, purpose: KeyPurpose) -> DataKey:
        wrapped = keystore.get_key(self.pool, crossing_id, purpose)
        if wrapped is None:
            raise DecryptionError(
                f"no {purpose} key for crossing {crossing_id} (purged)", key=str(crossing_id)
            )
        return self.keys.unwrap(wrapped)

    # --- searches -----------------------------------------------------------------------

    def search_plate(
        self, principal: Principal, *, plate: str, reason: str, limit: int = 50
    ) -> list[CrossingHit]:
        """Exact plate search through the blind index; the audit names a keyed reference."""
        self._allow(principal, Permission.CROSSING_SEARCH, "crossings")
        reason = _reason("search", reason)
        norm = normalise_plate(plate)
        if norm and norm in normalise_plate(reason):
            raise SecurityError("the reason must not contain the plate searched for")
        self.limiter.check(principal)
        index = self.search_key.plate_index(plate)
        with (self.read_pool or self.pool).connection() as conn:
            rows = conn.execute(
                "SELECT id, lane_id, started_at FROM crossings WHERE plate_index = %s"
                " ORDER BY started_at DESC LIMIT %s",
                (index, limit),
            ).fetchall()
        hits = [CrossingHit(id=r[0], lane_id=r[1], started_at=r[2]) for r in rows]
        self.trail.record(
            principal,
            "search.plate",
            target="crossings",
            reason=reason,
            detail={"query_ref": index.hex()[:16], "results": len(hits)},
        )
        return hits

    def search_face(
        self,
        principal: Principal,
        *,
        embedding: npt.ArrayLike,
        reason: str,
        k: int = 10,
        max_distance: float | None = None,
    ) -> list[CrossingHit]:
        """1:N search of a probe embedding (raw model output) against stored faces."""
        self._allow(principal, Permission.CROSSING_SEARCH, "faces")
        reason = _reason("search", reason)
        self.limiter.check(principal)
        probe = self.search_key.protect_embedding(embedding)
        with (self.read_pool or self.pool).connection() as conn:
            rows = conn.execute(
                "SELECT c.id, c.lane_id, c.started_at, f.embedding <-> %s AS d"
                " FROM faces f JOIN crossings c ON c.id = f.crossing_id"
                " WHERE f.embedding IS NOT NULL ORDER BY d LIMIT %s",
                (probe, k),
            ).fetchall()
        hits = [
            CrossingHit(id=r[0], lane_id=r[1], started_at=r[2], distance=float(r[3]))
            for r in rows
            if max_distance is None or float(r[3]) <= max_distance
        ]
        self.trail.record(
            principal,
            "search.face",
            target="faces",
            reason=reason,
            detail={"k": k, "results": len(hits)},
        )
        return hits

    # --- views --------------------------------------------------------------------------

    def _detail(self, crossing_id: uuid.UUID) -> CrossingDetail:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT lane_id, started_at, ended_at, plate_text, plate_conf, face_status, sealed,"
                " (SELECT coalesce(array_agg(kind ORDER BY kind), '{}') FROM objects o"
                "  WHERE o.crossing_id = c.id)"
                " FROM crossings c WHERE id = %s",
                (crossing_id,),
            ).fetchone()
            reads = conn.execute(
                "SELECT text FROM plate_reads WHERE crossing_id = %s ORDER BY id", (crossing_id,)
            ).fetchall()
        if row is None:
            raise SecurityError(f"no crossing {crossing_id}")
        plate_text, read_texts = row[3], tuple(r[0] for r in reads)
        if row[6] is not None:
            record = json.loads(
                self._data_key(crossing_id, "plates").decrypt(
                    bytes(row[6]), slot=f"{crossing_id}/record"
                )
            )
            plate_text, read_texts = record["plate_text"], tuple(record["read_texts"])
        return CrossingDetail(
            id=crossing_id,
            lane_id=row[0],
            started_at=row[1],
            ended_at=row[2],
            plate_text=plate_text,
            plate_conf=row[4],
            read_texts=read_texts,
            face_status=row[5],
            kinds=tuple(row[7]),
        )

    def view(
        self, principal: Principal, crossing_id: uuid.UUID, *, reason: str = ""
    ) -> CrossingDetail:
        """The crossing with its plate text decrypted (audited as crossing.view)."""
        target = f"crossing:{crossing_id}"
        self._allow(principal, Permission.CROSSING_VIEW, target)
        self.limiter.admit(principal)
        self.trail.record(principal, "crossing.view", target=target, reason=reason.strip())
        return self._detail(crossing_id)

    def preview(
        self, principal: Principal, preview_id: uuid.UUID, *, reason: str = ""
    ) -> PreviewDetail | None:
        """A live preview opened for the booth (audited as preview.view); None when purged."""
        target = f"preview:{preview_id}"
        self._allow(principal, Permission.CROSSING_VIEW, target)
        self._allow(principal, Permission.IMAGE_VIEW, target)
        rec = previews.get_preview(self.pool, preview_id)
        if rec is None:
            return None
        self.limiter.admit(principal)
        self.trail.record(principal, "preview.view", target=target, reason=reason.strip())
        data = json.loads(
            self.keys.unwrap(rec.key).decrypt(rec.sealed, slot=previews.preview_slot(preview_id))
        )
        crop = data.get("crop_jpeg")
        face = data.get("face_jpeg")
        text = str(data["plate_text"])
        # Lane nodes hold no search key: the indexes for the hot-list and watch-list checks
        # are computed here (previews from older nodes carry their own).
        encoding = data.get("face_encoding")
        face_embedding = rec.face_embedding
        if face_embedding is None and encoding is not None:
            face_embedding = self.search_key.protect_embedding(
                np.asarray(encoding, dtype=np.float32)
            )
        return PreviewDetail(
            id=rec.id,
            lane_id=rec.lane_id,
            camera_id=rec.camera_id,
            first_seen=rec.first_seen,
            seen_at=rec.seen_at,
            plate_text=text,
            plate_conf=float(data["confidence"]),
            n_reads=int(data.get("n_reads", 0)),
            crop_jpeg=base64.b64decode(crop) if crop else None,
            plate_index=rec.plate_index or self.search_key.plate_index(text),
            plate_fold_index=rec.plate_fold_index or self.search_key.plate_index(fold(text)),
            face_jpeg=base64.b64decode(face) if face else None,
            face_embedding=face_embedding,
            face_quality=rec.face_quality,
        )

    def _object(self, crossing_id: uuid.UUID, kind: str) -> bytes:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT bucket, key FROM objects WHERE crossing_id = %s AND kind = %s",
                (crossing_id, kind),
            ).fetchone()
        if row is None:
            raise SecurityError(f"crossing {crossing_id} has no {kind}")
        blob = self.objects.get(row[0], row[1])
        return self._data_key(crossing_id, purpose(kind)).decrypt(
            blob, slot=f"{crossing_id}/{kind}"
        )

    def image(
        self, principal: Principal, crossing_id: uuid.UUID, kind: ImageKind, *, reason: str = ""
    ) -> bytes:
        """A decrypted JPEG crop (audited as image.view)."""
        if not IMAGE_KIND.match(kind):
            raise SecurityError(
                f"{kind!r} is not an image: plate_crop, face_crop, passenger_crop_N"
            )
        target = f"crossing:{crossing_id}/{kind}"
        self._allow(principal, Permission.IMAGE_VIEW, target)
        self.limiter.admit(principal)
        self.trail.record(principal, "image.view", target=target, reason=reason.strip())
        return self._object(crossing_id, kind)

    def export(self, principal: Principal, crossing_id: uuid.UUID, *, reason: str) -> Export:
        """Everything about one crossing, decrypted, for a case file (reason required)."""
        target = f"crossing:{crossing_id}"
        self._allow(principal, Permission.EXPORT, target)
        reason = _reason("export", reason)
        detail = self._detail_kinds(crossing_id)
        self.limiter.admit(principal)
        self.trail.record(
            principal, "export", target=target, reason=reason, detail={"kinds": list(detail)}
        )
        images = {k: self._object(crossing_id, k) for k in detail if IMAGE_KIND.match(k)}
        emb = (
            embedding_from_bytes(self._object(crossing_id, "face_embedding"))
            if "face_embedding" in detail
            else None
        )
        riders = {
            k: embedding_from_bytes(self._object(crossing_id, k))
            for k in detail
            if k.startswith("passenger_embedding_")
        }
        return Export(
            detail=self._detail(crossing_id), images=images, embedding=emb, passengers=riders
        )

    def face_embedding(
        self, principal: Principal, crossing_id: uuid.UUID, *, reason: str
    ) -> tuple[npt.NDArray[np.float32], float]:
        """The driver's decrypted encoding and its quality, for a 1:1 check (audited)."""
        target = f"crossing:{crossing_id}/face_embedding"
        self._allow(principal, Permission.IMAGE_VIEW, target)
        why = _reason("face.verify", reason)
        self.limiter.admit(principal)
        self.trail.record(principal, "face.verify", target=target, reason=why)
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT max(quality) FROM faces WHERE crossing_id = %s AND seat = 'driver'",
                (crossing_id,),
            ).fetchone()
        if row is None or row[0] is None:
            raise SecurityError(f"crossing {crossing_id} has no driver face")
        emb = embedding_from_bytes(self._object(crossing_id, "face_embedding"))
        return np.asarray(emb, dtype=np.float32), float(row[0])

    def _detail_kinds(self, crossing_id: uuid.UUID) -> tuple[str, ...]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT kind FROM objects WHERE crossing_id = %s ORDER BY kind", (crossing_id,)
            ).fetchall()
        return tuple(r[0] for r in rows)


def evidence_reader(
    settings: Settings, pool: ConnectionPool, objects: ObjectStore
) -> EvidenceReader:
    """The officer service's reader: private keys from the key directory (0600 files)."""
    directory = keys_dir(settings)
    trail = audit_trail(settings, pool)
    return EvidenceReader(
        pool=pool,
        objects=objects,
        keys=load_keyring(directory),
        search_key=load_search_key(directory),
        trail=trail,
        limiter=SearchLimiter(
            pool=pool,
            trail=trail,
            per_hour=settings.security.searches_per_hour,
            flag_per_day=settings.security.flag_searches_per_day,
            reads_per_hour=settings.security.reads_per_hour,
            flag_reads_per_day=settings.security.flag_reads_per_day,
            flag_reads_per_minute=settings.security.flag_reads_per_minute,
        ),
    )


def audit_trail(settings: Settings, pool: ConnectionPool) -> AuditTrail:
    """The trail, signing checkpoints when this host holds the audit signing key."""
    directory = keys_dir(settings)
    signing = load_audit_signing_key(directory) if (directory / AUDIT_SIGNING).exists() else None
    return AuditTrail(
        pool=pool, signing_key=signing, checkpoint_every=settings.security.checkpoint_every
    )
