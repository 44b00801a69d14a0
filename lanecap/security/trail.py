"""The audit trail as the services use it: who, what, why, with signed checkpoints.

Only the process holding the audit signing key (the officer/audit service) signs
checkpoints; lane nodes and CLI commands without it still write chained entries.

Every entry's reason goes through `lanecap.security.reasons.check_reason`: a reason with a
plate-like token is refused (PlateInReason) and nothing is written. A caller that acts
before it audits must check the reason first (the API's `need_reason`, the CLI's
`checked_reason` option callback), or the action is done and its entry refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from lanecap.security.reasons import check_reason
from lanecap.security.roles import Principal
from storage import audit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditTrail:
    pool: ConnectionPool = field(repr=False)
    signing_key: bytes | None = field(default=None, repr=False)
    checkpoint_every: int = 100

    def record(
        self,
        principal: Principal | str,
        action: str,
        *,
        target: str = "",
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Append an entry; every `checkpoint_every` entries sign a checkpoint.

        Raises PlateInReason, writing nothing, when the reason holds a plate-like token."""
        check_reason(reason, action=action)
        actor = principal.actor if isinstance(principal, Principal) else principal
        seq = audit.record(
            self.pool,
            audit.AuditEvent(
                actor=actor, action=action, target=target, reason=reason, detail=detail or {}
            ),
        )
        if self.signing_key is not None and seq % self.checkpoint_every == 0:
            audit.checkpoint(self.pool, self.signing_key)
        return seq

    def checkpoint(self) -> audit.Checkpoint | None:
        if self.signing_key is None:
            raise ValueError("this process holds no audit signing key")
        return audit.checkpoint(self.pool, self.signing_key)
