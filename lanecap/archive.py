"""Turns pipeline crossings into stored records: crops to S3 first, then one DB transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from lanecap.config import LaneConfig, Settings
from lanecap.pipeline import Crossing
from lanecap.services.runtime import Endpoints
from recognition.types import Image
from storage import crossings as repo
from storage.db import migrate, open_pool
from storage.objects import DataClass, ObjectStore, StoredObject, object_key

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

    def __post_init__(self) -> None:
        migrate(self.endpoints.admin_url)
        self.pool = open_pool(self.endpoints.database_url, size=self.settings.database.pool_size)
        self.objects = ObjectStore(
            endpoint=self.endpoints.s3_endpoint,
            access_key=self.endpoints.s3_access_key,
            secret_key=self.endpoints.s3_secret_key,
            secure=self.endpoints.s3_secure,
            region=self.endpoints.s3_region,
            bucket_prefix=self.settings.object_store.bucket_prefix,
        )
        self.objects.ensure_buckets()

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

    def _put(self, c: Crossing, data_class: DataClass, name: str, image: Image) -> StoredObject:
        key = object_key(lane_id=c.lane_id, crossing_id=str(c.id), at=_ts(c.started_at), name=name)
        return self.objects.put(data_class, key, _jpeg(image), content_type="image/jpeg")

    def store(self, c: Crossing) -> bool:
        """Store one crossing; False when it was already stored (a replay)."""
        objects: list[tuple[str, StoredObject]] = []
        if c.best_plate is not None:
            objects.append(("plate_crop", self._put(c, "plates", "plate.jpg", c.best_plate.crop)))
        if c.driver is not None:
            objects.append(("face_crop", self._put(c, "faces", "face.jpg", c.driver.crop)))
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
                text=p.read.text if p.read else None,
                confidence=p.read.confidence if p.read else None,
                char_conf=p.read.char_confidences if p.read else (),
            )
            for p in c.plates
        )
        faces: tuple[repo.FaceRecord, ...] = ()
        if c.driver is not None:
            f = c.driver.face
            faces = (
                repo.FaceRecord(
                    camera_id=c.driver.camera_id,
                    seen_at=_ts(c.driver.timestamp),
                    box=(f.box.x1, f.box.y1, f.box.x2, f.box.y2),
                    quality=f.quality,
                    embedding=np.asarray(f.encoding, dtype=np.float32),
                ),
            )
        record = repo.CrossingRecord(
            id=c.id,
            lane_id=c.lane_id,
            started_at=_ts(c.started_at),
            ended_at=_ts(c.ended_at),
            plate_text=c.plate.text if c.plate else None,
            plate_conf=c.plate.confidence if c.plate else None,
            plate_region=None,
            plate_flags=c.plate_flags,
            face_status=c.face_status,
            n_frames=c.n_frames,
            reads=reads,
            faces=faces,
            objects=tuple(objects),
        )
        return repo.save_crossing(self.pool, record)
