"""Red-team finding 5: nobody can lock an officer out for good by guessing.

Failed sign-ins are throttled per name and per client address in PostgreSQL (growing
windows, 429 with Retry-After), accounts are never disabled by failures, `users enable`
re-enables and clears, and every lock and enable is audited."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pyotp
import pytest
from click.testing import CliRunner, Result
from psycopg_pool import ConnectionPool

from lanecap.api import create_app
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import ServerThread, login, make_account
from lanecap.cli import main
from lanecap.security import users
from lanecap.security.errors import AuthenticationFailed
from lanecap.security.roles import Principal
from lanecap.security.throttle import LoginThrottled, ThrottlePolicy, address_subject
from lanecap.security.trail import AuditTrail
from storage.audit import entries

from .conftest import ADMIN, SecureEnv

PW = "a long passphrase!"
POLICY = ThrottlePolicy(per_user=4, per_address=6, lock_s=30, max_lock_s=240, forget_s=3600)


def _user(env: SecureEnv, trail: AuditTrail) -> tuple[str, pyotp.TOTP]:
    name = "o" + uuid.uuid4().hex[:10]
    new = users.add_user(env.archive.pool, trail, by=ADMIN, name=name, role="officer", password=PW)
    return name, pyotp.TOTP(new.totp_secret)


def _attempt(
    env: SecureEnv, trail: AuditTrail, name: str, *, at: float, address: str, code: str = "000000"
) -> None:
    users.authenticate(
        env.archive.pool,
        trail,
        name=name,
        password="wrong password!" if code == "000000" else PW,
        totp_code=code,
        address=address,
        policy=POLICY,
        now=at,
    )


def _audited(env: SecureEnv, action: str, target: str) -> list[dict[str, object]]:
    return [
        dict(e.detail)
        for e in entries(env.archive.pool, limit=100000)
        if e.action == action and e.target == target
    ]


def test_guessing_throttles_the_name_for_growing_windows_but_never_disables(
    secure_env: SecureEnv,
) -> None:
    trail = AuditTrail(pool=secure_env.archive.pool)
    name, totp = _user(secure_env, trail)
    t = time.time() + 10_000  # a step no other test has used
    for i in range(POLICY.per_user):  # the attacker rotates addresses: the name still counts
        with pytest.raises(AuthenticationFailed):
            _attempt(secure_env, trail, name, at=t, address=f"198.51.100.{i + 1}")
    # the officer, from the booth, with the right factors: refused for a while, not for good
    with pytest.raises(LoginThrottled) as refused:
        _attempt(secure_env, trail, name, at=t + 1, address="10.0.0.5", code=totp.at(t + 1))
    assert refused.value.kind == "user" and 1 <= refused.value.retry_after <= 30
    assert [u.disabled for u in users.list_users(secure_env.archive.pool) if u.name == name] == [
        False
    ]
    # each failure past the limit doubles the window, up to the cap
    t2 = t + 31
    with pytest.raises(AuthenticationFailed):
        _attempt(secure_env, trail, name, at=t2, address="198.51.100.9")
    with pytest.raises(LoginThrottled) as refused:
        _attempt(secure_env, trail, name, at=t2, address="10.0.0.5", code=totp.at(t2))
    assert 59 <= refused.value.retry_after <= 60
    assert [d["seconds"] for d in _audited(secure_env, "login.locked", f"user:{name}")] == [30, 60]
    # once the window has passed the officer signs in, and that clears the name's count
    t3 = t2 + 61
    who = _attempt_ok(secure_env, trail, name, at=t3, code=totp.at(t3))
    assert who.name == name
    with pytest.raises(AuthenticationFailed):  # one typo is not a lock any more
        _attempt(secure_env, trail, name, at=t3 + 1, address="10.0.0.5")
    _attempt_ok(secure_env, trail, name, at=t3 + 31, code=totp.at(t3 + 31))


def _attempt_ok(env: SecureEnv, trail: AuditTrail, name: str, *, at: float, code: str) -> Principal:
    return users.authenticate(
        env.archive.pool,
        trail,
        name=name,
        password=PW,
        totp_code=code,
        address="10.0.0.5",
        policy=POLICY,
        now=at,
    )


def test_one_address_guessing_many_names_is_refused_for_every_name(
    secure_env: SecureEnv,
) -> None:
    trail = AuditTrail(pool=secure_env.archive.pool)
    name, totp = _user(secure_env, trail)
    t = time.time() + 20_000
    attacker = "2001:db8:aa:bb::1"
    for i in range(POLICY.per_address):  # spraying: a different (unknown) name each time
        with pytest.raises(AuthenticationFailed):
            _attempt(secure_env, trail, f"nobody{i}x", at=t, address=f"2001:db8:aa:bb::{i + 1}")
    # the same /64 is the same subscriber: refused, even with the right factors of a real user
    with pytest.raises(LoginThrottled) as refused:
        _attempt(secure_env, trail, name, at=t, address=attacker, code=totp.at(t))
    assert refused.value.kind == "address"
    assert _audited(secure_env, "login.locked", "address:2001:db8:aa:bb::/64")
    # the real user from another address is not affected
    assert _attempt_ok(secure_env, trail, name, at=t, code=totp.at(t)).name == name


def test_unknown_names_are_throttled_like_real_ones(secure_env: SecureEnv) -> None:
    """A refusal must not tell an attacker which names have accounts."""
    trail = AuditTrail(pool=secure_env.archive.pool)
    real, _ = _user(secure_env, trail)
    t = time.time() + 30_000
    seen = []
    for name in (real, "ghost" + uuid.uuid4().hex[:8]):
        for i in range(POLICY.per_user):
            with pytest.raises(AuthenticationFailed):
                _attempt(secure_env, trail, name, at=t, address=f"203.0.113.{i + 1}")
        with pytest.raises(LoginThrottled) as refused:
            _attempt(secure_env, trail, name, at=t, address="203.0.113.200")
        seen.append((refused.value.kind, refused.value.retry_after, str(refused.value)))
    assert seen[0] == seen[1]


def test_throttle_state_is_shared_by_every_process(secure_env: SecureEnv) -> None:
    trail = AuditTrail(pool=secure_env.archive.pool)
    name, totp = _user(secure_env, trail)
    t = time.time() + 40_000
    for i in range(POLICY.per_user):
        with pytest.raises(AuthenticationFailed):
            _attempt(secure_env, trail, name, at=t, address=f"192.0.2.{i + 1}")
    # another officer-service process: its own pool, the same database
    other = ConnectionPool(secure_env.endpoints.database_url, min_size=1, max_size=1)
    with other, pytest.raises(LoginThrottled):
        users.authenticate(
            other,
            AuditTrail(pool=other),
            name=name,
            password=PW,
            totp_code=totp.at(t),
            address="192.0.2.99",
            now=t,
        )


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "unknown"),
        (None, "unknown"),
    ],
)
def test_addresses_are_counted_by_subscriber(address: str | None, subject: str) -> None:
    assert address_subject(address) == subject


@pytest.mark.parametrize(
    ("failures", "seconds"), [(3, 0), (4, 30), (5, 60), (6, 120), (7, 240), (8, 240), (99, 240)]
)
def test_windows_double_up_to_the_cap(failures: int, seconds: float) -> None:
    assert POLICY.lock_seconds(failures, POLICY.per_user) == seconds


# --- lanecap users enable -------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(secure_env: SecureEnv, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Result]:
    env = secure_env
    cfg = tmp_path_factory.mktemp("cli") / "site.toml"
    cfg.write_text(
        f'data_dir = "{env.settings.data_dir}"\n'
        f'[object_store]\nbucket_prefix = "{env.settings.object_store.bucket_prefix}"\n'
        f'[keys]\ndir = "{env.keys_dir}"\n'
    )
    environ = {
        "LANECAP_DATABASE_URL": env.endpoints.database_url,
        "LANECAP_DATABASE_ADMIN_URL": env.endpoints.admin_url,
    }

    def invoke(*args: str) -> Result:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in environ.items():
                mp.setenv(k, v)
            return CliRunner().invoke(main, ["-c", str(cfg), *args])

    return invoke


def test_users_enable_reenables_clears_the_throttle_and_is_audited(
    cli: Callable[..., Result], secure_env: SecureEnv
) -> None:
    trail = AuditTrail(pool=secure_env.archive.pool)
    name, totp = _user(secure_env, trail)
    t = time.time() + 50_000
    for i in range(POLICY.per_user):
        with pytest.raises(AuthenticationFailed):
            _attempt(secure_env, trail, name, at=t, address=f"198.18.0.{i + 1}")
    assert cli("users", "disable", name).exit_code == 0
    with pytest.raises(LoginThrottled):
        _attempt_ok(secure_env, trail, name, at=t, code=totp.at(t))
    r = cli("users", "enable", name)
    assert r.exit_code == 0, r.output
    assert f"user {name} enabled" in r.output
    listed = [line for line in cli("users", "list").output.splitlines() if name in line]
    assert len(listed) == 1 and "active" in listed[0]
    # enabled and unthrottled at once: the right factors work straight away
    assert _attempt_ok(secure_env, trail, name, at=t, code=totp.at(t)).name == name
    enabled = _audited(secure_env, "user.enable", f"user:{name}")
    assert enabled == [{"was_disabled": True, "throttle_cleared": True}]
    r = cli("users", "enable", "nosuchuser")
    assert r.exit_code != 0 and "no user nosuchuser" in r.output


# --- over HTTP: 429 with Retry-After, never a disabled account ---------------------------


@pytest.fixture(scope="module")
def server(secure_env: SecureEnv) -> Iterator[tuple[str, ApiServices]]:
    s = secure_env.settings.model_copy(
        update={
            "security": secure_env.settings.security.model_copy(
                update={"max_failed_logins": 3, "login_lock_seconds": 2}
            )
        }
    )
    svc = build_services(s, secure_env.endpoints)
    with ServerThread(create_app(s, svc)) as srv:
        yield srv.url, svc
    svc.close()


def test_an_anonymous_attacker_cannot_lock_an_officer_out(
    server: tuple[str, ApiServices], secure_env: SecureEnv
) -> None:
    url, svc = server
    account = make_account(secure_env.archive, svc.trail, role="officer", prefix="lock")
    attacker = httpx.Client(base_url=url, headers={"X-Forwarded-For": "198.51.100.66"})
    for _ in range(3):
        r = attacker.post(
            "/api/auth/login",
            json={"name": account.name, "password": "not the password", "totp": "123456"},
        )
        assert r.status_code == 401
    officer = httpx.Client(base_url=url, headers={"X-Forwarded-For": "10.1.1.1"})
    body = {"name": account.name, "password": account.password, "totp": account.code()}
    r = officer.post("/api/auth/login", json=body)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "login_throttled"
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 2
    time.sleep(wait + 0.2)
    login(officer, account)  # the account was never disabled
    assert officer.get("/api/auth/me").json()["name"] == account.name
    attacker.close()
    officer.close()
