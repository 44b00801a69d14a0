"""Red-team finding 6, bulk reads outside search: the booth's recent list, crossing detail,
crops and the CLI's list each count against the user's read budget, are refused past the
hourly limit (429 + Retry-After; the CLI exits with the reason), flag bursts and daily
volume for review, and the CLI reads only as a named user who signs in with TOTP."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lanecap.api import create_app
from lanecap.api.services import ApiServices, build_services
from lanecap.api.testing import Account, ServerThread, crossing, login, make_account
from lanecap.cli import main
from lanecap.config import LaneConfig, Settings
from lanecap.evidence import EvidenceReader
from lanecap.security import ratelimit
from lanecap.security.ratelimit import BudgetExceeded, ReadBudget
from lanecap.security.roles import Principal

from .conftest import SecureEnv

LANE = "vol-lane"
N_CROSSINGS = 24
LIMITS = {
    "reads_per_hour": 60,
    "flag_reads_per_minute": 30,
    "flag_reads_per_day": 50,
    "searches_per_hour": 120,
}
PLATES = [f"VOL{1000 + i}" for i in range(N_CROSSINGS)]


@dataclasses.dataclass
class Site:
    env: SecureEnv
    settings: Settings
    svc: ApiServices
    url: str
    ids: list[Any]
    cfg: Path


@pytest.fixture(scope="module")
def site(secure_env: SecureEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    env = secure_env
    s = env.settings.model_copy(
        update={"security": env.settings.security.model_copy(update=LIMITS)}
    )
    env.archive.register_lane(
        LaneConfig.model_validate(
            {
                "id": LANE,
                "cameras": [
                    {"id": f"{LANE}-front", "role": "front_plate", "source": "x.mp4"},
                    {"id": f"{LANE}-driver", "role": "driver", "source": "y.mp4"},
                ],
            }
        )
    )
    made = [crossing(LANE, p, face_seed=i) for i, p in enumerate(PLATES)]
    for c in made:
        assert env.archive.store(c)
    cfg = tmp_path_factory.mktemp("volume") / "lane.toml"
    limits = "".join(f"{k} = {v}\n" for k, v in LIMITS.items())
    cfg.write_text(
        f'data_dir = "{s.data_dir}"\n'
        f'[object_store]\nbucket_prefix = "{s.object_store.bucket_prefix}"\n'
        f'[keys]\ndir = "{env.keys_dir}"\nauto_create = false\n'
        f"[security]\n{limits}"
    )
    svc = build_services(s, env.endpoints)
    with ServerThread(create_app(s, svc)) as srv:
        yield Site(env, s, svc, srv.url, [c.id for c in made], cfg)
    svc.close()


def _account(site: Site, role: str = "officer") -> Account:
    return make_account(site.env.archive, site.svc.trail, role=role, prefix="v")  # type: ignore[arg-type]


@contextlib.contextmanager
def _client(site: Site, account: Account) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=10) as c:
        login(c, account)
        yield c


def _count(site: Site, actor: str, action: str) -> int:
    with site.env.archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE actor = %s AND action = %s", (actor, action)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _actions(site: Site, actor: str) -> list[tuple[str, dict[str, Any]]]:
    with site.env.archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action, detail FROM audit_events WHERE actor = %s ORDER BY seq", (actor,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _reads(site: Site, actor: str) -> int:
    with site.env.archive.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE actor = %s AND action = ANY(%s)",
            (actor, list(ratelimit.READ_ACTIONS)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _flag_actions(site: Site, actor: str) -> list[str]:
    since = datetime.now(UTC) - timedelta(hours=1)
    return [e.action for e in ratelimit.flags(site.env.archive.pool, since=since, actor=actor)]


def _refused(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 3600
    return retry


# The API ------------------------------------------------------------------------------------


def test_booth_recent_is_capped_counted_per_row_and_refused(site: Site) -> None:
    acct = _account(site)
    actor = f"user:{acct.name}"
    with _client(site, acct) as c:
        r = c.get(f"/api/lanes/{LANE}/recent", params={"limit": 100})
        assert r.status_code == 422, r.text  # the attack's limit=100 is refused outright
        assert _count(site, actor, "crossing.view") == 0
        for n in (1, 2, 3):
            r = c.get(f"/api/lanes/{LANE}/recent")
            assert r.status_code == 200, r.text
            rows = r.json()
            assert len(rows) == 20 and all(row["plate_text"] in PLATES for row in rows)
            assert _count(site, actor, "crossing.view") == 20 * n  # one read per row
        # 60 reads this hour: a fourth page would pass the limit, so none of it is opened.
        retry = _refused(c.get(f"/api/lanes/{LANE}/recent"))
    assert _count(site, actor, "crossing.view") == 60
    refusals = [d for a, d in _actions(site, actor) if a == "read.refused"]
    assert len(refusals) == 1
    assert refusals[0]["reads_last_hour"] == 60 and refusals[0]["asked"] == 20
    assert refusals[0]["limit"] == 60 and refusals[0]["retry_after_s"] == retry
    # A burst (over 30 a minute) and the day's volume (over 50) are flagged once each.
    assert _flag_actions(site, actor) == [
        "read.burst_flagged",
        "read.volume_flagged",
        "read.refused",
    ]
    # ... and listed for auditors and supervisors through the API, never for officers
    auditor = _account(site, "auditor")
    with _client(site, auditor) as c:
        r = c.get("/api/review/flags", params={"actor": actor, "days": 1})
        assert r.status_code == 200, r.text
        assert [f["action"] for f in r.json()] == [
            "read.burst_flagged",
            "read.volume_flagged",
            "read.refused",
        ]
        assert all(set(f) == {"seq", "at", "actor", "action", "detail"} for f in r.json())
    assert _count(site, f"user:{auditor.name}", "volume.review") == 1
    for role in ("officer", "contractor"):
        with _client(site, _account(site, role)) as c:
            assert c.get("/api/review/flags").status_code == 403


def test_detail_and_crops_x200_are_refused_flagged_and_audited(site: Site) -> None:
    acct = _account(site)
    actor = f"user:{acct.name}"
    statuses: list[int] = []
    retries: set[int] = set()
    with _client(site, acct) as c:
        for i in range(100):
            cid = site.ids[i % len(site.ids)]
            d = c.get(f"/api/crossings/{cid}", params={"reason": "case V-200"})
            p = c.get(f"/api/crossings/{cid}/crops/plate_crop", params={"reason": "case V-200"})
            for r in (d, p):
                statuses.append(r.status_code)
                if r.status_code == 429:
                    retries.add(_refused(r))
                else:
                    assert r.status_code == 200, r.text
    assert statuses == [200] * 60 + [429] * 140  # the hourly budget, then nothing more
    assert _count(site, actor, "crossing.view") + _count(site, actor, "image.view") == 60
    assert _count(site, actor, "read.refused") == 140
    assert _count(site, actor, "read.burst_flagged") == 1  # at most once an hour
    assert _count(site, actor, "read.volume_flagged") == 1  # once a day
    assert all(r <= 3600 for r in retries)


def test_one_budget_for_search_hits_and_exports(site: Site) -> None:
    sup = _account(site, "supervisor")
    actor = f"user:{sup.name}"
    with _client(site, sup) as c:
        r = c.get("/api/search/crossings", params={"reason": "case V-7", "lane": LANE})
        assert r.status_code == 200, r.text
        hits = len(r.json()["items"])
        assert hits == N_CROSSINGS
        r = c.post(f"/api/crossings/{site.ids[0]}/export", json={"reason": "case V-7 file"})
        assert r.status_code == 200, r.text
        assert _reads(site, actor) == 1 + hits + 1  # the search, each hit opened, the export
        assert _count(site, actor, "export") == 1
        while _reads(site, actor) < LIMITS["reads_per_hour"]:
            assert c.get(f"/api/crossings/{site.ids[1]}", params={"reason": "case V-7"}).is_success
        _refused(c.post(f"/api/crossings/{site.ids[0]}/export", json={"reason": "case V-7 file"}))
        _refused(c.get("/api/search/crossings", params={"reason": "case V-7", "lane": LANE}))
    assert _count(site, actor, "export") == 1


def test_every_read_of_the_reader_counts(site: Site) -> None:
    """The evidence reader is where every path (API and CLI) opens data: each of its reads
    is admitted by the budget before it is audited or decrypted."""
    env = site.env
    budget = ReadBudget(pool=env.archive.pool, trail=site.svc.trail, reads_per_hour=4)
    reader = dataclasses.replace(env.reader(), limiter=budget)
    assert isinstance(reader, EvidenceReader)
    who = Principal(name="vol-reader", role="supervisor")
    cid = site.ids[2]
    reader.view(who, cid, reason="case V-9")
    reader.image(who, cid, "plate_crop", reason="case V-9")
    reader.face_embedding(who, cid, reason="case V-9")
    reader.export(who, cid, reason="case V-9")
    for attempt in (
        lambda: reader.view(who, cid, reason="case V-9"),
        lambda: reader.image(who, cid, "face_crop", reason="case V-9"),
        lambda: reader.search_plate(who, plate=PLATES[2], reason="case V-9"),
    ):
        with pytest.raises(BudgetExceeded) as err:
            attempt()
        assert 1 <= err.value.retry_after <= 3600
    assert _count(site, who.actor, "read.refused") == 3
    assert _count(site, who.actor, "crossing.view") == 1  # refused reads are not audited as reads


# The CLI ------------------------------------------------------------------------------------


def _cli(site: Site, *args: str, password: str | None = None) -> Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANECAP_DATABASE_URL", site.env.endpoints.database_url)
        mp.setenv("LANECAP_DATABASE_ADMIN_URL", site.env.endpoints.admin_url)
        mp.delenv("LANECAP_USER", raising=False)
        return CliRunner().invoke(
            main,
            ["-c", str(site.cfg), *args],
            input=None if password is None else f"{password}\n",
        )


def test_cli_reads_need_a_named_user_with_totp(site: Site) -> None:
    before = _count(site, "system:root", "crossing.view")
    # The attack: 10000 rows, a junk reason, no user.
    r = _cli(site, "crossings", "list", "--limit", "10000", "--reason", "x")
    assert r.exit_code == 2 and "--limit" in r.output
    r = _cli(site, "crossings", "list", "--lane", LANE, "--reason", "x")
    assert r.exit_code == 2 and "at least 3 letters" in r.output
    r = _cli(site, "crossings", "list", "--lane", LANE, "--reason", "case V-11")
    assert r.exit_code == 2 and "named lanecap user" in r.output
    assert not any(p in r.output for p in PLATES)
    # A real user with a wrong code, then a role that may not read traveller data.
    officer = _account(site)
    r = _cli(
        site, "crossings", "list", "--reason", "case V-11", "--as", officer.name,
        "--totp", "000000", password=officer.password,
    )  # fmt: skip
    assert r.exit_code == 1 and "authentication failed" in r.output
    auditor = _account(site, "auditor")
    r = _cli(
        site, "crossings", "list", "--reason", "case V-11", "--as", auditor.name,
        "--totp", auditor.code(), password=auditor.password,
    )  # fmt: skip
    assert r.exit_code == 1 and "lacks permission crossing.view" in r.output
    assert not any(p in r.output for p in PLATES)
    assert _count(site, f"user:{auditor.name}", "access.denied") == 1
    assert _count(site, f"user:{auditor.name}", "crossing.view") == 0
    # Sealed metadata needs no user; it is capped like the rest.
    r = _cli(site, "crossings", "list", "--lane", LANE)
    assert r.exit_code == 0, r.output
    assert f"{N_CROSSINGS} crossing(s)" in r.output and not any(p in r.output for p in PLATES)
    assert _count(site, "system:root", "crossing.view") == before  # no implicit OS-user reads

    # Signed in: the plates, each an API-like audited read naming the channel.
    r = _cli(
        site, "crossings", "list", "--lane", LANE, "--limit", "10", "--reason", "case V-11",
        "--as", officer.name, "--totp", officer.code(), password=officer.password,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sum(p in r.output for p in PLATES) == 10
    entries = _actions(site, f"user:{officer.name}")
    assert [a for a, _ in entries] == ["login.failed", "login"] + ["crossing.view"] * 10
    assert all(d.get("channel") == "cli" and d.get("os_user") for _, d in entries[1:])


def test_cli_and_api_share_one_budget_and_flags_are_listed(site: Site) -> None:
    officer = _account(site)
    actor = f"user:{officer.name}"
    with _client(site, officer) as c:
        for _ in range(2):
            assert c.get(f"/api/lanes/{LANE}/recent").status_code == 200  # 40 reads
    r = _cli(
        site, "crossings", "list", "--lane", LANE, "--limit", "24", "--reason", "case V-12",
        "--as", officer.name, "--totp", officer.code(), password=officer.password,
    )  # fmt: skip
    assert r.exit_code == 1, r.output  # 40 + 24 > 60: refused before any row is opened
    assert "reads in the last hour (limit 60)" in r.output and "retry in" in r.output
    assert not any(p in r.output for p in PLATES)
    assert _count(site, actor, "crossing.view") == 40
    refusal = [d for a, d in _actions(site, actor) if a == "read.refused"]
    assert len(refusal) == 1 and refusal[0]["channel"] == "cli"

    # Supervisors and auditors list the flags; officers may not; the review is audited.
    other = _account(site)
    r = _cli(
        site, "audit", "flags", "--as", other.name, "--totp", other.code(),
        password=other.password,
    )  # fmt: skip
    assert r.exit_code == 1 and "lacks permission search_volume.review" in r.output
    auditor = _account(site, "auditor")
    r = _cli(
        site, "audit", "flags", "--actor", actor, "--as", auditor.name,
        "--totp", auditor.code(), password=auditor.password,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if actor in line]
    assert [line.split()[4] for line in lines] == [
        "read.burst_flagged",
        "read.refused",
    ]
    assert "via cli" in lines[-1] and "reads_last_hour 40" in lines[-1]
    assert _count(site, f"user:{auditor.name}", "volume.review") == 1
