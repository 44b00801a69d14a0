"""Least privilege: who may read what, every decryption audited with a reason where needed,
search volume limited and flagged; users with argon2 + TOTP; write-only lane tokens."""

from __future__ import annotations

import time

import numpy as np
import psycopg
import pyotp
import pytest

from lanecap.evidence import EvidenceReader
from lanecap.security import tokens, users
from lanecap.security.errors import (
    AuthenticationFailed,
    Forbidden,
    RateLimited,
    ReasonRequired,
    SecurityError,
)
from lanecap.security.roles import (
    ROLE_PERMISSIONS,
    TRAVELLER_DATA,
    Permission,
    Principal,
    authorize,
    authorize_lane,
    permissions,
)
from lanecap.security.throttle import LoginThrottled, ThrottlePolicy
from lanecap.security.trail import AuditTrail

from .conftest import ADMIN, AUDITOR, CONTRACTOR, OFFICER, SUPERVISOR, SecureEnv, make_crossing

PLATE = "ACC3551"


@pytest.fixture(scope="module")
def stored(secure_env: SecureEnv) -> dict[str, object]:
    lane = secure_env.lane()
    enc = np.random.default_rng(5).normal(size=128).astype(np.float32) * 0.1
    c = make_crossing(lane, plate=PLATE, encoding=enc, seed=31)
    other = make_crossing(lane, plate="OTH1234", seed=41)
    assert secure_env.archive.store(c) and secure_env.archive.store(other)
    assert secure_env.ingest() >= 2
    return {"id": c.id, "other": other.id, "encoding": enc}


def _count(env: SecureEnv, action: str, target: str) -> int:
    with env.archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE action = %s AND target = %s", (action, target)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_roles_table_keeps_traveller_data_from_who_must_not_see_it() -> None:
    for role in ("auditor", "contractor", "admin", "lane_node"):
        assert not permissions(role) & TRAVELLER_DATA, role  # type: ignore[arg-type]
    assert permissions("contractor") == {Permission.HEALTH_READ, Permission.CALIBRATION_WRITE}
    assert Permission.AUDIT_READ in permissions("auditor")
    assert Permission.EXPORT in permissions("supervisor") - permissions("officer")
    assert set(ROLE_PERMISSIONS) == {
        "officer",
        "supervisor",
        "auditor",
        "contractor",
        "admin",
        "lane_node",
    }
    with pytest.raises(Forbidden):
        authorize(CONTRACTOR, Permission.IMAGE_VIEW)


@pytest.mark.parametrize("who", [CONTRACTOR, AUDITOR, ADMIN])
def test_who_may_not_read_a_crop_cannot(
    secure_env: SecureEnv, stored: dict[str, object], who: Principal
) -> None:
    reader = secure_env.reader()
    cid = stored["id"]
    target = f"crossing:{cid}/plate_crop"
    denied = _count(secure_env, "access.denied", target)
    with pytest.raises(Forbidden):
        reader.image(who, cid, "plate_crop", reason="curious")  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        reader.view(who, cid)  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        reader.search_plate(who, plate=PLATE, reason="K-9")
    assert _count(secure_env, "access.denied", target) == denied + 1  # refusals are audited


def test_a_lane_token_writes_but_cannot_read(
    secure_env: SecureEnv, stored: dict[str, object]
) -> None:
    pool = secure_env.archive.pool
    trail = AuditTrail(pool=pool)
    issued = tokens.create_token(pool, trail, by=ADMIN, name="lane-1 node", lane_id="sec-lane")
    node = tokens.verify_token(pool, issued.token)
    assert (node.role, node.kind, node.lane_id) == ("lane_node", "token", "sec-lane")
    authorize_lane(node, Permission.CROSSING_WRITE, "sec-lane")
    with pytest.raises(Forbidden):  # another lane's crossings
        authorize_lane(node, Permission.CROSSING_WRITE, "lane-9")
    with pytest.raises(Forbidden):
        secure_env.reader().image(node, stored["id"], "face_crop", reason="x")  # type: ignore[arg-type]
    with pytest.raises(SecurityError, match="write-only"):
        tokens.create_token(
            pool, trail, by=ADMIN, name="x", lane_id=None, scopes=("crossings:read",)
        )
    # Stored hashed; wrong, revoked or garbled tokens fail alike.
    secret = issued.token.rsplit("_", 1)[1]
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT secret_hash FROM api_tokens WHERE id = %s", (issued.id,)
        ).fetchone()
    assert row is not None and secret.encode() not in bytes(row[0])
    with pytest.raises(AuthenticationFailed):
        tokens.verify_token(pool, issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"))
    tokens.revoke_token(pool, trail, by=ADMIN, token_id=issued.id)
    with pytest.raises(AuthenticationFailed):
        tokens.verify_token(pool, issued.token)


def test_officer_reads_with_every_decryption_audited(
    secure_env: SecureEnv, stored: dict[str, object]
) -> None:
    reader = secure_env.reader()
    cid = stored["id"]
    before = _count(secure_env, "image.view", f"crossing:{cid}/face_crop")
    jpeg = reader.image(OFFICER, cid, "face_crop", reason="case K-7")  # type: ignore[arg-type]
    assert jpeg[:2] == b"\xff\xd8"
    assert _count(secure_env, "image.view", f"crossing:{cid}/face_crop") == before + 1
    hits = reader.search_plate(OFFICER, plate="acc-3551", reason="case K-7")
    assert [h.id for h in hits] == [cid]
    near = reader.search_face(
        OFFICER,
        embedding=stored["encoding"] + 0.001,
        reason="case K-7",
        k=1,  # type: ignore[operator]
    )
    assert [h.id for h in near] == [cid]
    with pytest.raises(ReasonRequired):
        reader.search_plate(OFFICER, plate=PLATE, reason="  ")
    with pytest.raises(SecurityError, match="must not contain the plate"):
        reader.search_plate(OFFICER, plate=PLATE, reason=f"check {PLATE}")
    with pytest.raises(Forbidden):
        reader.export(OFFICER, cid, reason="case K-7")  # type: ignore[arg-type]
    with pytest.raises(ReasonRequired):
        reader.export(SUPERVISOR, cid, reason="")  # type: ignore[arg-type]
    bundle = reader.export(SUPERVISOR, cid, reason="case K-7 court file")  # type: ignore[arg-type]
    assert bundle.detail.plate_text == PLATE and set(bundle.images) == {"plate_crop", "face_crop"}
    np.testing.assert_allclose(bundle.embedding, stored["encoding"], rtol=1e-6)  # type: ignore[arg-type]
    # No plate text anywhere in the audit log's free text.
    with secure_env.archive.pool.connection() as conn:
        text = conn.execute(
            "SELECT string_agg(target || reason || detail::text, '|') FROM audit_events"
        ).fetchone()
    assert text is not None and PLATE not in text[0] and "3551" not in text[0]


def test_search_volume_is_limited_and_flagged(
    secure_env: SecureEnv, stored: dict[str, object]
) -> None:
    who = Principal(name="busy", role="officer")
    reader: EvidenceReader = secure_env.reader(per_hour=3, flag_per_day=2)
    for _ in range(3):
        reader.search_plate(who, plate="ZZZ0000", reason="case K-8")
    with pytest.raises(RateLimited):
        reader.search_plate(who, plate="ZZZ0000", reason="case K-8")
    assert _count(secure_env, "search.refused", who.actor) == 1
    assert _count(secure_env, "search.volume_flagged", who.actor) == 1  # once a day, not per search


def test_users_argon2_totp_replay_and_lockout(secure_env: SecureEnv) -> None:
    pool = secure_env.archive.pool
    trail = AuditTrail(pool=pool)
    pw = "correct horse battery"
    new = users.add_user(pool, trail, by=ADMIN, name="olivia", role="officer", password=pw)
    assert new.totp_uri.startswith("otpauth://totp/")
    with pool.connection() as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE name = 'olivia'").fetchone()
    assert row is not None and row[0].startswith("$argon2id$") and pw not in row[0]
    totp = pyotp.TOTP(new.totp_secret)
    now = time.time()
    who = users.authenticate(
        pool, trail, name="olivia", password=pw, totp_code=totp.at(now), now=now
    )
    assert who == Principal(name="olivia", role="officer", kind="user")
    with pytest.raises(AuthenticationFailed):  # the same code twice: replay
        users.authenticate(pool, trail, name="olivia", password=pw, totp_code=totp.at(now), now=now)
    later = now + 60
    with pytest.raises(AuthenticationFailed):  # password alone is not enough
        users.authenticate(pool, trail, name="olivia", password=pw, totp_code="000000", now=later)
    with pytest.raises(SecurityError, match="at least 12"):
        users.add_user(pool, trail, by=ADMIN, name="weak", role="officer", password="short")
    policy = ThrottlePolicy(per_user=5, lock_s=30)  # the replay and the bad code count too
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(
                pool,
                trail,
                name="olivia",
                password="wrong password!",
                totp_code=totp.at(later),
                now=later,
                policy=policy,
            )
    with pytest.raises(LoginThrottled):  # throttled: even the right factors are refused now
        users.authenticate(
            pool, trail, name="olivia", password=pw, totp_code=totp.at(later), now=later
        )
    # ... for a while only: failures never disable the account
    assert [u.disabled for u in users.list_users(pool) if u.name == "olivia"] == [False]
    after = later + 31
    users.authenticate(pool, trail, name="olivia", password=pw, totp_code=totp.at(after), now=after)
    with psycopg.connect(secure_env.endpoints.database_url) as conn:
        logins = conn.execute(
            "SELECT action, count(*) FROM audit_events WHERE actor = 'user:olivia' AND action LIKE 'login%'"
            " GROUP BY action"
        ).fetchall()
        locks = conn.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'login.locked'"
            " AND target = 'user:olivia'"
        ).fetchone()
    assert dict(logins) == {"login": 2, "login.failed": 5}
    assert locks == (1,)
