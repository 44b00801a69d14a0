"""How the API opens sealed crossings: through the security core's `lanecap.evidence`.

`Opener` is the part of `lanecap.evidence.EvidenceReader` the API uses: `view` (plate text
and per-frame reads, audited `crossing.view`) and `image` (a crop, audited `image.view`);
both check the permission and write the audit entry before any data key is opened.

`ReviewSealer` covers what the reader does not (yet) offer: an officer's plate correction is
sealed under the crossing's own plates key (slot `<id>/review/<n>`), so it is protected and
shredded exactly like the read it corrects. Callers audit (`plate.review`, and
`crossing.view` before a correction is shown). Nothing here logs plate text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

from lanecap.evidence import CrossingDetail, Export, ImageKind, PreviewDetail
from lanecap.security.roles import Principal
from storage.crypto import DataKey, KeyProvider
from storage.keystore import get_key


class Opener(Protocol):
    def view(
        self, principal: Principal, crossing_id: uuid.UUID, *, reason: str = ""
    ) -> CrossingDetail: ...

    def image(
        self, principal: Principal, crossing_id: uuid.UUID, kind: ImageKind, *, reason: str = ""
    ) -> bytes: ...

    def face_embedding(
        self, principal: Principal, crossing_id: uuid.UUID, *, reason: str
    ) -> tuple[npt.NDArray[np.float32], float]: ...

    def preview(
        self, principal: Principal, preview_id: uuid.UUID, *, reason: str = ""
    ) -> PreviewDetail | None: ...

    def export(self, principal: Principal, crossing_id: uuid.UUID, *, reason: str) -> Export: ...


class ReviewSealer(Protocol):
    def seal(self, crossing_id: uuid.UUID, number: int, text: str) -> bytes | None:
        """The correction sealed under the crossing's plates key; None without a key."""
        ...

    def open(self, crossing_id: uuid.UUID, number: int, sealed: bytes) -> str | None: ...


@dataclass(frozen=True)
class KeyringReviewSealer:
    pool: ConnectionPool = field(repr=False)
    keys: KeyProvider = field(repr=False)

    def _key(self, crossing_id: uuid.UUID) -> DataKey | None:
        wrapped = get_key(self.pool, crossing_id, "plates")
        return None if wrapped is None else self.keys.unwrap(wrapped)

    def seal(self, crossing_id: uuid.UUID, number: int, text: str) -> bytes | None:
        key = self._key(crossing_id)
        if key is None:
            return None
        return key.encrypt(text.encode("utf-8"), slot=f"{crossing_id}/review/{number}")

    def open(self, crossing_id: uuid.UUID, number: int, sealed: bytes) -> str | None:
        key = self._key(crossing_id)
        if key is None:
            return None
        return key.decrypt(sealed, slot=f"{crossing_id}/review/{number}").decode("utf-8")
