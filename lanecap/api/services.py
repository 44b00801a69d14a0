"""What the API needs, built once per process (`build_services`) or by tests with fakes.

The officer service holds the agency private keys (to open sealed crossings, through
`lanecap.evidence`), the search key (blind plate index, embedding rotation) and the audit
signing key. It ingests what lane nodes store (`lanecap.ingest`: blind indexes and
searchable embeddings, which lane nodes cannot compute). Plate search runs on the sealed store ("blind") when a search key is present,
else on clear plate_text; `sealed_prefixes` turns the keyed-prefix indexer (prefix search
of sealed plates) on or off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from psycopg_pool import ConnectionPool

from lanecap.api.auth import Authenticator, SecurityCoreAuth, Sessions
from lanecap.api.evidence import KeyringReviewSealer, Opener, ReviewSealer
from lanecap.api.live import CrossingFeed
from lanecap.config import Settings
from lanecap.evidence import evidence_reader
from lanecap.ingest import Ingest
from lanecap.matcher import Matcher
from lanecap.security.ratelimit import SearchLimiter
from lanecap.security.throttle import ThrottlePolicy
from lanecap.security.trail import AuditTrail
from lanecap.services.runtime import Endpoints, object_store
from recognition.faces.encoder import EncoderKind
from recognition.faces.match import OperatingPoint
from recognition.types import FaceEncoder
from storage.crypto import SearchKey
from storage.db import migrate, open_pool, open_read_pool
from storage.objects import ObjectStore
from storage.search import PlateStore

log = logging.getLogger(__name__)


@dataclass
class ApiServices:
    pool: ConnectionPool = field(repr=False)
    objects: ObjectStore = field(repr=False)
    trail: AuditTrail
    auth: Authenticator
    sessions: Sessions
    opener: Opener
    reviews: ReviewSealer
    feed: CrossingFeed
    limiter: SearchLimiter
    search_key: SearchKey | None = field(default=None, repr=False)
    face_encoder: FaceEncoder | None = None
    secure_cookies: bool = False
    sealed_prefixes: bool = True
    ingest: Ingest | None = None
    owned: list[Any] = field(default_factory=list, repr=False)
    # A read replica pool (storage.db.ReadPool) when database.read_url is set.
    read_pool: ConnectionPool | None = field(default=None, repr=False)

    @property
    def search_pool(self) -> ConnectionPool:
        """Where searches and the booth's recent list read: the replica, else the primary."""
        return self.read_pool or self.pool

    @cached_property
    def matcher(self) -> Matcher:
        """Watch-list decisions for live previews, at the shipped operating point."""
        kind: EncoderKind = (
            "sface" if getattr(self.face_encoder, "encoder", "dlib") == "sface" else "dlib"
        )
        return Matcher(self.pool, operating_point=OperatingPoint.shipped(kind))

    @property
    def plate_store(self) -> PlateStore:
        return "blind" if self.search_key is not None else "clear"

    def close(self) -> None:
        self.feed.stop()
        for thing in reversed(self.owned):
            thing.close()


def build_services(
    settings: Settings,
    endpoints: Endpoints,
    *,
    secure_cookies: bool = False,
    session_ttl_s: int = 8 * 3600,
    face_encoder: FaceEncoder | None = None,
    load_face_encoder: bool = False,
    sealed_prefixes: bool = True,
) -> ApiServices:
    """Open the pool, object store, the evidence reader (agency private keys, search key,
    audit signing key: KeyFileError when absent) and the live feed for `lanecap serve`."""
    from lanecap.keys import keys_dir, lane_keys, session_secret

    lane_keys(settings, embedded=bool(endpoints.embedded))  # embedded demo: create missing keys
    migrate(endpoints.admin_url)
    pool = open_pool(endpoints.database_url, size=settings.database.pool_size)
    objects = object_store(settings, endpoints)
    try:
        reader = evidence_reader(settings, pool, objects)
    except Exception:
        pool.close()
        raise
    read_pool = None
    if settings.database.read_url:
        read_pool = open_read_pool(
            settings.database.read_url, pool, size=settings.database.pool_size
        )
        reader.read_pool = read_pool
    from lanecap.api.watchlist import seal_clear_entries

    seal_clear_entries(pool, reader.search_key, admin_url=endpoints.admin_url)
    if face_encoder is None and load_face_encoder:
        from recognition.faces.encoder import FaceRecognitionEncoder

        rec = settings.recognition
        face_encoder = FaceRecognitionEncoder(detector=rec.face_detector, encoder=rec.face_encoder)
    return ApiServices(
        pool=pool,
        objects=objects,
        trail=reader.trail,
        auth=SecurityCoreAuth(pool, reader.trail, ThrottlePolicy.from_settings(settings.security)),
        sessions=Sessions(
            secret=session_secret(keys_dir(settings)), ttl_s=session_ttl_s, pool=pool
        ),
        opener=reader,
        reviews=KeyringReviewSealer(pool, reader.keys),
        feed=CrossingFeed(
            database_url=endpoints.database_url,
            preview_ttl_s=settings.retention.preview_minutes * 60.0,
        ),
        limiter=reader.limiter,
        search_key=reader.search_key,
        face_encoder=face_encoder,
        secure_cookies=secure_cookies,
        sealed_prefixes=sealed_prefixes,
        ingest=Ingest(pool, objects, reader.keys, reader.search_key, reader.trail),
        owned=[pool] if read_pool is None else [pool, read_pool],
        read_pool=read_pool,
    )
