"""The audit log: append-only, hash-chained, with Ed25519-signed checkpoints.

Each row carries prev_hash (the previous row's hash) and hash = SHA-256(prev_hash ||
audit_row_text(row)), computed by the database's insert trigger under one advisory lock, so
seq is gapless and every writer is chained. The application role may only INSERT (grants),
and a trigger refuses UPDATE, DELETE and TRUNCATE for everyone else too.

`verify` re-renders each row with the same SQL expression, recomputes every hash here,
and checks the signed checkpoints: an edited, deleted or reordered entry is reported with
the first bad seq. Rows cut from the tail after the last checkpoint are invisible to the
database alone: the officer service checkpoints every minute and copies each checkpoint
to a write-once S3 anchor (storage/anchors.py); `verify` given those anchors finds a cut
tail that reached an anchored seq, and reports how many entries are still unsigned.

Free text (target, reason, detail) must never carry plate text or face data: callers log ids.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

GENESIS = bytes(32)
_ACTION = re.compile(r"^[a-z_]+(\.[a-z_]+)*$")
_LOCK = 27453001
SEARCH_ACTIONS = ("search.plate", "search.face")

# Same expression as the audit_row_text() SQL function the insert trigger uses.
_ROW_TEXT = (
    "jsonb_build_array(seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " actor, action, target, reason, detail)::text"
)


@dataclass(frozen=True)
class AuditEvent:
    """who (actor), what (action, target), why (reason), and structured detail (ids, counts)."""

    actor: str
    action: str
    target: str = ""
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ACTION.match(self.action):
            raise ValueError(f"audit action must be dotted lower-case words, got {self.action!r}")
        if not self.actor:
            raise ValueError("audit events need an actor")


def record(pool: ConnectionPool, event: AuditEvent) -> int:
    """Append one event; returns its seq."""
    with pool.connection() as conn:
        return record_in(conn, event)


def record_in(conn: psycopg.Connection[Any], event: AuditEvent) -> int:
    """Append one event on a connection (inside the caller's transaction, if any)."""
    row = conn.execute(
        "INSERT INTO audit_events (actor, action, target, reason, detail)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING seq",
        (event.actor, event.action, event.target, event.reason, Jsonb(dict(event.detail))),
    ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    detail: dict[str, Any]


def entries(
    pool: ConnectionPool, *, since_seq: int = 0, limit: int = 100, actor: str | None = None
) -> list[Entry]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT seq, at, actor, action, target, reason, detail FROM audit_events"
            " WHERE seq > %s AND (%s::text IS NULL OR actor = %s::text) ORDER BY seq LIMIT %s",
            (since_seq, actor, actor, limit),
        ).fetchall()
    return [Entry(*r) for r in rows]


def count_actions(
    pool: ConnectionPool, *, actor: str, actions: tuple[str, ...], since: datetime
) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE actor = %s AND action = ANY(%s) AND at >= %s",
            (actor, list(actions), since),
        ).fetchone()
    return int(row[0]) if row else 0


# Checkpoints -----------------------------------------------------------------------------


def _checkpoint_message(seq: int, digest: bytes, signed_at: datetime) -> bytes:
    at = signed_at.astimezone(UTC).isoformat()
    return f"lanecap-audit-checkpoint-v1\n{seq}\n{digest.hex()}\n{at}".encode("ascii")


def signing_key_id(verify_key: bytes) -> str:
    return hashlib.sha256(verify_key).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: bytes = field(repr=False)
    signed_at: datetime
    key_id: str
    signature: bytes = field(default=b"", repr=False)


def latest_checkpoint(conn: psycopg.Connection[Any]) -> Checkpoint | None:
    row = conn.execute(
        "SELECT seq, hash, signed_at, key_id, signature FROM audit_checkpoints"
        " ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return Checkpoint(int(row[0]), bytes(row[1]), row[2], str(row[3]), bytes(row[4]))


def checkpoint_if_new(pool: ConnectionPool, signing_key: bytes) -> Checkpoint | None:
    """Sign a checkpoint only when entries were added after the newest one."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT max(seq) FROM audit_events), (SELECT max(seq) FROM audit_checkpoints)"
        ).fetchone()
    assert row is not None
    if row[0] is None or (row[1] is not None and int(row[1]) >= int(row[0])):
        return None
    return checkpoint(pool, signing_key)


def checkpoint(pool: ConnectionPool, signing_key: bytes) -> Checkpoint | None:
    """Sign the newest entry's (seq, hash); None when the log is empty."""
    sk = SigningKey(signing_key)
    kid = signing_key_id(bytes(sk.verify_key))
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        row = conn.execute(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        seq, digest = int(row[0]), bytes(row[1])
        signed_at = datetime.now(UTC)
        signature = sk.sign(_checkpoint_message(seq, digest, signed_at)).signature
        conn.execute(
            "INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, signature)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (seq) DO NOTHING",
            (seq, digest, signed_at, kid, signature),
        )
    log.info("audit checkpoint signed at seq %d", seq)
    return Checkpoint(seq=seq, hash=digest, signed_at=signed_at, key_id=kid, signature=signature)


# Verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None = None
    problem: str = ""
    last_seq: int | None = None
    unsigned_tail: int = 0
    anchored_seq: int | None = None


def verify(
    conn: psycopg.Connection[Any],
    *,
    verify_key: bytes | None,
    anchors: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Recompute the chain and check checkpoints (signatures need `verify_key`) and the
    external anchors: every anchored checkpoint must be in the database, unchanged."""
    rows = conn.execute(
        f"SELECT seq, prev_hash, hash, {_ROW_TEXT}, action, detail FROM audit_events ORDER BY seq"
    ).fetchall()
    cps = conn.execute(
        "SELECT seq, hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq"
    ).fetchall()

    def bad(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(
            ok=False,
            entries=len(rows),
            checkpoints=len(cps),
            first_bad_seq=seq,
            problem=problem,
            last_seq=int(rows[-1][0]) if rows else None,
            anchored_seq=anchored,
        )

    anchored = max((a.seq for a in anchors), default=None)
    if not rows:
        if anchors:
            return bad(1, f"the log is empty but checkpoint {anchored} is anchored")
        if cps:
            return bad(int(cps[0][0]), "the log is empty but checkpoints exist")
        return VerifyReport(ok=True, entries=0, checkpoints=0)

    first_seq, first_prev = int(rows[0][0]), bytes(rows[0][1])
    if first_seq != 1 or first_prev != GENESIS:
        purged = any(
            r[4] == "audit.purge"
            and isinstance(r[5], dict)
            and r[5].get("first_kept_seq") == first_seq
            and r[5].get("first_kept_prev_hash") == first_prev.hex()
            for r in rows
        )
        if not purged:
            return bad(
                1 if first_seq > 1 else first_seq,
                f"entries before {first_seq} are missing (no audit.purge anchor)",
            )

    hashes: dict[int, bytes] = {}
    prev_seq, prev_hash = None, first_prev
    for seq_, prev_, hash_, text, _, _ in rows:
        seq, prev, stored = int(seq_), bytes(prev_), bytes(hash_)
        if prev_seq is not None and seq != prev_seq + 1:
            return bad(prev_seq + 1, f"entry {prev_seq + 1} is missing")
        if hashlib.sha256(prev + str(text).encode("utf-8")).digest() != stored:
            return bad(seq, f"entry {seq} was altered or moved (hash mismatch)")
        if prev != prev_hash:
            # This entry is intact, so the one before it was rewritten (and re-hashed).
            return bad(
                prev_seq if prev_seq is not None else seq,
                f"chain broken: entry {seq} does not follow entry {prev_seq}",
            )
        hashes[seq] = stored
        prev_seq, prev_hash = seq, stored

    last_seq = prev_seq
    assert last_seq is not None
    vk = VerifyKey(verify_key) if verify_key is not None else None
    kid = signing_key_id(verify_key) if verify_key is not None else None
    last_cp = 0
    for cp_seq_, cp_hash_, signed_at, cp_kid, signature in cps:
        cp_seq, cp_hash = int(cp_seq_), bytes(cp_hash_)
        if vk is not None:
            if cp_kid != kid:
                return bad(cp_seq, f"checkpoint {cp_seq} signed by an unknown key {cp_kid}")
            try:
                vk.verify(_checkpoint_message(cp_seq, cp_hash, signed_at), bytes(signature))
            except BadSignatureError:
                return bad(cp_seq, f"checkpoint {cp_seq} has a bad signature")
        if cp_seq < first_seq:
            continue  # covers entries purged by retention
        if cp_seq > last_seq:
            return bad(last_seq + 1, f"entries after {last_seq} are missing (checkpoint {cp_seq})")
        if hashes[cp_seq] != cp_hash:
            return bad(cp_seq, f"entry {cp_seq} differs from its signed checkpoint")
        last_cp = cp_seq
    signed = {int(c[0]): bytes(c[1]) for c in cps}
    for a in sorted(anchors, key=lambda a: a.seq):
        if vk is not None:
            try:
                vk.verify(_checkpoint_message(a.seq, a.hash, a.signed_at), a.signature)
            except BadSignatureError:
                return bad(a.seq, f"anchor {a.seq} has a bad signature")
        if a.seq < first_seq:
            continue
        if a.seq > last_seq:
            return bad(
                last_seq + 1,
                f"entries {last_seq + 1}..{a.seq} are missing (anchored checkpoint {a.seq})",
            )
        if hashes[a.seq] != a.hash:
            return bad(a.seq, f"entry {a.seq} differs from its anchored checkpoint")
        if signed.get(a.seq) != a.hash:
            return bad(a.seq, f"anchored checkpoint {a.seq} is missing from the database")
    return VerifyReport(
        ok=True,
        entries=len(rows),
        checkpoints=len(cps),
        last_seq=last_seq,
        unsigned_tail=last_seq - max(last_cp, first_seq - 1),
        anchored_seq=anchored,
    )


# Retention of the audit log itself (schema owner only) ----------------------------------


def purge_before(admin_url: str, *, cutoff: datetime, actor: str) -> int:
    """Delete entries older than cutoff (never the newest), leaving an anchored audit.purge
    entry so `verify` accepts the shorter chain. Needs the schema owner's URL."""
    with psycopg.connect(admin_url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        row = conn.execute(
            "SELECT seq, prev_hash FROM audit_events WHERE at >= %s"
            " OR seq = (SELECT max(seq) FROM audit_events) ORDER BY seq LIMIT 1",
            (cutoff,),
        ).fetchone()
        if row is None:
            return 0
        keep_seq, keep_prev = int(row[0]), bytes(row[1])
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        deleted = conn.execute("DELETE FROM audit_events WHERE seq < %s", (keep_seq,)).rowcount
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        if deleted:
            record_in(
                conn,
                AuditEvent(
                    actor=actor,
                    action="audit.purge",
                    detail={
                        "deleted": deleted,
                        "first_kept_seq": keep_seq,
                        "first_kept_prev_hash": keep_prev.hex(),
                        "cutoff": cutoff.astimezone(UTC).isoformat(),
                    },
                ),
            )
    return deleted


# Volume counts and review listings (lanecap.security.ratelimit) --------------------------


def count_windows(
    pool: ConnectionPool,
    *,
    actor: str,
    windows: Sequence[tuple[Sequence[str], datetime]],
) -> list[int]:
    """For each (actions, since) window, how many of the actor's entries it holds; one query
    (the actor, action, at index), in the order given."""
    from psycopg import sql as psql

    if not windows:
        return []
    parts = [
        psql.SQL("count(*) FILTER (WHERE action = ANY({}) AND at >= {})").format(
            psql.Placeholder(), psql.Placeholder()
        )
        for _ in windows
    ]
    query = psql.SQL(
        "SELECT {} FROM audit_events WHERE actor = %s AND action = ANY(%s) AND at >= %s"
    ).format(psql.SQL(", ").join(parts))
    params: list[Any] = []
    for actions, since in windows:
        params += [list(actions), since]
    every = sorted({a for actions, _ in windows for a in actions})
    params += [actor, every, min(since for _, since in windows)]
    with pool.connection() as conn:
        row = conn.execute(query, params).fetchone()
    return [int(n) for n in row] if row else [0] * len(windows)


def nth_at(
    pool: ConnectionPool, *, actor: str, actions: Sequence[str], since: datetime, offset: int
) -> datetime | None:
    """When the actor's (offset+1)-th oldest entry of `actions` since `since` was written."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT at FROM audit_events WHERE actor = %s AND action = ANY(%s) AND at >= %s"
            " ORDER BY at, seq OFFSET %s LIMIT 1",
            (actor, list(actions), since, max(offset, 0)),
        ).fetchone()
    return None if row is None else row[0]


def entries_of(
    pool: ConnectionPool,
    *,
    actions: Sequence[str],
    since: datetime,
    actor: str | None = None,
    limit: int = 1000,
) -> list[Entry]:
    """Entries of these actions since `since` (oldest first), optionally one actor's."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT seq, at, actor, action, target, reason, detail FROM audit_events"
            " WHERE action = ANY(%s) AND at >= %s AND (%s::text IS NULL OR actor = %s::text)"
            " ORDER BY seq LIMIT %s",
            (list(actions), since, actor, actor, limit),
        ).fetchall()
    return [Entry(*r) for r in rows]
