"""The API's errors and its one error body.

LanecapError (lanecap.errors)
 +-- ApiError            a request the API refuses, with an HTTP status
      +-- NotFound           no such crossing, lane, list entry or preview
      +-- BadRequest         well-formed but unusable input (bad CSV row, bad image)
      +-- CsrfRejected       a cookie-authenticated write without the CSRF header

Every error leaves the API as `{"error": {"code", "message", "hint", "request_id"}}`
(`ErrorBody`), mapped from our exceptions in `install_handlers`.
"""

from __future__ import annotations

from lanecap.errors import LanecapError


class ApiError(LanecapError):
    status = 400
    code = "bad_request"


class NotFound(ApiError):
    status = 404
    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class CsrfRejected(ApiError):
    status = 403
    code = "csrf"

    def __init__(self) -> None:
        super().__init__(
            "missing or wrong CSRF token", hint="send the X-CSRF-Token header the page gave you"
        )
