"""Watch-list matching in the officer service: new crossings against plate and face lists.

Nothing is decrypted. Plates match through keyed hashes: each hot-list entry is
indexed by its exact text, its confusable-folded text and every one-edit variant
of the folded text; the lane node stored the crossing's exact and folded hashes.
Faces match in pgvector on the key-rotated embeddings (distances preserved)
against the calibrated threshold; a face below the quality floor is `unknown`.
Where a site keeps passengers' faces, each passenger is matched the same way (its
row's detail starts "passenger N: "), and a passenger's match raises the crossing's
alert like the driver's: a listed person in the vehicle is the reason for the list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from psycopg_pool import ConnectionPool

from recognition.faces.match import OperatingPoint
from recognition.plates.hotlist import fold, normalise_plate
from storage import watchlist
from storage.crypto import SearchKey

log = logging.getLogger(__name__)

_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FOLDED_ALPHABET = "".join(sorted({fold(c) for c in _CHARS}))


def one_edit_variants(text: str) -> set[str]:
    """Every string one substitution, insertion or deletion away (over the folded alphabet)."""
    out: set[str] = set()
    for i in range(len(text)):
        out.add(text[:i] + text[i + 1 :])
        for c in FOLDED_ALPHABET:
            out.add(text[:i] + c + text[i + 1 :])
    for i in range(len(text) + 1):
        for c in FOLDED_ALPHABET:
            out.add(text[:i] + c + text[i:])
    out.discard(text)
    return {v for v in out if len(v) >= 2}


def plate_index_rows(search: SearchKey, plate: str) -> list[tuple[bytes, watchlist.MatchKind]]:
    """The keyed hashes under which a hot-list plate is found."""
    exact = normalise_plate(plate)
    if len(exact) < 2:
        raise ValueError("a hot-list plate needs at least 2 letters or digits")
    folded = fold(exact)
    rows: list[tuple[bytes, watchlist.MatchKind]] = [
        (search.plate_index(exact), "exact"),
        (search.plate_index(folded), "confusable"),
    ]
    rows += [(search.plate_index(v), "fuzzy") for v in sorted(one_edit_variants(folded))]
    return rows


@dataclass(frozen=True)
class Outcome:
    crossing_id: object
    rows: tuple[watchlist.MatchRow, ...]

    @property
    def alert(self) -> bool:
        return any(r.decision == "match" for r in self.rows)


class Matcher:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        operating_point: OperatingPoint | None = None,
        min_quality: float = 0.5,
    ) -> None:
        self.pool = pool
        self.point = operating_point or OperatingPoint.shipped()
        self.min_quality = min_quality

    def face_row(
        self,
        face: npt.NDArray[np.float32] | None,
        quality: float | None,
        now: datetime,
        who: str = "",
    ) -> watchlist.MatchRow | None:
        """A face (searchable form) against the face watch list: match, no match, or unknown
        when its quality is too low; None without a face or a face watch list."""
        if face is None:
            return None
        nearest = watchlist.nearest_faces(self.pool, face, at=now, k=1)
        if not nearest:
            return None  # no face watch list: nothing to decide
        watch_id, _label, distance = nearest[0]
        if quality is None or quality < self.min_quality:
            return watchlist.MatchRow(None, "face", "unknown", f"{who}face quality too low", None)
        if distance <= self.point.threshold:
            return watchlist.MatchRow(
                watch_id, "face", "match", f"{who}distance <= {self.point.threshold:.2f}", distance
            )
        return watchlist.MatchRow(
            None, "face", "no_match", f"{who}threshold {self.point.threshold:.2f}", distance
        )

    def run_once(self, *, limit: int = 100) -> list[Outcome]:
        now = datetime.now(UTC)
        done = []
        for p in watchlist.pending(self.pool, limit=limit):
            rows = [
                watchlist.MatchRow(watch_id, "plate", "match", kind)
                for watch_id, kind in watchlist.plate_hits(
                    self.pool, plate_index=p.plate_index, fold_index=p.plate_fold_index, at=now
                )
            ]
            faces = [(p.face, p.face_quality, "")]
            faces += [(emb, q, f"passenger {n}: ") for n, q, emb in p.passengers]
            for emb, quality, who in faces:
                row = self.face_row(emb, quality, now, who)
                if row is not None:
                    rows.append(row)
            watchlist.finish_matching(self.pool, p.id, rows)
            done.append(Outcome(p.id, tuple(rows)))
        if done:
            log.info("matched %d crossing(s), %d alert(s)", len(done), sum(o.alert for o in done))
        return done
