"""Export one crossing for a case file: a zip of its record and crops, supervisors only.

POST (the reason travels in the body, never in a URL that proxies log). The export is
audited (`export`, with the reason) before anything is decrypted, and counts as one read of
the supervisor's budget (429 with Retry-After when it is spent). The zip holds
`crossing.json` (plate, per-frame reads, times, face status, who exported it and why), the
JPEG crops, and `SHA256SUMS` so the receiving case system can check nothing changed.
Face encodings (biometric templates) are not exported.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lanecap.api.deps import Exporter, Services
from lanecap.api.errors import NotFound
from lanecap.api.schemas.common import ERROR_RESPONSES
from lanecap.evidence import Export
from lanecap.security.roles import Principal
from storage import search as repo

router = APIRouter(prefix="/api/crossings", tags=["crossings"], responses=ERROR_RESPONSES)


class ExportRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=200, description="Case number or purpose.")


def case_file(export: Export, *, by: Principal, reason: str, at: datetime) -> bytes:
    d = export.detail
    record = {
        "crossing_id": str(d.id),
        "lane_id": d.lane_id,
        "started_at": d.started_at.isoformat(),
        "ended_at": d.ended_at.isoformat(),
        "plate_text": d.plate_text,
        "plate_conf": d.plate_conf,
        "read_texts": list(d.read_texts),
        "face_status": d.face_status,
        "exported_by": by.actor,
        "reason": reason,
        "exported_at": at.isoformat(),
    }
    files = {"crossing.json": json.dumps(record, indent=2).encode("utf-8")}
    files |= {f"{kind}.jpg": data for kind, data in sorted(export.images.items())}
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {name}\n" for name, b in files.items())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("SHA256SUMS", sums)
    return buf.getvalue()


@router.post(
    "/{crossing_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export(
    crossing_id: uuid.UUID, body: ExportRequest, who: Exporter, svc: Services
) -> Response:
    """The crossing as a zip for a case file (audited `export`, reason required)."""
    if await run_in_threadpool(repo.hit, svc.pool, crossing_id) is None:
        raise NotFound(f"crossing {crossing_id}")
    reason = body.reason.strip()
    found = await run_in_threadpool(svc.opener.export, who, crossing_id, reason=reason)
    data = case_file(found, by=who, reason=reason, at=datetime.now(UTC))
    return Response(
        content=data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="crossing-{crossing_id}.zip"',
            "Cache-Control": "no-store",
        },
    )
