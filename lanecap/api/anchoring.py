"""The officer service's audit clock: sign and anchor a checkpoint every
`security.checkpoint_seconds` when there are new entries, and once more at shutdown."""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from lanecap.api.services import ApiServices
from lanecap.config import Settings
from storage import anchors
from storage.errors import StorageError

log = logging.getLogger(__name__)


def checkpoint_once(svc: ApiServices, settings: Settings) -> None:
    key = svc.trail.signing_key
    if key is None:
        return
    try:
        anchors.checkpoint_and_anchor(
            svc.pool, svc.objects, key, days=settings.security.audit_anchor_days
        )
    except StorageError as err:
        log.warning("audit anchor not written (%s); retried next minute", err)


async def checkpoint_forever(svc: ApiServices, settings: Settings) -> None:
    """Runs until cancelled; the cancel (shutdown) signs and anchors a last checkpoint."""
    if svc.trail.signing_key is None:
        return
    try:
        while True:
            await asyncio.sleep(settings.security.checkpoint_seconds)
            await run_in_threadpool(checkpoint_once, svc, settings)
    finally:
        checkpoint_once(svc, settings)
