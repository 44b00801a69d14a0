"""A lane node's store: commit straight through when storage answers, else spool and replay."""

from __future__ import annotations

import logging
import threading
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

    With `background=True` (lane nodes) `store` only seals the crossing and writes it to the
    spool (fsync'd: durable before it returns), and a forwarder thread commits the spool to
    storage: the lane's analysis never waits on the network, so a storage server that hangs
    (S3 frozen, a slow primary) cannot stall the cameras and make vehicles go unseen.
    `spooled` then counts crossings written while storage was down or a backlog waited.
    """

    def __init__(
        self,
        *,
        sealer: CrossingSealer,
        spool: Spool,
        connect: Callable[[], Archive],
        retry_s: float = 2.0,
        metrics: NodeMetrics | None = None,
        background: bool = False,
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
        self.rejected = 0  # spooled crossings storage refused, set aside in spool/rejected/
        self.background = background
        self._connecting = threading.RLock()  # one connection attempt or teardown at a time
        self._draining = threading.Lock()  # one drainer at a time: order is kept
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._forward, name="forwarder", daemon=True)
            self._thread.start()

    def _forward(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_s)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # never let the forwarder die: the spool keeps what it holds
                log.exception("forwarding the spool failed; retrying")
                self._stop.wait(self.retry_s)

    def _reachable(self) -> Archive | None:
        if self.archive is not None:
            return self.archive
        with self._connecting:
            if self.archive is not None or time.monotonic() < self._next_try:
                return self.archive
            try:
                self.archive = self.connect()
            except UNAVAILABLE as err:
                self._down(err)
            return self.archive

    def _down(self, err: Exception) -> None:
        with self._connecting:
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
        with self._draining:
            return self._drain()

    def _drain(self) -> int:
        if not len(self.spool):
            return 0
        archive = self._reachable()
        if archive is None:
            return 0
        try:
            n = self.spool.drain(archive.commit)
        except UNAVAILABLE as err:
            self._down(err)
            return 0
        except Exception as err:  # refused for what it holds: set aside, the rest goes on
            moved = self.spool.quarantine_first(f"{type(err).__name__}: {err}")
            self.rejected += 1
            log.error(
                "a spooled crossing was refused by storage (%s: %s); kept in %s for an "
                "operator, the spool goes on",
                type(err).__name__,
                err,
                moved,
            )
            self._wake.set()
            return 0
        self.replayed += n
        self._gauge()
        if n:
            log.info("replayed %d spooled crossing(s)", n)
        return n

    def store(self, c: Crossing) -> bool:
        sealed = self.sealer.seal(c)
        if self.background:
            if self.archive is None or len(self.spool):
                self.spooled += 1
            self.spool.put(sealed)
            self._gauge()
            self._wake.set()
            return True
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
        self._halt()
        deadline = time.monotonic() + timeout_s
        while len(self.spool) and time.monotonic() < deadline:
            self._next_try = 0.0
            if not self.drain():
                time.sleep(min(self.retry_s, max(0.0, deadline - time.monotonic())))
        return len(self.spool)

    def _halt(self) -> None:
        """Stop the forwarder thread (what it holds stays in the spool)."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self._halt()
        if self.archive is not None:
            self.archive.close()
            self.archive = None
