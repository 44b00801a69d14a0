"""Finding 1 and 2 of the contractor red team: a lane node's own logins read nothing back,
and nothing it holds tests a plate guess against the database.

The attacks are the ones that worked before: with the lane node's database password, add a
supervisor, read password hashes and TOTP secrets, read the audit log (per-user search counts
and reasons), read crossings; with its key directory, compute blind plate indexes and walk the
prefix table one character at a time.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from lanecap.archive import Archive
from lanecap.cli import main
from lanecap.keys import AGENCY_PUBLIC, SEARCH_KEY, LaneKeys, load_sealer, load_search_key
from lanecap.services.lanes import LaneCredentials, lane_role
from lanecap.services.runtime import provision_database_login
from storage.search import BlindPrefixes

from .conftest import OFFICER, SecureEnv, make_crossing

LANE = "role-lane"
OTHER = "role-other"

# What the officer service, users and auditors keep: a lane login must read none of it.
PRIVATE_TABLES = (
    "crossings",
    "plate_reads",
    "faces",
    "objects",
    "crossing_keys",
    "plate_prefixes",
    "users",
    "sessions",
    "api_tokens",
    "audit_events",
    "audit_checkpoints",
    "watchlist",
    "hotlist_index",
    "matches",
    "legal_holds",
    "live_previews",
    "lane_logins",
)


@pytest.fixture(scope="module")
def lane_url(secure_env: SecureEnv) -> str:
    secure_env.lane(LANE)
    secure_env.lane(OTHER)
    return provision_database_login(secure_env.settings, secure_env.endpoints, LANE)


@pytest.fixture(scope="module")
def lane_archive(secure_env: SecureEnv, lane_url: str):  # type: ignore[no-untyped-def]
    """The lane node's archive: its own database login; the module's S3 identity (the S3
    side of least privilege is tests/security/test_security_store.py)."""
    ep = secure_env.endpoints
    creds = LaneCredentials(
        lane_id=LANE,
        database_url=lane_url,
        s3_endpoint=ep.s3_endpoint,
        s3_access_key=ep.s3_access_key,
        s3_secret_key=ep.s3_secret_key,
        s3_secure=ep.s3_secure,
        s3_region=ep.s3_region,
    )
    a = Archive(
        secure_env.settings,
        ep,
        keys=LaneKeys(sealer=load_sealer(secure_env.keys_dir)),
        lane=creds,
    )
    yield a
    a.close()


def _refused(url: str, statement: str, params: tuple[object, ...] = ()) -> str:
    """Run one statement as the lane login; the SQLSTATE it fails with ('' if it worked)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement, params)
        except psycopg.Error as err:
            return err.sqlstate or "?"
    return ""


@pytest.mark.parametrize("table", PRIVATE_TABLES)
def test_a_lane_login_reads_no_private_table(lane_url: str, table: str) -> None:
    assert _refused(lane_url, f"SELECT * FROM {table} LIMIT 1") == "42501"  # insufficient_privilege


def test_a_lane_login_cannot_add_a_user_or_change_anything(
    secure_env: SecureEnv, lane_url: str
) -> None:
    stored = make_crossing(LANE, plate="ROL0001", seed=301)
    assert secure_env.archive.store(stored)
    attacks = [
        (
            "INSERT INTO users (name, role, password_hash, totp_secret)"
            " VALUES ('mallory', 'supervisor', 'x', 'y')",
            (),
        ),
        ("UPDATE crossings SET lane_id = lane_id WHERE id = %s", (stored.id,)),
        ("DELETE FROM crossings WHERE id = %s", (stored.id,)),
        ("DELETE FROM audit_events", ()),
        (
            "INSERT INTO legal_holds (case_number, crossing_id, reason, created_by)"
            " VALUES ('x', %s, 'x', 'x')",
            (stored.id,),
        ),
        ("TRUNCATE lane_health", ()),
        ("CREATE TABLE loot (x text)", ()),
        ("SET ROLE lanecap_app", ()),
    ]
    for statement, params in attacks:
        # 42501 (not a syntax or column error): refused for want of privilege
        assert _refused(lane_url, statement, params) == "42501", statement
    with psycopg.connect(secure_env.endpoints.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE name = 'mallory'").fetchone() == (0,)
        row = conn.execute("SELECT count(*) FROM crossings WHERE id = %s", (stored.id,)).fetchone()
        assert row == (1,)


def test_a_lane_node_stores_its_own_crossings_and_reads_none_back(
    secure_env: SecureEnv, lane_archive: Archive, lane_url: str
) -> None:
    c = make_crossing(LANE, plate="ROL4821", seed=311)
    assert lane_archive.store(c) is True
    assert lane_archive.store(c) is False  # a replay is recognised through a definer function
    with psycopg.connect(lane_url) as conn:
        assert conn.execute("SELECT lanecap_my_lane()").fetchone() == (LANE,)
        # stored, and still the lane cannot read its own row back
        assert conn.execute("SELECT lanecap_crossing_stored(%s)", (c.id,)).fetchone() == (True,)
    assert _refused(lane_url, "SELECT id FROM crossings WHERE id = %s", (c.id,)) == "42501"
    # another lane's crossing: the lane cannot even learn that it exists
    theirs = make_crossing(OTHER, plate="OTH9999", seed=312)
    assert secure_env.archive.store(theirs)
    with psycopg.connect(lane_url) as conn:
        row = conn.execute("SELECT lanecap_crossing_stored(%s)", (theirs.id,)).fetchone()
        assert row == (False,)


def test_a_lane_login_cannot_write_for_another_lane(
    secure_env: SecureEnv, lane_archive: Archive, lane_url: str
) -> None:
    forged = dataclasses.replace(make_crossing(OTHER, plate="FRG0001", seed=321), id=uuid.uuid4())
    with pytest.raises(Exception, match=r"row-level security|permission denied"):
        lane_archive.store(forged)
    cid = uuid.uuid4()
    refused = _refused(
        lane_url,
        "INSERT INTO crossings (id, lane_id, started_at, ended_at, face_status, n_frames)"
        " VALUES (%s, %s, now(), now(), 'no_face_found', 1)",
        (cid, OTHER),
    )
    assert refused == "42501"
    # re-registering someone else's lane is refused by the definer function too
    registered = "SELECT lanecap_register_lane(%s, 'x', 'right', '{}'::jsonb)"
    assert _refused(lane_url, registered, (OTHER,)) == "42501"
    with psycopg.connect(secure_env.endpoints.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM crossings WHERE id = %s", (cid,)).fetchone()
        assert row == (0,)


def test_what_a_lane_stores_carries_no_index_until_the_officer_service_ingests(
    secure_env: SecureEnv, lane_archive: Archive
) -> None:
    c = make_crossing(LANE, plate="IDX7777", seed=331)
    assert lane_archive.store(c)
    with psycopg.connect(secure_env.endpoints.database_url) as conn:
        row = conn.execute(
            "SELECT plate_index, plate_fold_index, indexed_at FROM crossings WHERE id = %s",
            (c.id,),
        ).fetchone()
        assert row == (None, None, None)
        faces = conn.execute(
            "SELECT count(*) FROM faces WHERE crossing_id = %s AND embedding IS NULL", (c.id,)
        ).fetchone()
        assert faces == (1,)
    assert secure_env.ingest() >= 1
    hits = secure_env.reader().search_plate(OFFICER, plate="IDX7777", reason="case R-1")
    assert [h.id for h in hits] == [c.id]
    with psycopg.connect(secure_env.endpoints.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM faces WHERE crossing_id = %s AND embedding IS NOT NULL",
            (c.id,),
        ).fetchone()
        assert row == (1,)


def test_the_exported_lane_directory_holds_nothing_that_tests_a_guess(
    secure_env: SecureEnv, tmp_path: Path
) -> None:
    """Before: search.key in the lane's directory let anyone with the database walk
    plate_prefixes one character at a time (4 demo plates from 538 HMACs in 11 ms)."""
    old = tmp_path / "lane"
    old.mkdir()
    (old / SEARCH_KEY).write_bytes((secure_env.keys_dir / SEARCH_KEY).read_bytes())
    cfg = tmp_path / "officer.toml"
    cfg.write_text(
        f'data_dir = "{secure_env.settings.data_dir}"\n[keys]\ndir = "{secure_env.keys_dir}"\n'
    )
    r = CliRunner().invoke(main, ["-c", str(cfg), "keys", "export-lane", str(old)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in old.iterdir()) == [AGENCY_PUBLIC]
    assert "removed search.key" in r.output
    # The public key seals; it derives no index key (the prefix key comes from search.key).
    with pytest.raises(Exception):  # noqa: B017 - any failure to load is the point
        load_search_key(old)
    officer = BlindPrefixes.from_search_key(load_search_key(secure_env.keys_dir))
    assert officer is not None


def test_lane_logins_are_named_per_lane() -> None:
    assert lane_role("lane-1") != lane_role("lane_1")
    assert len(lane_role("x" * 200)) <= 63
    assert lane_role("Lane 7").startswith("lanecap_lane_lane_7_")
