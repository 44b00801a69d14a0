"""Errors lanecap reports to people.

LanecapError
 +-- ConfigError        the settings file or environment is wrong
 +-- ServiceError       an embedded or external service cannot be started or reached
 +-- PipelineError      a lane cannot run (no cameras, no models)
"""

from __future__ import annotations


class LanecapError(Exception):
    """Base of lanecap's own errors; `hint` says what to do."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint or self.hint


class ConfigError(LanecapError):
    """Every problem found, one line each, prefixed by the field's path."""

    hint = "fix the fields named above; `lanecap check-config FILE` re-checks"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ServiceError(LanecapError):
    def __init__(self, message: str, *, service: str, hint: str = "") -> None:
        self.service = service
        super().__init__(f"{service}: {message}", hint=hint)


class PipelineError(LanecapError):
    def __init__(self, message: str, *, lane: str | None = None, hint: str = "") -> None:
        self.lane = lane
        super().__init__(message if lane is None else f"lane {lane}: {message}", hint=hint)
