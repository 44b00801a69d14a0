"""Ingest and keyed plate prefixes for what lane nodes store.

`catch_up` first ingests new crossings (`lanecap.ingest`: blind plate indexes and searchable
face embeddings, which lane nodes cannot compute), then adds keyed prefixes.

Keyed plate prefixes make prefix search of sealed plates work without clear text. Runs in the
officer service (the only holder of the agency private key): each new crossing
is opened, its plate (or newest correction) turned into keyed prefix hashes
(`storage.search.BlindPrefixes`), and stored in plate_prefixes. It opens crossings through the
evidence reader as `system:indexer` (each audited `crossing.view`, reason "plate index").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from lanecap.api.services import ApiServices
from lanecap.api.views import plate_texts
from lanecap.security.roles import Principal
from storage import search as repo

log = logging.getLogger(__name__)
INDEXER = Principal(name="indexer", role="officer", kind="system")
REASON = "plate index"


def index(svc: ApiServices, ids: Sequence[uuid.UUID]) -> int:
    """Index these crossings (sealed ones with a plate); returns how many were indexed."""
    if svc.search_key is None or not svc.sealed_prefixes or not ids:
        return 0
    prefixes = repo.BlindPrefixes.from_search_key(svc.search_key)
    done_before = repo.with_prefixes(svc.pool, ids)  # a match re-announces a crossing
    todo = [i for i in dict.fromkeys(ids) if i not in done_before]
    hits = [h for h in (repo.hit(svc.pool, i) for i in todo) if h is not None and h.sealed]
    done = 0
    for cid, text in plate_texts(svc, INDEXER, hits, reason=REASON).items():
        if text:
            repo.index_prefixes(svc.pool, crossing_id=cid, text=text, prefixes=prefixes)
            done += 1
    return done


def catch_up(svc: ApiServices, ids: Sequence[uuid.UUID] = ()) -> int:
    """Ingest every pending crossing, then add prefixes for `ids`; returns crossings ingested."""
    done = svc.ingest.run_all() if svc.ingest is not None else 0
    index(svc, ids)
    return done


def backfill(svc: ApiServices, *, batch: int = 500) -> int:
    """Index every sealed crossing that has no prefixes yet."""
    total = 0
    while True:
        ids = repo.unindexed_sealed(svc.pool, limit=batch)
        n = index(svc, ids)
        total += n
        if len(ids) < batch or n == 0:
            return total
