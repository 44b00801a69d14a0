"""Read volume per user: a budget of traveller-data reads, with anomaly flags for review.

Every read of traveller data is an audit entry, and the budget counts those entries (so it
holds across processes, channels and restarts, and the counts never leave the agency's own
database). One entry is one read:

    search.plate, search.face, linkage.search   a search (its hits are opened one by one)
    crossing.view                                one crossing opened: a booth row (recent or
                                                 live), a search hit, a detail page, a CLI
                                                 list row
    image.view, preview.view, face.verify        one crop, one live preview, one 1:1 check
    export                                       one crossing exported

The API and the CLI name the same user the same way (`user:<name>`), so both draw on one
budget. Limits (settings.security):

    searches_per_hour        hard: searches refused above it (`search.refused`)
    reads_per_hour           hard: reads refused above it (`read.refused`; HTTP 429 with
                             Retry-After, the CLI exits with the same message)
    flag_searches_per_day    flag `search.volume_flagged`, once a day
    flag_reads_per_day       flag `read.volume_flagged`, once a day
    flag_reads_per_minute    flag `read.burst_flagged`, at most once an hour

Flags and refusals are audit entries too; supervisors and auditors list them with
`lanecap audit flags` (`flags` here).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from lanecap.security.errors import RateLimited, SecurityError
from lanecap.security.roles import Principal
from lanecap.security.trail import AuditTrail
from storage import audit
from storage.audit import SEARCH_ACTIONS

log = logging.getLogger(__name__)

SEARCHES: tuple[str, ...] = (*SEARCH_ACTIONS, "linkage.search")
READ_ACTIONS: tuple[str, ...] = (
    *SEARCHES,
    "crossing.view",
    "image.view",
    "preview.view",
    "face.verify",
    "export",
)
SEARCH_FLAG = "search.volume_flagged"
VOLUME_FLAG = "read.volume_flagged"
BURST_FLAG = "read.burst_flagged"
FLAG_ACTIONS: tuple[str, ...] = (SEARCH_FLAG, VOLUME_FLAG, BURST_FLAG)
REFUSAL_ACTIONS: tuple[str, ...] = ("search.refused", "read.refused")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


class BudgetExceeded(RateLimited):
    """Over an hourly limit; `retry_after`: seconds until enough counted entries have aged
    out (the same name and unit as LoginThrottled's)."""

    def __init__(self, *, actor: str, what: str, count: int, limit: int, retry_after: int) -> None:
        SecurityError.__init__(
            self,
            f"{actor}: {count} {what} in the last hour (limit {limit}); retry in {retry_after} s",
            hint="wait, or ask a supervisor to review the read volume (`lanecap audit flags`)",
        )
        self.actor = actor
        self.what = what
        self.count = count
        self.limit = limit
        self.window_s = 3600
        self.retry_after = retry_after


@dataclass(frozen=True)
class ReadBudget:
    """The per-user read budget. `check` admits a search, `admit` any other read; both
    raise BudgetExceeded (after auditing the refusal) and flag unusual volume."""

    pool: ConnectionPool = field(repr=False)
    trail: AuditTrail
    per_hour: int = 120
    """Searches per hour (hard)."""
    flag_per_day: int = 300
    """Searches per day that flag the user."""
    reads_per_hour: int = 600
    flag_reads_per_day: int = 3000
    flag_reads_per_minute: int = 100

    def check(self, principal: Principal, *, now: datetime | None = None) -> None:
        """A search (one read) is about to run."""
        self._admit(principal, reads=1, search=True, now=now or datetime.now(UTC))

    def admit(self, principal: Principal, *, reads: int = 1, now: datetime | None = None) -> None:
        """`reads` reads (crossings opened, crops, previews, exports) are about to happen."""
        self._admit(principal, reads=max(reads, 1), search=False, now=now or datetime.now(UTC))

    def _admit(self, principal: Principal, *, reads: int, search: bool, now: datetime) -> None:
        who = principal.actor
        (
            reads_hour,
            reads_minute,
            reads_day,
            searches_hour,
            searches_day,
            volume_flags,
            burst_flags,
            search_flags,
        ) = audit.count_windows(
            self.pool,
            actor=who,
            windows=[
                (READ_ACTIONS, now - HOUR),
                (READ_ACTIONS, now - MINUTE),
                (READ_ACTIONS, now - DAY),
                (SEARCHES, now - HOUR),
                (SEARCHES, now - DAY),
                ((VOLUME_FLAG,), now - DAY),
                ((BURST_FLAG,), now - HOUR),
                ((SEARCH_FLAG,), now - DAY),
            ],
        )
        if search and searches_hour + 1 > self.per_hour:
            self._refuse(
                principal, "search.refused", "searches", searches_hour, self.per_hour, 1, now
            )
        if reads_hour + reads > self.reads_per_hour:
            self._refuse(
                principal, "read.refused", "reads", reads_hour, self.reads_per_hour, reads, now
            )
        if reads_minute + reads > self.flag_reads_per_minute and not burst_flags:
            self._flag(
                principal,
                BURST_FLAG,
                {
                    "reads_last_minute": reads_minute + reads,
                    "threshold": self.flag_reads_per_minute,
                },
            )
        if reads_day + reads > self.flag_reads_per_day and not volume_flags:
            self._flag(
                principal,
                VOLUME_FLAG,
                {"reads_last_day": reads_day + reads, "threshold": self.flag_reads_per_day},
            )
        if search and searches_day + 1 > self.flag_per_day and not search_flags:
            self._flag(
                principal,
                SEARCH_FLAG,
                {"searches_last_day": searches_day + 1, "threshold": self.flag_per_day},
            )

    def _refuse(
        self,
        principal: Principal,
        action: str,
        what: str,
        count: int,
        limit: int,
        asked: int,
        now: datetime,
    ) -> None:
        # Room for `asked` more once the (count + asked - limit)-th oldest entry ages out.
        actions = SEARCHES if action == "search.refused" else READ_ACTIONS
        oldest = audit.nth_at(
            self.pool,
            actor=principal.actor,
            actions=actions,
            since=now - HOUR,
            offset=count + asked - limit - 1,
        )
        wait = (oldest + HOUR - now).total_seconds() if oldest is not None else HOUR.total_seconds()
        retry = max(1, math.ceil(wait))
        self.trail.record(
            principal,
            action,
            target=principal.actor,
            detail={
                f"{what}_last_hour": count,
                "asked": asked,
                "limit": limit,
                "retry_after_s": retry,
            },
        )
        log.warning("%s refused for %s: hourly limit reached", what, principal.actor)
        raise BudgetExceeded(
            actor=principal.actor, what=what, count=count, limit=limit, retry_after=retry
        )

    def _flag(self, principal: Principal, action: str, detail: dict[str, int]) -> None:
        self.trail.record(principal, action, target=principal.actor, detail=detail)
        log.warning("unusual read volume flagged for %s (%s)", principal.actor, action)


SearchLimiter = ReadBudget
"""The name the services and tests built it by before reads were counted too."""


def flags(
    pool: ConnectionPool,
    *,
    since: datetime,
    actor: str | None = None,
    with_refusals: bool = True,
    limit: int = 1000,
) -> list[audit.Entry]:
    """Volume and burst flags (and refusals) since `since`, oldest first, for review."""
    actions = FLAG_ACTIONS + (REFUSAL_ACTIONS if with_refusals else ())
    return audit.entries_of(pool, actions=actions, since=since, actor=actor, limit=limit)
