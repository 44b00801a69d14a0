"""A lane node's store: commit straight through when storage answers, else spool and replay."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg
import psycopg_pool

from lanecap.archive import Archive, CrossingSealer
from lanecap.metrics import NodeMetrics
from lanecap.pipeline import Crossing
from lanecap.spool import Spool
from storage.errors import StoreUnavailable
from storage.previews import PreviewRecord, save_preview

log = logging.getLogger(__name__)

UNAVAILABLE: tuple[type[Exception], ...] = (
    StoreUnavailable,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)


class StoreAndForward:
    """`store(crossing)` never loses a sealed crossing to a storage outage.

    Order is kept: while anything is spooled, new crossings are spooled behind it.
    Reconnection is tried at most every `retry_s` seconds.
    """

    def __init__(
        self,
        *,
        sealer: CrossingSealer,
        spool: Spool,
        connect: Callable[[], Archive],
        retry_s: float = 2.0,
        metrics: NodeMetrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.sealer = sealer
        self.spool = spool
        self.connect = connect
        self.retry_s = retry_s
        self.archive: Archive | None = None
        self._next_try = 0.0
        self.spooled = 0
        self.replayed = 0
        self.outages = 0
        self.previews = 0
        self.previews_dropped = 0

    def _reachable(self) -> Archive | None:
        if self.archive is not None:
            return self.archive
        if time.monotonic() < self._next_try:
            return None
        try:
            self.archive = self.connect()
        except UNAVAILABLE as err:
            self._down(err)
        return self.archive

    def _down(self, err: Exception) -> None:
        if self.archive is not None:
            self.outages += 1
            log.error("storage unreachable, spooling locally: %s", err)
            try:
                self.archive.close()
            except Exception:  # the pool may already be broken
                log.debug("closing the broken archive failed", exc_info=True)
        self.archive = None
        self._next_try = time.monotonic() + self.retry_s

    def drain(self) -> int:
        """Replay what is spooled, in order, while storage answers."""
        archive = self._reachable()
        if archive is None or not len(self.spool):
            return 0
        try:
            n = self.spool.drain(archive.commit)
        except UNAVAILABLE as err:
            self._down(err)
            return 0
        self.replayed += n
        self._gauge()
        if n:
            log.info("replayed %d spooled crossing(s)", n)
        return n

    def store(self, c: Crossing) -> bool:
        sealed = self.sealer.seal(c)
        self.drain()
        archive = self._reachable()
        if archive is not None and not len(self.spool):
            try:
                return archive.commit(sealed)
            except UNAVAILABLE as err:
                self._down(err)
        self.spool.put(sealed)
        self.spooled += 1
        self._gauge()
        return True

    def preview(self, rec: PreviewRecord) -> bool:
        """Publish a live preview while storage answers; never spooled (it would be stale)."""
        archive = self.archive if self.archive is not None else self._reachable()
        if archive is None:
            self.previews_dropped += 1
            return False
        try:
            save_preview(archive.pool, rec)
        except UNAVAILABLE as err:
            self.previews_dropped += 1
            self._down(err)
            return False
        self.previews += 1
        return True

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.spool_files.set(len(self.spool))
            self.metrics.spool_full.set(self.spool.used_bytes() / self.spool.max_bytes)

    def finish(self, *, timeout_s: float) -> int:
        """Try to empty the spool for up to timeout_s; returns how many remain."""
        deadline = time.monotonic() + timeout_s
        while len(self.spool) and time.monotonic() < deadline:
            self._next_try = 0.0
            if not self.drain():
                time.sleep(min(self.retry_s, max(0.0, deadline - time.monotonic())))
        return len(self.spool)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
            self.archive = None
