"""New crossings, live: PostgreSQL LISTEN on `lanecap_crossings` -> per-lane subscribers.

Notifications carry `kind`: `crossing` (stored, or re-announced after matching) or
`preview` (a vehicle still in the lane, table live_previews; see lanecap.preview).

A background thread holds one connection in LISTEN (the insert trigger of migration 004
notifies at commit with the crossing id and lane) and hands each id to the asyncio queues
of the subscribed lanes; the SSE route turns them into events. When the listening
connection fails it reconnects with backoff; a subscriber that missed events fills the gap
from the database by time (`recent`) on reconnect, so nothing depends on every NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from storage.previews import purge_previews

log = logging.getLogger(__name__)

CHANNEL = "lanecap_crossings"


@dataclass(frozen=True)
class NewCrossing:
    id: uuid.UUID
    lane_id: str
    received: float  # time.monotonic() when the notification arrived
    kind: Literal["crossing", "preview"] = "crossing"


class CrossingFeed:
    def __init__(
        self, *, database_url: str, queue_size: int = 256, preview_ttl_s: float = 600.0
    ) -> None:
        self._url = database_url
        self._preview_ttl_s = preview_ttl_s
        self._next_purge = 0.0
        self._queue_size = queue_size
        self._subs: dict[
            int, tuple[str | None, asyncio.Queue[NewCrossing], asyncio.AbstractEventLoop]
        ] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="crossing-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def subscribe(self, lane_id: str | None) -> tuple[int, asyncio.Queue[NewCrossing]]:
        q: asyncio.Queue[NewCrossing] = asyncio.Queue(maxsize=self._queue_size)
        loop = asyncio.get_running_loop()
        with self._lock:
            token = id(q)
            self._subs[token] = (lane_id, q, loop)
        return token, q

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subs.pop(token, None)

    def _dispatch(self, item: NewCrossing) -> None:
        with self._lock:
            targets = [
                (q, loop) for lane, q, loop in self._subs.values() if lane in (None, item.lane_id)
            ]
        for q, loop in targets:
            loop.call_soon_threadsafe(_offer, q, item)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5, stop_after=64):
                            self._handle(n.payload)
                        self._purge(conn)
            except psycopg.Error as err:
                self.listening.clear()
                log.warning("crossing feed lost its connection (%s); retrying", type(err).__name__)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _purge(self, conn: psycopg.Connection[Any]) -> None:
        """Previews are short-lived: drop those older than the retention setting, each minute."""
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + 60.0
        n = purge_previews(
            conn, older_than=datetime.now(UTC) - timedelta(seconds=self._preview_ttl_s)
        )
        if n:
            log.info("purged %d expired live preview(s)", n)

    def _handle(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            kind: Literal["crossing", "preview"] = (
                "preview" if data.get("kind") == "preview" else "crossing"
            )
            item = NewCrossing(uuid.UUID(data["id"]), str(data["lane"]), time.monotonic(), kind)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed crossing notification")
            return
        self._dispatch(item)


def _offer(q: asyncio.Queue[NewCrossing], item: NewCrossing) -> None:
    if q.full():  # a stalled client: drop its oldest, it refills from the database
        q.get_nowait()
    q.put_nowait(item)
