"""Roles and permissions as code, and the one `authorize(principal, permission)` check.

Least privilege, by role:

    officer     search crossings, view a crossing and its images (each with a reason)
    supervisor  officer + export, watchlist enrolment, legal holds, search-volume review
    auditor     read and verify the audit log; no traveller data, no images
    contractor  lane health and calibration only; never traveller data
    admin       users, tokens, retention policy and runs, key rotation; no traveller data
    lane_node   (API tokens only) write crossings and health; cannot read anything back
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from lanecap.security.errors import Forbidden

Role = Literal["officer", "supervisor", "auditor", "contractor", "admin", "lane_node"]
USER_ROLES: tuple[Role, ...] = ("officer", "supervisor", "auditor", "contractor", "admin")


class Permission(StrEnum):
    CROSSING_WRITE = "crossing.write"
    HEALTH_WRITE = "health.write"
    HEALTH_READ = "health.read"
    CALIBRATION_WRITE = "calibration.write"
    CROSSING_SEARCH = "crossing.search"
    CROSSING_VIEW = "crossing.view"
    IMAGE_VIEW = "image.view"
    EXPORT = "crossing.export"
    WATCHLIST_ENROL = "watchlist.enrol"
    HOLD_MANAGE = "hold.manage"
    SEARCH_VOLUME_REVIEW = "search_volume.review"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    USER_MANAGE = "user.manage"
    TOKEN_MANAGE = "token.manage"
    POLICY_CHANGE = "policy.change"
    RETENTION_RUN = "retention.run"
    KEY_MANAGE = "key.manage"


P = Permission
_OFFICER = frozenset({P.CROSSING_SEARCH, P.CROSSING_VIEW, P.IMAGE_VIEW})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "officer": _OFFICER,
    "supervisor": _OFFICER
    | {P.EXPORT, P.WATCHLIST_ENROL, P.HOLD_MANAGE, P.SEARCH_VOLUME_REVIEW, P.HEALTH_READ},
    "auditor": frozenset({P.AUDIT_READ, P.AUDIT_VERIFY, P.SEARCH_VOLUME_REVIEW}),
    "contractor": frozenset({P.HEALTH_READ, P.CALIBRATION_WRITE}),
    "admin": frozenset(
        {
            P.USER_MANAGE,
            P.TOKEN_MANAGE,
            P.POLICY_CHANGE,
            P.RETENTION_RUN,
            P.KEY_MANAGE,
            P.HEALTH_READ,
            P.AUDIT_VERIFY,
        }
    ),
    "lane_node": frozenset({P.CROSSING_WRITE, P.HEALTH_WRITE}),
}

# Permissions that reveal traveller data: never granted to these roles, whatever the table says.
TRAVELLER_DATA = frozenset({P.CROSSING_SEARCH, P.CROSSING_VIEW, P.IMAGE_VIEW, P.EXPORT})
NO_TRAVELLER_DATA: frozenset[Role] = frozenset({"auditor", "contractor", "admin", "lane_node"})


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user (after password + TOTP) or a lane node (API token)."""

    name: str
    role: Role
    kind: Literal["user", "token", "system"] = "user"
    lane_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"{self.kind}:{self.name}"


def permissions(role: Role) -> frozenset[Permission]:
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    if role in NO_TRAVELLER_DATA:
        granted = granted - TRAVELLER_DATA
    return granted


def can(principal: Principal, permission: Permission) -> bool:
    return permission in permissions(principal.role)


def authorize(principal: Principal, permission: Permission) -> None:
    """Raise Forbidden unless the principal's role grants the permission."""
    if not can(principal, permission):
        raise Forbidden(actor=principal.actor, permission=permission.value)


def authorize_lane(principal: Principal, permission: Permission, lane_id: str) -> None:
    """authorize(), and a lane token may only act for the lane it was issued for."""
    authorize(principal, permission)
    if principal.kind == "token" and principal.lane_id is not None and principal.lane_id != lane_id:
        raise Forbidden(actor=principal.actor, permission=f"{permission.value} on lane {lane_id}")
