"""Security fixtures: a scratch database and buckets per module on the session's real servers,
its own key directory, and crossings built like the lane pipeline builds them."""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lanecap.archive import Archive
from lanecap.config import LaneConfig, Settings
from lanecap.evidence import EvidenceReader, audit_trail
from lanecap.keys import LaneKeys, init_keys, load_keyring, load_sealer, load_search_key
from lanecap.pipeline import Crossing, FaceSighting, PlateSighting
from lanecap.security.ratelimit import SearchLimiter
from lanecap.security.roles import Principal
from lanecap.services.runtime import Endpoints
from recognition.plates.vote import Vote
from recognition.types import Box, FaceObservation, PlateDetection, PlateRead
from tests.conftest import ingest_all

OFFICER = Principal(name="olivia", role="officer")
SUPERVISOR = Principal(name="sam", role="supervisor")
AUDITOR = Principal(name="audrey", role="auditor")
CONTRACTOR = Principal(name="connor", role="contractor")
ADMIN = Principal(name="ada", role="admin")


def _db_url(url: str, dbname: str) -> str:
    return make_conninfo(url, dbname=dbname)


@dataclass
class SecureEnv:
    settings: Settings
    endpoints: Endpoints
    archive: Archive
    keys_dir: Path
    dbname: str

    def reader(self, *, per_hour: int = 1000, flag_per_day: int = 10000) -> EvidenceReader:
        trail = audit_trail(self.settings, self.archive.pool)
        return EvidenceReader(
            pool=self.archive.pool,
            objects=self.archive.objects,
            keys=load_keyring(self.keys_dir),
            search_key=load_search_key(self.keys_dir),
            trail=trail,
            limiter=SearchLimiter(
                pool=self.archive.pool, trail=trail, per_hour=per_hour, flag_per_day=flag_per_day
            ),
        )

    def ingest(self) -> int:
        """What the officer service does after lane nodes store: compute search indexes."""
        return ingest_all(self.archive)

    def lane(self, lane_id: str = "sec-lane") -> str:
        self.archive.register_lane(
            LaneConfig.model_validate(
                {
                    "id": lane_id,
                    "cameras": [{"id": f"{lane_id}-f", "role": "front_plate", "source": "x.mp4"}],
                }
            )
        )
        return lane_id


@pytest.fixture(scope="module")
def secure_env(
    settings: Settings, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureEnv]:
    dbname = "sec_" + secrets.token_hex(4)
    admin_params = conninfo_to_dict(endpoints.admin_url)
    with psycopg.connect(_db_url(endpoints.admin_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(dbname), sql.Identifier(str(admin_params["user"]))
            )
        )
    keys_dir = tmp_path_factory.mktemp("keys") / "officer"
    init_keys(keys_dir)
    s = settings.model_copy(
        update={
            "object_store": settings.object_store.model_copy(
                update={"bucket_prefix": "s" + secrets.token_hex(4)}
            ),
            "keys": settings.keys.model_copy(update={"dir": keys_dir, "auto_create": False}),
        }
    )
    ep = dataclasses.replace(
        endpoints,
        database_url=_db_url(endpoints.database_url, dbname),
        admin_url=_db_url(endpoints.admin_url, dbname),
    )
    lane_keys = LaneKeys(sealer=load_sealer(keys_dir))
    archive = Archive(s, ep, keys=lane_keys)
    yield SecureEnv(settings=s, endpoints=ep, archive=archive, keys_dir=keys_dir, dbname=dbname)
    archive.close()


def _noise(h: int, w: int, seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def make_crossing(
    lane_id: str,
    *,
    plate: str | None,
    started_at: float | None = None,
    with_face: bool = True,
    encoding: np.ndarray | None = None,  # type: ignore[type-arg]
    seed: int = 0,
) -> Crossing:
    """A crossing as LanePipeline makes one: plate reads with crops, a driver face."""
    t0 = time.time() if started_at is None else started_at
    crop = _noise(60, 200, seed)
    sightings = tuple(
        PlateSighting(
            camera_id=f"{lane_id}-f",
            role="front_plate",
            timestamp=t0 + i * 0.2,
            detection=PlateDetection(Box(10, 20, 210, 80), 0.9),
            read=PlateRead(plate, 0.9, (0.9,) * len(plate)) if plate else None,
            crop=crop,
        )
        for i in range(3)
    )
    driver = None
    if with_face:
        enc = (
            np.random.default_rng(seed + 1).normal(size=128).astype(np.float32) * 0.1
            if encoding is None
            else encoding
        )
        driver = FaceSighting(
            camera_id=f"{lane_id}-d",
            timestamp=t0 + 0.3,
            face=FaceObservation(Box(5, 5, 105, 125), enc, 0.8),
            crop=_noise(120, 100, seed + 2),
        )
    return Crossing(
        id=uuid.uuid4(),
        lane_id=lane_id,
        started_at=t0,
        ended_at=t0 + 1.0,
        plate=Vote(plate, 0.9, (0.9,) * len(plate), 3) if plate else None,
        plate_flags=() if plate else ("no_plate_read",),
        plates=sightings,
        best_plate=sightings[1],
        driver=driver,
        face_status="captured" if with_face else "no_face_found",
        n_frames=4,
    )
