"""Lane health as lane nodes report it, and blurred calibration previews: contractor data.

Nothing here may hold traveller data: health rows are counters and camera errors (capture
scrubs credentials from them), and a preview is stored only after it was blurred, and then
sealed: a blurred frame can still show what blurring missed, so it is never at rest in clear
(AES-256-GCM under `officer_key(search, "calibration")`, slot `calibration/<lane>/<camera>`;
only the officer service, which blurs and stores the frames lane nodes upload, holds it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from psycopg_pool import ConnectionPool

from storage.crypto import SearchKey, officer_key

CameraStatus = Literal["ok", "degraded", "down", "unknown"]


@dataclass(frozen=True)
class CameraHealth:
    lane_id: str
    camera_id: str
    status: CameraStatus
    fps: float | None
    dropped_frames: int
    detection_rate: float | None
    last_error: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Preview:
    lane_id: str
    camera_id: str
    updated_at: datetime | None
    jpeg: bytes = field(repr=False)
    width: int
    height: int
    blurred: int


def report(pool: ConnectionPool, h: CameraHealth) -> None:
    """Upsert a camera's latest health."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO lane_health (lane_id, camera_id, status, fps, dropped_frames,"
            " detection_rate, last_error) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (lane_id, camera_id) DO UPDATE SET updated_at = now(),"
            " status = EXCLUDED.status, fps = EXCLUDED.fps,"
            " dropped_frames = EXCLUDED.dropped_frames, detection_rate = EXCLUDED.detection_rate,"
            " last_error = EXCLUDED.last_error",
            (
                h.lane_id,
                h.camera_id,
                h.status,
                h.fps,
                h.dropped_frames,
                h.detection_rate,
                h.last_error[:500],
            ),
        )


def lane_health(pool: ConnectionPool, *, lane_id: str | None = None) -> list[CameraHealth]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT lane_id, camera_id, status, fps, dropped_frames, detection_rate, last_error,"
            " updated_at FROM lane_health WHERE (%(l)s::text IS NULL OR lane_id = %(l)s)"
            " ORDER BY lane_id, camera_id",
            {"l": lane_id},
        ).fetchall()
    return [CameraHealth(*r) for r in rows]


def lane_ids(pool: ConnectionPool) -> list[str]:
    """Known lanes (registered by nodes or reporting health)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id FROM lanes UNION SELECT lane_id FROM lane_health ORDER BY 1"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _slot(lane_id: str, camera_id: str) -> str:
    return f"calibration/{lane_id}/{camera_id}"


def save_preview(pool: ConnectionPool, p: Preview, *, search: SearchKey) -> None:
    """Seal and store a calibration frame. The caller must have blurred faces and plates."""
    sealed = officer_key(search, "calibration").encrypt(p.jpeg, slot=_slot(p.lane_id, p.camera_id))
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO calibration_previews (lane_id, camera_id, sealed, width, height, blurred)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (lane_id, camera_id) DO UPDATE SET"
            " updated_at = now(), sealed = EXCLUDED.sealed, width = EXCLUDED.width,"
            " height = EXCLUDED.height, blurred = EXCLUDED.blurred",
            (p.lane_id, p.camera_id, sealed, p.width, p.height, p.blurred),
        )


def preview(
    pool: ConnectionPool, *, lane_id: str, camera_id: str, search: SearchKey
) -> Preview | None:
    """The camera's blurred frame, opened; DecryptionError when it does not open."""
    with pool.connection() as conn:
        r = conn.execute(
            "SELECT lane_id, camera_id, updated_at, sealed, width, height, blurred"
            " FROM calibration_previews WHERE lane_id = %s AND camera_id = %s",
            (lane_id, camera_id),
        ).fetchone()
    if r is None:
        return None
    jpeg = officer_key(search, "calibration").decrypt(bytes(r[3]), slot=_slot(r[0], r[1]))
    return Preview(r[0], r[1], r[2], jpeg, int(r[4]), int(r[5]), int(r[6]))


def previews(pool: ConnectionPool) -> list[tuple[str, str]]:
    """(lane, camera) of every stored preview."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT lane_id, camera_id FROM calibration_previews ORDER BY 1, 2"
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]
