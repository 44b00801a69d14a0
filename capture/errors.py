"""The one exception the capture package raises."""

from __future__ import annotations

from capture.urls import scrub_url


class CaptureError(Exception):
    """A source cannot be opened or used.

    The message says what is wrong and what to do about it; `camera_id` and
    `source` (credentials scrubbed) say which source it is about.
    """

    def __init__(
        self, message: str, *, camera_id: str | None = None, source: str | None = None
    ) -> None:
        self.message = scrub_url(message)
        self.camera_id = camera_id
        self.source = scrub_url(source) if source is not None else None
        super().__init__(self.message)

    def __str__(self) -> str:
        where = []
        if self.camera_id is not None:
            where.append(f"camera {self.camera_id!r}")
        if self.source is not None:
            where.append(f"source {self.source!r}")
        return f"{self.message} ({', '.join(where)})" if where else self.message
