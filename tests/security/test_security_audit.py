"""The audit log is append-only and tamper-evident: an edited, deleted or reordered entry is
found by `verify`, which names the first bad seq; signed checkpoints catch a cut tail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from lanecap.keys import load_audit_signing_key, load_audit_verify_key
from lanecap.security.trail import AuditTrail
from storage import audit

from .conftest import OFFICER, SecureEnv

_COLS = "seq, at, actor, action, target, reason, detail, prev_hash, hash"


def _verify(env: SecureEnv) -> audit.VerifyReport:
    with psycopg.connect(env.endpoints.database_url) as conn:
        return audit.verify(conn, verify_key=load_audit_verify_key(env.keys_dir))


@pytest.fixture
def chain(secure_env: SecureEnv) -> Iterator[list[int]]:
    """Six entries and a signed checkpoint; afterwards the log is restored exactly."""
    env = secure_env
    trail = AuditTrail(
        pool=env.archive.pool,
        signing_key=load_audit_signing_key(env.keys_dir),
        checkpoint_every=10**6,
    )
    seqs = [
        trail.record(
            OFFICER, "search.plate", target="crossings", reason=f"case K-{i}", detail={"results": i}
        )
        for i in range(6)
    ]
    trail.checkpoint()
    with psycopg.connect(env.endpoints.admin_url) as conn:
        rows = conn.execute(f"SELECT {_COLS} FROM audit_events ORDER BY seq").fetchall()
        cps = conn.execute(
            "SELECT seq, hash, signed_at, key_id, signature FROM audit_checkpoints"
        ).fetchall()
    yield seqs
    with psycopg.connect(env.endpoints.admin_url) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        conn.execute("DELETE FROM audit_events")
        conn.execute("DELETE FROM audit_checkpoints")
        with conn.cursor() as c:
            c.executemany(
                f"INSERT INTO audit_events ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(*r[:6], psycopg.types.json.Jsonb(r[6]), *r[7:]) for r in rows],
            )
            c.executemany("INSERT INTO audit_checkpoints VALUES (%s, %s, %s, %s, %s)", cps)
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")
    assert _verify(env).ok


def _as_admin(env: SecureEnv, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What an insider with the schema owner's password can do: switch the trigger off."""
    with psycopg.connect(env.endpoints.admin_url) as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
        for sql, params in statements:
            conn.execute(sql, params)  # type: ignore[arg-type]
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER")


def test_intact_chain_verifies(secure_env: SecureEnv, chain: list[int]) -> None:
    report = _verify(secure_env)
    assert report.ok, report.problem
    assert report.checkpoints >= 1 and report.last_seq == chain[-1]
    assert report.unsigned_tail == 0


def test_nobody_changes_the_log_while_the_trigger_stands(
    secure_env: SecureEnv, chain: list[int]
) -> None:
    with psycopg.connect(secure_env.endpoints.database_url, autocommit=True) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # grants
            app.execute("UPDATE audit_events SET reason = 'x' WHERE seq = %s", (chain[0],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM audit_events WHERE seq = %s", (chain[0],))
    with psycopg.connect(secure_env.endpoints.admin_url, autocommit=True) as owner:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):  # trigger
            owner.execute("UPDATE audit_events SET reason = 'x' WHERE seq = %s", (chain[0],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("DELETE FROM audit_events WHERE seq = %s", (chain[0],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("TRUNCATE audit_events")
        # A back-dated insert is re-dated and chained by the database, not by the writer.
        row = owner.execute(
            "INSERT INTO audit_events (seq, at, actor, action, prev_hash, hash)"
            " VALUES (1, '2001-01-01', 'x', 'forged', '\\x00', '\\x00') RETURNING seq, at"
        ).fetchone()
    assert row is not None and row[0] == chain[-1] + 1 and row[1].year > 2001
    assert _verify(secure_env).ok


REHASH = (
    "UPDATE audit_events SET hash = sha256(prev_hash || convert_to(audit_row_text("
    "seq, at, actor, action, target, reason, detail), 'UTF8')) WHERE seq = %s"
)


@pytest.mark.parametrize(
    ("tamper", "bad_index"),
    [
        ("edit", 2),
        ("edit_and_rehash", 2),
        ("delete", 3),
        ("delete_first", 0),
        ("reorder", 1),
        ("cut_tail", 5),
        ("forge_checkpoint", 5),
    ],
)
def test_tampering_is_found_with_its_seq(
    secure_env: SecureEnv, chain: list[int], tamper: str, bad_index: int
) -> None:
    s = chain
    first = _verify(secure_env)
    assert first.ok
    steps: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
        "edit": [("UPDATE audit_events SET reason = 'routine' WHERE seq = %s", (s[2],))],
        "edit_and_rehash": [
            ("UPDATE audit_events SET reason = 'routine' WHERE seq = %s", (s[2],)),
            (REHASH, (s[2],)),
        ],
        "delete": [("DELETE FROM audit_events WHERE seq = %s", (s[3],))],
        "delete_first": [("DELETE FROM audit_events WHERE seq <= %s", (s[0],))],
        "reorder": [
            ("UPDATE audit_events SET seq = -1 WHERE seq = %s", (s[1],)),
            ("UPDATE audit_events SET seq = %s WHERE seq = %s", (s[1], s[2])),
            ("UPDATE audit_events SET seq = %s WHERE seq = -1", (s[2],)),
        ],
        "cut_tail": [("DELETE FROM audit_events WHERE seq >= %s", (s[5],))],
        "forge_checkpoint": [
            ("UPDATE audit_checkpoints SET signature = sha512('forged') WHERE seq = %s", (s[5],))
        ],
    }
    _as_admin(secure_env, *steps[tamper])
    report = _verify(secure_env)
    assert not report.ok
    expected = s[bad_index] if tamper != "delete_first" else 1
    assert report.first_bad_seq == expected, report.problem


def test_purged_prefix_is_anchored_and_still_verifies(
    secure_env: SecureEnv, chain: list[int]
) -> None:
    from datetime import UTC, datetime, timedelta

    deleted = audit.purge_before(
        secure_env.endpoints.admin_url,
        cutoff=datetime.now(UTC) + timedelta(days=1),
        actor="system:test",
    )
    assert deleted >= len(chain) - 1
    report = _verify(secure_env)
    assert report.ok, report.problem
    with psycopg.connect(secure_env.endpoints.admin_url) as conn:
        first = conn.execute("SELECT min(seq) FROM audit_events").fetchone()
    assert first is not None and first[0] > 1


def test_upgrade_chains_entries_written_before_the_security_migration(
    secure_env: SecureEnv,
) -> None:
    import secrets as _secrets

    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from storage.db import migrate, migrations

    admin = secure_env.endpoints.admin_url
    dbname = "up_" + _secrets.token_hex(4)
    with psycopg.connect(make_conninfo(admin, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = make_conninfo(admin, dbname=dbname)
    number, name, text = migrations()[0]
    with psycopg.connect(url, autocommit=True) as conn:  # a database at schema version 1
        conn.execute(
            "CREATE TABLE schema_migrations (number integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(text)
        conn.execute("INSERT INTO schema_migrations (number, name) VALUES (%s, %s)", (number, name))
        for i in range(3):
            conn.execute(
                "INSERT INTO audit_events (actor, action, reason) VALUES ('old', 'login', %s)",
                (f"r{i}",),
            )
    assert "002_security.sql" in migrate(url)
    with psycopg.connect(url) as conn:
        report = audit.verify(conn, verify_key=None)
    assert report.ok and report.entries == 3, report.problem
