"""`lanecap demo`: offline, no files supplied, crossings that `crossings list` shows afterwards."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lanecap.cli import main
from lanecap.demo import DEMO_VEHICLES


def test_demo_runs_offline_and_leaves_listable_crossings(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    runner = CliRunner()
    r = runner.invoke(main, ["demo", "-q", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert f"crossings: {len(DEMO_VEHICLES)} ({len(DEMO_VEHICLES)} stored" in r.output
    cfg = data / "footage" / "lane.toml"
    listed = runner.invoke(main, ["-c", str(cfg), "crossings", "list", "--reason", "test review"])
    assert listed.exit_code == 0, listed.output
    assert f"{len(DEMO_VEHICLES)} crossing(s)" in listed.output
    found = sum(v.plate in listed.output for v in DEMO_VEHICLES)
    assert found >= len(DEMO_VEHICLES) - 1, listed.output  # the reader may miss one character
    sealed = runner.invoke(main, ["-c", str(cfg), "crossings", "list"])
    assert not any(v.plate in sealed.output for v in DEMO_VEHICLES)  # no reason, no plates
    runner.invoke(main, ["-c", str(cfg), "services", "stop"])
