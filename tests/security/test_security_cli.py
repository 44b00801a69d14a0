"""The security commands end to end with CliRunner, against the real servers."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from minio import Minio
from minio.error import S3Error

from lanecap.cli import main
from tests.conftest import cli_user

from .conftest import SecureEnv, make_crossing


@pytest.fixture(scope="module")
def cli(secure_env: SecureEnv, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    env = secure_env
    cfg = tmp_path_factory.mktemp("cli") / "lane.toml"
    cfg.write_text(
        f'data_dir = "{env.settings.data_dir}"\n'
        f'[object_store]\nbucket_prefix = "{env.settings.object_store.bucket_prefix}"\n'
        f'[keys]\ndir = "{env.keys_dir}"\n'
    )
    environ = {
        "LANECAP_DATABASE_URL": env.endpoints.database_url,
        "LANECAP_DATABASE_ADMIN_URL": env.endpoints.admin_url,
    }

    def invoke(*args: str, input: str | None = None) -> Result:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in environ.items():
                mp.setenv(k, v)
            return CliRunner().invoke(main, ["-c", str(cfg), *args], input=input)

    return invoke


def test_users_tokens_holds_retention_and_keys(cli, secure_env: SecureEnv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("users", "add", "olga", "--role", "officer", "--password", "a long passphrase!")
    assert r.exit_code == 0, r.output
    assert "otpauth://totp/lanecap:olga" in r.output
    r = cli("users", "list")
    assert "olga" in r.output and "officer" in r.output and "active" in r.output
    assert cli("users", "disable", "olga").exit_code == 0
    assert "disabled" in cli("users", "list").output
    r = cli("users", "add", "bad", "--role", "janitor", "--password", "a long passphrase!")
    assert r.exit_code != 0

    r = cli("tokens", "create", "--name", "lane-1 node", "--lane", "lane-1")
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("lct_")
    listing = cli("tokens", "list").output
    assert "lane-1 node" in listing and token.split("_", 2)[2] not in listing

    lane = secure_env.lane("cli-lane")
    c = make_crossing(lane, plate="CLI0001", seed=71)
    secure_env.archive.store(c)
    r = cli("holds", "add", "CASE-9", str(c.id), "--reason", "court order 9")
    assert r.exit_code == 0, r.output
    assert "1 hold(s) placed" in r.output
    assert str(c.id) in cli("holds", "list").output
    assert "1 hold(s) released" in cli("holds", "release", "CASE-9", "--reason", "closed").output

    r = cli("retention", "run", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "would purge" in r.output

    r = cli("keys", "status")
    assert r.exit_code == 0 and "data key(s)" in r.output
    out = tmp_path / "lane-keys"
    r = cli("keys", "export-lane", str(out), "--lane", "cli-lane")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["agency.pub", "lane.env"]
    assert (out / "lane.env").stat().st_mode & 0o777 == 0o600
    env_lines = dict(
        line.split("=", 1) for line in (out / "lane.env").read_text().splitlines() if "=" in line
    )
    # the exported login writes for its lane and reads nothing back
    with psycopg.connect(env_lines["LANECAP_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT lanecap_my_lane()").fetchone() == ("cli-lane",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM crossings")
    assert env_lines["LANECAP_S3_ACCESS_KEY"] != secure_env.endpoints.s3_access_key
    # ... and its S3 identity reads and lists nothing (the whole matrix: test_security_store)
    lane_s3 = Minio(
        env_lines["LANECAP_S3_ENDPOINT"],
        access_key=env_lines["LANECAP_S3_ACCESS_KEY"],
        secret_key=env_lines["LANECAP_S3_SECRET_KEY"],
        secure=False,
        region=secure_env.endpoints.s3_region,
    )
    bucket, key = secure_env.archive.objects.bucket("plates"), "cli-lane/x"
    try:
        assert lane_s3.list_buckets() == []  # SeaweedFS lists only buckets one may list
    except S3Error as err:
        assert err.code == "AccessDenied"
    for attempt in (
        lambda: list(lane_s3.list_objects(bucket, recursive=True)),
        lambda: lane_s3.get_object(bucket, key),
    ):
        with pytest.raises(S3Error) as err:
            attempt()
        assert err.value.code == "AccessDenied"

    r = cli("keys", "rotate", "--retire-old")
    assert r.exit_code == 0, r.output
    assert "data key(s) re-wrapped" in r.output and "deleted" in r.output
    assert len(list(secure_env.keys_dir.glob("agency-*.key"))) == 1

    r = cli("audit", "list", "--limit", "1000")
    assert r.exit_code == 2 and "named lanecap user" in r.output  # the log is not for anyone
    officer, password = cli_user(secure_env.archive, role="officer")
    r = cli("audit", "list", *officer, "--limit", "1000", input=password)
    assert r.exit_code != 0 and "user.add" not in r.output
    auditor, password = cli_user(secure_env.archive, role="auditor")
    r = cli("audit", "list", *auditor, "--limit", "1000", input=password)
    assert r.exit_code == 0, r.output
    assert "audit.read" in r.output and "access.denied" in r.output
    for action in ("user.add", "user.disable", "token.create", "hold.add", "key.rotate"):
        assert action in r.output
    assert "CLI0001" not in r.output


def test_audit_verify_names_the_first_bad_seq(cli, secure_env: SecureEnv) -> None:  # type: ignore[no-untyped-def]
    assert "checkpoint signed" in cli("audit", "checkpoint").output
    r = cli("audit", "verify")
    assert r.exit_code == 0, r.output
    assert "audit log OK" in r.output
    with psycopg.connect(secure_env.endpoints.admin_url) as conn, conn.transaction():
        seq = conn.execute("SELECT min(seq) + 2 FROM audit_events").fetchone()[0]  # type: ignore[index]
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        conn.execute("UPDATE audit_events SET actor = 'user:nobody' WHERE seq = %s", (seq,))
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert f"FAILED at seq {seq}" in r.output
