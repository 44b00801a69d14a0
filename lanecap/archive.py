"""Turns pipeline crossings into stored records: sealed crops to S3 first, then one DB transaction.

Everything personal is encrypted here, on the lane node, before it leaves the process:
a fresh data key per crossing and data class (plates: plate crop and the sealed record with
the plate texts; faces: face crop and embedding), each wrapped to the agency PUBLIC key.
The node cannot read back what it wrote; `lanecap.evidence` opens it on the officer service.
The node holds no search key: the officer service computes the plate's blind indexes and the
key-rotated embedding when it ingests the crossing (`lanecap.ingest`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cv2
import numpy as np

from lanecap.config import LaneConfig, Settings
from lanecap.keys import LaneKeys, lane_keys
from lanecap.pipeline import Crossing
from lanecap.services.lanes import LaneCredentials
from lanecap.services.runtime import Endpoints, object_store, storage_endpoints
from recognition.types import Image
from storage import crossings as repo
from storage.crypto import DataKey, WrappedKey, embedding_bytes
from storage.db import migrate, open_pool
from storage.errors import IntegrityError
from storage.objects import DataClass, StoredObject, object_key

log = logging.getLogger(__name__)


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _jpeg(image: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise ValueError("could not encode crop as JPEG")
    return bytes(buf.tobytes())


@dataclass
class Archive:
    """Where a node stores crossings: one pool and one object store per process."""

    settings: Settings
    endpoints: Endpoints
    keys: LaneKeys | None = None
    # A lane node's own logins: then nothing is migrated or created, and the node can write
    # its lane's crossings but read nothing back. None: the officer service's (tests, tools).
    lane: LaneCredentials | None = None

    def __post_init__(self) -> None:
        if self.keys is None:
            self.keys = lane_keys(self.settings, embedded=bool(self.endpoints.embedded))
        if self.lane is None:
            migrate(self.endpoints.admin_url)
            url, access, secret = (
                self.endpoints.database_url,
                self.endpoints.s3_access_key,
                self.endpoints.s3_secret_key,
            )
        else:
            url, access, secret = (
                self.lane.database_url,
                self.lane.s3_access_key,
                self.lane.s3_secret_key,
            )
        self.pool = open_pool(url, size=self.settings.database.pool_size)
        self.objects = object_store(
            self.settings, self.endpoints, access_key=access, secret_key=secret
        )
        if self.lane is None:
            self.objects.ensure_buckets(object_lock=True)

    def close(self) -> None:
        self.pool.close()

    def register_lane(self, lane: LaneConfig) -> None:
        repo.upsert_lane(
            self.pool,
            lane_id=lane.id,
            site=self.settings.site,
            driving_side=lane.driving_side,
            config=lane.model_dump(mode="json"),
        )

    def commit(self, sealed: SealedCrossing) -> bool:
        """Upload a sealed crossing's objects, then write its rows; False when already stored."""
        if repo.crossing_exists(self.pool, sealed.record.id):
            return False
        for obj in sealed.objects:
            try:
                self.objects.put(
                    obj.data_class,
                    obj.key,
                    obj.blob,
                    content_type="application/octet-stream",
                    check_existing=self.lane is None,
                )
            except IntegrityError:
                # Left by an attempt whose database write never committed: its data key is
                # gone, so the old ciphertext is unreadable and may be replaced.
                self.objects.purge(self.objects.bucket(obj.data_class), obj.key)
                self.objects.put(
                    obj.data_class, obj.key, obj.blob, content_type="application/octet-stream"
                )
        return repo.save_crossing(self.pool, sealed.record)

    def store(self, c: Crossing) -> bool:
        """Seal and store one crossing; False when it was already stored (a replay)."""
        assert self.keys is not None
        return self.commit(
            CrossingSealer(self.keys, bucket_prefix=self.settings.object_store.bucket_prefix).seal(
                c
            )
        )


@contextmanager
def open_archive(settings: Settings) -> Iterator[Archive]:
    """Storage endpoints (embedded ones started if needed) and an Archive, closed on exit."""
    with storage_endpoints(settings) as ep:
        archive = Archive(settings, ep)
        try:
            yield archive
        finally:
            archive.close()


@dataclass(frozen=True)
class SealedObject:
    """An encrypted object, ready to upload: bucket data class, key and ciphertext."""

    data_class: DataClass
    key: str
    blob: bytes = field(repr=False)


@dataclass(frozen=True)
class SealedCrossing:
    """Everything a crossing stores, encrypted for the agency: safe to spool on the lane node."""

    objects: tuple[SealedObject, ...]
    record: repo.CrossingRecord


@dataclass(frozen=True)
class CrossingSealer:
    """Lane-node side: encrypts a crossing with fresh data keys wrapped to the agency's public key.

    Needs no storage: a node whose storage is down can still seal and spool.
    """

    keys: LaneKeys
    bucket_prefix: str

    def _object(
        self, c: Crossing, data_class: DataClass, name: str, key: DataKey, kind: str, data: bytes
    ) -> tuple[SealedObject, StoredObject]:
        okey = object_key(lane_id=c.lane_id, crossing_id=str(c.id), at=_ts(c.started_at), name=name)
        blob = key.encrypt(data, slot=f"{c.id}/{kind}")
        ref = StoredObject(
            f"{self.bucket_prefix}-{data_class}", okey, hashlib.sha256(blob).hexdigest(), len(blob)
        )
        return SealedObject(data_class, okey, blob), ref

    def seal(self, c: Crossing) -> SealedCrossing:
        plates_key = DataKey.generate()
        keys: list[WrappedKey] = [self.keys.sealer.wrap(plates_key, purpose="plates")]
        sealed_objects: list[SealedObject] = []
        objects: list[tuple[str, StoredObject]] = []

        def add(kind: str, pair: tuple[SealedObject, StoredObject]) -> None:
            sealed_objects.append(pair[0])
            objects.append((kind, pair[1]))

        if c.best_plate is not None:
            add(
                "plate_crop",
                self._object(
                    c, "plates", "plate.lce", plates_key, "plate_crop", _jpeg(c.best_plate.crop)
                ),
            )
        faces: tuple[repo.FaceRecord, ...] = ()
        if c.driver is not None:
            faces_key = DataKey.generate()
            keys.append(self.keys.sealer.wrap(faces_key, purpose="faces"))
            f = c.driver.face
            encoding = np.asarray(f.encoding, dtype=np.float32)
            add(
                "face_crop",
                self._object(c, "faces", "face.lce", faces_key, "face_crop", _jpeg(c.driver.crop)),
            )
            add(
                "face_embedding",
                self._object(
                    c,
                    "faces",
                    "embedding.lce",
                    faces_key,
                    "face_embedding",
                    embedding_bytes(encoding),
                ),
            )
            faces = (
                repo.FaceRecord(
                    camera_id=c.driver.camera_id,
                    seen_at=_ts(c.driver.timestamp),
                    box=(f.box.x1, f.box.y1, f.box.x2, f.box.y2),
                    quality=f.quality,
                    embedding=None,
                ),
            )
            # Passengers (only where the site's policy keeps them): sealed exactly like the driver.
            for n, p in enumerate(c.passengers, start=1):
                pe = np.asarray(p.face.encoding, dtype=np.float32)
                crop, emb = f"passenger_crop_{n}", f"passenger_embedding_{n}"
                add(
                    crop,
                    self._object(c, "faces", f"passenger-{n}.lce", faces_key, crop, _jpeg(p.crop)),
                )
                add(
                    emb,
                    self._object(
                        c,
                        "faces",
                        f"passenger-{n}-embedding.lce",
                        faces_key,
                        emb,
                        embedding_bytes(pe),
                    ),
                )
                b = p.face.box
                faces += (
                    repo.FaceRecord(
                        camera_id=p.camera_id,
                        seen_at=_ts(p.timestamp),
                        box=(b.x1, b.y1, b.x2, b.y2),
                        quality=p.face.quality,
                        embedding=None,
                        seat="passenger",
                        passenger_no=n,
                    ),
                )

        reads = tuple(
            repo.PlateReadRecord(
                camera_id=p.camera_id,
                role=p.role,
                seen_at=_ts(p.timestamp),
                box=(
                    p.detection.box.x1,
                    p.detection.box.y1,
                    p.detection.box.x2,
                    p.detection.box.y2,
                ),
                det_score=p.detection.score,
                text=None,
                confidence=p.read.confidence if p.read else None,
                char_conf=p.read.char_confidences if p.read else (),
            )
            for p in c.plates
        )
        sealed = {
            "v": 1,
            "plate_text": c.plate.text if c.plate else None,
            "read_texts": [p.read.text if p.read else None for p in c.plates],
        }
        record = repo.CrossingRecord(
            id=c.id,
            lane_id=c.lane_id,
            started_at=_ts(c.started_at),
            ended_at=_ts(c.ended_at),
            plate_text=None,
            plate_conf=c.plate.confidence if c.plate else None,
            plate_region=None,
            plate_flags=c.plate_flags,
            face_status=c.face_status,
            n_frames=c.n_frames,
            reads=reads,
            faces=faces,
            objects=tuple(objects),
            sealed=plates_key.encrypt(
                json.dumps(sealed, separators=(",", ":")).encode("utf-8"), slot=f"{c.id}/record"
            ),
            keys=tuple(keys),
        )
        return SealedCrossing(tuple(sealed_objects), record)
