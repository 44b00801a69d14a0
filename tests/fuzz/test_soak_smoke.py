"""The soak harness itself, in a few seconds: one lane, storage stopped mid-run, nothing lost."""

from __future__ import annotations

from pathlib import Path

from bench.soak import format_report, soak
from lanecap.config import settings_from_dict
from lanecap.services.runtime import embedded_pair


def test_a_short_soak_with_storage_faults_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "soak"
    try:
        r = soak(
            lanes=1,
            fps=5,
            minutes=0.5,
            data_dir=data,
            fault_every_s=8,
            fault_s=4,
            faults=("s3-stop", "pg-stop"),
            detector="contour",
        )
    finally:
        pg, s3, _ = embedded_pair(settings_from_dict({"data_dir": str(data)}, env={}))
        s3.stop()
        pg.stop()
    cr = r["crossings"]
    assert r["faults"], "no fault was injected"
    assert cr["produced"] >= 1
    assert cr["lost"] == 0 and cr["left_in_spool"] == 0
    assert cr["stored"] == cr["produced"]
    assert "lost" in format_report(r)
