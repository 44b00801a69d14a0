"""Officer-side ingest: the search indexes of crossings that lane nodes stored sealed.

Lane nodes hold only the agency public key, so nothing they hold tests a plate or face guess
against the database. Here, where the agency private key and the search key are, each new
crossing's plate is opened to compute its blind indexes (exact and confusable-folded) and each
face's sealed encoding is opened to store its key-rotated form for 1:N search. Matching waits
until a crossing is indexed. One audit entry per pass names the crossings opened.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

from lanecap.config import Settings
from lanecap.security.roles import Principal
from lanecap.security.trail import AuditTrail
from recognition.plates.hotlist import fold
from storage import ingest as repo
from storage.crypto import DecryptionError, KeyProvider, SearchKey, embedding_from_bytes
from storage.objects import ObjectStore

log = logging.getLogger(__name__)
INGEST = Principal(name="ingest", role="officer", kind="system")


@dataclass
class Ingest:
    pool: ConnectionPool = field(repr=False)
    objects: ObjectStore = field(repr=False)
    keys: KeyProvider = field(repr=False)
    search: SearchKey = field(repr=False)
    trail: AuditTrail

    def _plate(self, c: repo.ToIndex) -> str | None:
        wrapped = c.keys.get("plates")
        if c.sealed is None or wrapped is None:
            return None
        record = json.loads(self.keys.unwrap(wrapped).decrypt(c.sealed, slot=f"{c.id}/record"))
        text = record.get("plate_text")
        return str(text) if text else None

    def _faces(self, c: repo.ToIndex) -> dict[int, npt.NDArray[np.float32]]:
        wrapped = c.keys.get("faces")
        if wrapped is None or not c.faces:
            return {}
        key = self.keys.unwrap(wrapped)
        out = {}
        for face_id, kind, bucket, okey in c.faces:
            blob = self.objects.get(bucket, okey)
            encoding = embedding_from_bytes(key.decrypt(blob, slot=f"{c.id}/{kind}"))
            out[face_id] = self.search.protect_embedding(np.asarray(encoding, dtype=np.float32))
        return out

    def index(self, c: repo.ToIndex) -> bool:
        """Open one crossing and store its indexes; False when someone else did."""
        try:
            text = self._plate(c)
            faces = self._faces(c)
        except DecryptionError as err:
            # Its keys were purged, or it was sealed to a key this service lacks: searchable
            # by time only. Counted as indexed so matching does not wait for it forever.
            log.warning("crossing %s could not be opened for indexing: %s", c.id, err)
            text, faces = None, {}
        return repo.set_indexes(
            self.pool,
            c.id,
            plate_index=None if text is None else self.search.plate_index(text),
            fold_index=None if text is None else self.search.plate_index(fold(text)),
            embeddings=faces,
        )

    def run_once(self, *, limit: int = 100) -> int:
        """Index what is pending; returns how many crossings this pass indexed."""
        todo = repo.unindexed(self.pool, limit=limit)
        if not todo:
            return 0
        self.trail.record(
            INGEST,
            "crossing.index",
            reason="search index",
            detail={"crossings": [str(c.id) for c in todo]},
        )
        done = sum(self.index(c) for c in todo)
        log.info("indexed %d crossing(s)", done)
        return done

    def run_all(self, *, batch: int = 100) -> int:
        total = 0
        while True:
            n = self.run_once(limit=batch)
            total += n
            if n < batch:
                return total


def officer_ingest(settings: Settings, pool: ConnectionPool, objects: ObjectStore) -> Ingest:
    """Ingest with this host's agency private keys and search key (KeyFileError if absent)."""
    from lanecap.evidence import audit_trail
    from lanecap.keys import keys_dir, load_keyring, load_search_key

    directory = keys_dir(settings)
    return Ingest(
        pool,
        objects,
        load_keyring(directory),
        load_search_key(directory),
        audit_trail(settings, pool),
    )
