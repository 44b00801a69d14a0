"""Face checks an officer asks for: 1:1 against a document photo, and history linkage.

Linkage (the same face with another plate; the same plate with another driver)
is function creep unless a site's policy allows it: it is refused unless
`security.history_linkage` is on, needs a reason, and every use is audited. It
works on the key-rotated embeddings and keyed plate hashes: nothing is decrypted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from lanecap.evidence import EvidenceReader
from lanecap.security.errors import SecurityError
from lanecap.security.roles import Permission, Principal, authorize
from recognition.faces.encoder import EncoderKind
from recognition.faces.match import FaceMatcher, Verification
from recognition.types import Box, FaceEncoder, FaceObservation, Image


class FaceOpener(Protocol):
    def face_embedding(
        self, principal: Principal, crossing_id: uuid.UUID, *, reason: str
    ) -> tuple[npt.NDArray[np.float32], float]: ...


class PolicyDisabled(SecurityError):
    hint = "a supervisor may enable it with security.history_linkage = true, where the law allows"


def verify_document(
    reader: FaceOpener,
    principal: Principal,
    crossing_id: uuid.UUID,
    document: Image,
    *,
    encoder: FaceEncoder,
    reason: str,
    matcher: FaceMatcher | None = None,
) -> Verification:
    """match / no_match / unknown between the crossing's driver and a document photo."""
    encoding, quality = reader.face_embedding(principal, crossing_id, reason=reason)
    probe = FaceObservation(Box(0, 0, 1, 1), encoding, quality, None)
    # the stored probe and the document must be encoded, and thresholded, alike
    kind: EncoderKind = "sface" if getattr(encoder, "encoder", "dlib") == "sface" else "dlib"
    chosen = matcher or FaceMatcher(encoder=kind)
    return chosen.verify_document(probe, document, encoder=encoder)


@dataclass(frozen=True)
class Links:
    """Crossing ids only; opening any of them is a separate, audited view."""

    same_face_other_plate: tuple[tuple[uuid.UUID, float], ...]
    same_plate_other_driver: tuple[tuple[uuid.UUID, float], ...]


def history_links(
    reader: EvidenceReader,
    principal: Principal,
    crossing_id: uuid.UUID,
    *,
    enabled: bool,
    reason: str,
    threshold: float,
    limit: int = 20,
) -> Links:
    if not enabled:
        raise PolicyDisabled("history linkage is disabled by this site's policy")
    authorize(principal, Permission.CROSSING_SEARCH)
    if not reason.strip():
        raise SecurityError("history linkage needs a reason")
    reader.limiter.check(principal)
    with reader.pool.connection() as conn:
        faces = conn.execute(
            "SELECT f2.crossing_id, f2.embedding <-> f1.embedding AS d"
            " FROM faces f1 JOIN crossings c1 ON c1.id = f1.crossing_id, faces f2"
            " JOIN crossings c2 ON c2.id = f2.crossing_id"
            " WHERE f1.crossing_id = %(id)s AND f2.crossing_id <> %(id)s"
            " AND f1.seat = 'driver' AND f2.seat = 'driver' AND f2.embedding IS NOT NULL"
            " AND c2.plate_index IS DISTINCT FROM c1.plate_index"
            " ORDER BY d LIMIT %(limit)s",
            {"id": crossing_id, "limit": limit},
        ).fetchall()
        plates = conn.execute(
            "SELECT c2.id, (SELECT min(f2.embedding <-> f1.embedding) FROM faces f1, faces f2"
            "   WHERE f1.crossing_id = c1.id AND f2.crossing_id = c2.id"
            "   AND f1.seat = 'driver' AND f2.seat = 'driver') AS d"
            " FROM crossings c1 JOIN crossings c2"
            "   ON c2.plate_index = c1.plate_index AND c2.id <> c1.id"
            " WHERE c1.id = %(id)s ORDER BY c2.started_at DESC LIMIT %(limit)s",
            {"id": crossing_id, "limit": limit},
        ).fetchall()
    links = Links(
        same_face_other_plate=tuple((r[0], float(r[1])) for r in faces if r[1] <= threshold),
        same_plate_other_driver=tuple(
            (r[0], float(r[1])) for r in plates if r[1] is not None and r[1] > threshold
        ),
    )
    reader.trail.record(
        principal,
        "linkage.search",
        target=f"crossing:{crossing_id}",
        reason=reason.strip(),
        detail={
            "same_face_other_plate": len(links.same_face_other_plate),
            "same_plate_other_driver": len(links.same_plate_other_driver),
        },
    )
    return links
