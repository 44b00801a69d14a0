"""`lanecap retention run`: the site's policy applied to the database, S3 and the key store.

The policy comes from `[retention]` in the settings (bounded by the config's limits). A
changed policy is audited as a policy change before it is applied; each run writes its
deletion report (counts and crossing ids, no personal data) to the audit log, and sets
the buckets' lifecycle rules as a second line of defence. Each run also makes the month
partitions ahead (storage.partitions.ensure_partitions), as `serve` does at start and daily.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from lanecap.config import RetentionConfig
from lanecap.security.roles import Permission, Principal, authorize
from lanecap.security.trail import AuditTrail
from storage import audit
from storage.objects import DataClass, ObjectStore
from storage.partitions import ensure_partitions
from storage.previews import purge_previews
from storage.retention import PurgeReport, RetentionPolicy, run_retention
from storage.sessions import purge_sessions

log = logging.getLogger(__name__)

LIFECYCLE_GRACE_DAYS = 30


def policy_of(cfg: RetentionConfig) -> RetentionPolicy:
    return RetentionPolicy(
        plate_reads_days=cfg.plate_reads_days,
        face_crops_days=cfg.face_crops_days,
        alerts_days=cfg.alerts_days,
        audit_days=cfg.audit_days,
    )


def lifecycle_days(policy: RetentionPolicy) -> dict[DataClass, int]:
    """Expiry per bucket: the longest retention of what it holds, plus a grace period."""
    plates = max(policy.plate_reads_days, policy.alerts_days) + LIFECYCLE_GRACE_DAYS
    faces = max(policy.face_crops_days, policy.alerts_days) + LIFECYCLE_GRACE_DAYS
    return {"plates": plates, "faces": faces, "frames": plates}


def _last_policy(pool: ConnectionPool) -> dict[str, int] | None:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT detail->'policy' FROM audit_events WHERE action IN"
            " ('retention.run', 'policy.change') AND detail ? 'policy'"
            " ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return dict(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True)
class RetentionRun:
    report: PurgeReport
    audit_seq: int
    audit_deleted: int
    lifecycle: dict[str, int]


def apply_retention(
    pool: ConnectionPool,
    objects: ObjectStore,
    trail: AuditTrail,
    cfg: RetentionConfig,
    *,
    by: Principal,
    admin_url: str | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionRun:
    authorize(by, Permission.RETENTION_RUN)
    now = now or datetime.now(UTC)
    policy = policy_of(cfg)
    before = _last_policy(pool)
    if before is not None and before != policy.as_dict() and not dry_run:
        trail.record(
            by,
            "policy.change",
            target="retention",
            detail={"before": before, "policy": policy.as_dict()},
        )
    if not dry_run:
        ensure_partitions(pool, now=now)
    report = run_retention(pool, objects, policy, now=now, dry_run=dry_run)
    lifecycle: dict[str, int] = {}
    if not dry_run:
        for dc, days in lifecycle_days(policy).items():
            # Only where Object Lock protects held objects from the lifecycle worker.
            if objects.object_lock_enabled(objects.bucket(dc)):
                objects.set_expiry(dc, days=days)
                lifecycle[dc] = days
    previews_deleted = 0
    if not dry_run:
        with pool.connection() as conn:
            previews_deleted = purge_previews(
                conn, older_than=now - timedelta(minutes=cfg.preview_minutes)
            )
        purge_sessions(pool, before=now - timedelta(days=1))
    audit_deleted = 0
    if admin_url is not None and not dry_run:
        audit_deleted = audit.purge_before(
            admin_url, cutoff=now - timedelta(days=policy.audit_days), actor=by.actor
        )
    seq = trail.record(
        by,
        "retention.run",
        target="retention",
        detail={
            **report.as_detail(),
            "audit_deleted": audit_deleted,
            "previews_deleted": previews_deleted,
            "lifecycle_days": lifecycle,
            "policy": policy.as_dict(),
        },
    )
    return RetentionRun(
        report=report, audit_seq=seq, audit_deleted=audit_deleted, lifecycle=lifecycle
    )
