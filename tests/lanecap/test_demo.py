"""`lanecap demo`: offline, no files supplied, crossings that `crossings list` shows afterwards."""

from __future__ import annotations

from pathlib import Path

import pyotp
from click.testing import CliRunner

from lanecap.cli import main
from lanecap.demo import DEMO_VEHICLES


def test_demo_runs_offline_and_leaves_listable_crossings(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    runner = CliRunner()
    r = runner.invoke(main, ["demo", "-q", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert f"crossings: {len(DEMO_VEHICLES)} ({len(DEMO_VEHICLES)} stored" in r.output
    assert not any(v.plate in r.output for v in DEMO_VEHICLES)  # the demo lists them sealed
    cfg = data / "footage" / "lane.toml"
    # Plates are read by a named user who signs in (password + TOTP), never the OS account.
    pw = "demo officer passphrase"
    added = runner.invoke(
        main, ["-c", str(cfg), "users", "add", "demo.officer", "--role", "officer"],
        input=f"{pw}\n{pw}\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    uri = next(line for line in added.output.splitlines() if line.startswith("otpauth://"))
    code = pyotp.parse_uri(uri).now()
    signed_in = ["--as", "demo.officer", "--totp", code]
    listed = runner.invoke(
        main,
        ["-c", str(cfg), "crossings", "list", "--reason", "test review", *signed_in],
        input=f"{pw}\n",
    )
    assert listed.exit_code == 0, listed.output
    assert f"{len(DEMO_VEHICLES)} crossing(s)" in listed.output
    found = sum(v.plate in listed.output for v in DEMO_VEHICLES)
    assert found >= len(DEMO_VEHICLES) - 1, listed.output  # the reader may miss one character
    sealed = runner.invoke(main, ["-c", str(cfg), "crossings", "list"])
    assert not any(v.plate in sealed.output for v in DEMO_VEHICLES)  # no reason, no plates
    runner.invoke(main, ["-c", str(cfg), "services", "stop"])
