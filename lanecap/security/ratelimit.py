"""Search volume per user: a hard hourly limit, and a daily volume that flags the user.

Counts come from the audit log itself (every search is an entry), so the limit holds
across processes and restarts, and the counts never leave the agency's own database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from lanecap.security.errors import RateLimited
from lanecap.security.roles import Principal
from lanecap.security.trail import AuditTrail
from storage.audit import SEARCH_ACTIONS, count_actions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchLimiter:
    pool: ConnectionPool = field(repr=False)
    trail: AuditTrail
    per_hour: int = 120
    flag_per_day: int = 300

    def check(self, principal: Principal, *, now: datetime | None = None) -> None:
        """Raise RateLimited (and audit the refusal) when over the hourly limit; flag the user
        once a day when the daily volume passes `flag_per_day`."""
        now = now or datetime.now(UTC)
        hour = count_actions(
            self.pool, actor=principal.actor, actions=SEARCH_ACTIONS, since=now - timedelta(hours=1)
        )
        if hour >= self.per_hour:
            self.trail.record(
                principal,
                "search.refused",
                target=principal.actor,
                detail={"searches_last_hour": hour, "limit": self.per_hour},
            )
            log.warning("search refused for %s: hourly limit reached", principal.actor)
            raise RateLimited(actor=principal.actor, count=hour, limit=self.per_hour, window_s=3600)
        since_day = now - timedelta(days=1)
        day = count_actions(
            self.pool, actor=principal.actor, actions=SEARCH_ACTIONS, since=since_day
        )
        if day + 1 > self.flag_per_day and not count_actions(
            self.pool, actor=principal.actor, actions=("search.volume_flagged",), since=since_day
        ):
            self.trail.record(
                principal,
                "search.volume_flagged",
                target=principal.actor,
                detail={"searches_last_day": day + 1, "threshold": self.flag_per_day},
            )
            log.warning("unusual search volume flagged for %s", principal.actor)


def flagged(pool: ConnectionPool, *, since: datetime) -> list[tuple[str, datetime, int]]:
    """(actor, when, searches that day) of every volume flag since `since`, for review."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT actor, at, (detail->>'searches_last_day')::int FROM audit_events"
            " WHERE action = 'search.volume_flagged' AND at >= %s ORDER BY at",
            (since,),
        ).fetchall()
    return [(str(r[0]), r[1], int(r[2])) for r in rows]
