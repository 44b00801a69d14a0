from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lanecap.cli import main
from lanecap.config import load_settings, settings_from_dict
from lanecap.errors import ConfigError

GOOD = """
site = "port-a"
[[lanes]]
id = "lane-1"
driving_side = "left"
plate_regions = ["eu"]
[[lanes.cameras]]
id = "l1-front"
role = "front_plate"
source = "clips/front.mp4"
roi = [0, 100, 1280, 720]
[[lanes.cameras]]
id = "l1-driver"
role = "driver"
source = "rtsp://user:secret@127.0.0.1:8554/driver"
"""

BROKEN = """
site = "port-a"
colour = "blue"
[retention]
plate_reads_days = 0
[[lanes]]
id = "lane-1"
[[lanes.cameras]]
id = "l1-front"
role = "front_plate"
source = "a.mp4"
[[lanes]]
id = "lane-2"
cameras = []
[[lanes]]
id = "Lane 3"
driving_side = "middle"
[[lanes.cameras]]
id = "l3"
role = "tail"
source = ""
roi = [10, 10, 5, 5]
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "lanecap.toml"
    p.write_text(text)
    return p


def test_good_config_loads_and_resolves_relative_sources(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, GOOD), env={})
    lane = s.lane("lane-1")
    assert lane.driving_side == "left"
    assert lane.cameras[0].source == str(tmp_path / "clips/front.mp4")
    assert lane.cameras[1].source.startswith("rtsp://")  # URLs are left alone
    assert lane.cameras[0].roi == (0, 100, 1280, 720)


def test_broken_config_names_every_bad_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, BROKEN), env={})
    text = "\n".join(info.value.problems)
    for path in (
        "colour:",
        "retention.plate_reads_days:",
        "lanes[1].cameras:",
        "lanes[2].id:",
        "lanes[2].driving_side:",
        "lanes[2].cameras[0].role:",
        "lanes[2].cameras[0].source:",
        "lanes[2].cameras[0].roi:",
    ):
        assert path in text, f"{path} missing from:\n{text}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("site = ", "not valid TOML"),
        (
            '[[lanes]]\nid = "a"\n[[lanes.cameras]]\nid="c"\nrole="driver"\nsource="x"\n'
            '[[lanes]]\nid = "a"\n[[lanes.cameras]]\nid="d"\nrole="driver"\nsource="y"\n',
            "lane ids must be unique",
        ),
        (
            '[[lanes]]\nid = "a"\n[[lanes.cameras]]\nid="c"\nrole="driver"\nsource="x"\n'
            '[[lanes.cameras]]\nid="c"\nrole="overview"\nsource="y"\n',
            "camera ids must be unique",
        ),
        ('[recognition]\nread_framings = "three"\n', "recognition.read_framings"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(_write(tmp_path, text), env={})


def test_env_overrides_file_values() -> None:
    s = settings_from_dict(
        {"database": {"url": "postgresql://file"}},
        env={"LANECAP_DATABASE_URL": "postgresql://env", "LANECAP_S3_ENDPOINT": "s3.example:9000"},
    )
    assert s.database.url == "postgresql://env"
    assert s.object_store.endpoint == "s3.example:9000"


def test_unknown_lane_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no lane with id 'x'"):
        settings_from_dict({}, env={}).lane("x")


def test_check_config_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["check-config", str(_write(tmp_path, BROKEN))])
    assert bad.exit_code == 1
    assert "lanes[2].cameras[0].roi" in bad.output
    good_dir = tmp_path / "good"
    good_dir.mkdir()
    ok = runner.invoke(main, ["check-config", str(_write(good_dir, GOOD))])
    assert ok.exit_code == 0, ok.output
    assert "OK (1 lane(s), 2 camera(s))" in ok.output
    assert "file or folder not found" in ok.output  # clips/front.mp4 does not exist: a warning
    missing = runner.invoke(main, ["check-config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1
    assert "cannot read config file" in missing.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        [],
        ["run"],
        ["demo"],
        ["check-config"],
        ["crossings", "list"],
        ["services", "start"],
        ["db", "migrate"],
        ["identity", "links"],
        ["identity", "verify-document"],
        ["watchlist", "enroll"],
        ["hotlist", "import"],
        ["match"],
        ["load"],
        ["eval"],
        ["train"],
    ):
        r = runner.invoke(main, [*args, "--help"])
        assert r.exit_code == 0, (args, r.output)
        assert "Usage:" in r.output
