"""Security errors (part of lanecap's one error tree).

LanecapError
 +-- SecurityError          a security control said no
      +-- KeyFileError          a key file is missing, malformed or readable by others
      +-- AuthenticationFailed  wrong name, password, TOTP code or token (never says which)
      +-- Forbidden             the principal's role lacks the permission
      +-- ReasonRequired        searches and exports need a stated reason
      +-- RateLimited           the user's search volume is over the limit
"""

from __future__ import annotations

from lanecap.errors import LanecapError


class SecurityError(LanecapError):
    pass


class KeyFileError(SecurityError):
    def __init__(self, message: str, *, path: str, hint: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}", hint=hint or "create keys with `lanecap keys init`")


class AuthenticationFailed(SecurityError):
    def __init__(self) -> None:
        super().__init__("authentication failed")


class Forbidden(SecurityError):
    def __init__(self, *, actor: str, permission: str) -> None:
        self.actor = actor
        self.permission = permission
        super().__init__(f"{actor} lacks permission {permission}")


class ReasonRequired(SecurityError):
    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"{action} needs a stated reason (case number or purpose)")


class RateLimited(SecurityError):
    def __init__(self, *, actor: str, count: int, limit: int, window_s: int) -> None:
        self.actor = actor
        self.count = count
        self.limit = limit
        self.window_s = window_s
        super().__init__(
            f"{actor}: {count} searches in the last {window_s} s (limit {limit})",
            hint="wait, or ask a supervisor to review the search volume",
        )
