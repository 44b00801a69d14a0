"""`lanecap eval reader` and `lanecap train reader` command lines (click CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lanecap.cli.reader_cmds import eval_reader, train_reader


def test_eval_reader_reports_and_writes_json(tmp_path: Path) -> None:
    pytest.importorskip("easyocr")
    img = np.full((60, 200, 3), 230, np.uint8)
    cv2.putText(img, "AB123", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (10, 10, 10), 3)
    cv2.imwrite(str(tmp_path / "p.png"), img)
    (tmp_path / "m.csv").write_text("file,plate_text,x,y,w,h\np.png,AB123,,,,\n")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        eval_reader, [str(tmp_path / "m.csv"), "--json", str(out), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "n=1 exact=" in result.output
    report = json.loads(out.read_text())
    assert report["overall"]["n"] == 1 and "errors" in report


def test_cli_validates_paths_and_choices(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(eval_reader, [str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    bad = runner.invoke(train_reader, ["--manifest", str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2
    helped = runner.invoke(train_reader, ["--help"])
    assert (
        helped.exit_code == 0 and "--steps" in helped.output and "[default: 2400]" in helped.output
    )
