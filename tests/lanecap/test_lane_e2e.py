"""A short rendered clip through `lanecap run`: crossings in PostgreSQL, crops in S3."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from lanecap.cli import main
from lanecap.demo import DemoVehicle, render_demo
from lanecap.evidence import evidence_reader
from lanecap.security.roles import Principal
from storage.crossings import list_crossings, object_keys

VEHICLES = (
    DemoVehicle("LCP4821", (40, 40, 160)),
    DemoVehicle("MX1937A", (90, 90, 90), with_driver_face=False),
)


def _config(tmp_path: Path, data_dir: Path, prefix: str) -> Path:
    footage = tmp_path / "footage"
    render_demo(footage, vehicles=VEHICLES)
    cfg = tmp_path / "lane.toml"
    cfg.write_text(
        f"""
site = "e2e"
data_dir = "{data_dir}"
[object_store]
bucket_prefix = "{prefix}"
[recognition]
plate_detector = "contour"
[[lanes]]
id = "e2e-lane"
vehicle_gap_s = 1.0
fusion_window_s = 1.5
[[lanes.cameras]]
id = "e2e-front"
role = "front_plate"
source = "footage/front.mp4"
[[lanes.cameras]]
id = "e2e-driver"
role = "driver"
source = "footage/driver.mp4"
"""
    )
    return cfg


def test_run_stores_one_crossing_per_vehicle(tmp_path: Path, settings, archive) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, settings.data_dir, settings.object_store.bucket_prefix)
    runner = CliRunner()
    result = runner.invoke(main, ["-c", str(cfg), "run", "--lane", "e2e-lane", "-q"])
    assert result.exit_code == 0, result.output
    assert "crossings: 2 (2 stored, 0 already stored)" in result.output

    rows = sorted(list_crossings(archive.pool, lane_id="e2e-lane"), key=lambda r: r.started_at)
    # Sealed on the lane node: no plate text in the clear; the officer service opens it.
    assert [r.plate_text for r in rows] == [None, None]
    reader = evidence_reader(settings, archive.pool, archive.objects)
    officer = Principal(name="e2e", role="officer")
    plates = [reader.view(officer, r.id, reason="e2e test").plate_text for r in rows]
    assert plates == ["LCP4821", "MX1937A"]
    assert [r.face_status for r in rows] == ["captured", "no_face_found"]
    assert rows[0].n_faces == 1 and rows[1].n_faces == 0
    assert all(r.n_reads >= 3 for r in rows), "each vehicle is read in several frames"

    kinds = [k for k, _, _ in object_keys(archive.pool, rows[0].id)]
    assert kinds == ["face_crop", "face_embedding", "plate_crop"]
    with archive.pool.connection() as conn:
        stored = conn.execute(
            "SELECT bucket, key, sha256 FROM objects WHERE crossing_id = %s", (rows[0].id,)
        ).fetchall()
    for bucket, key, sha in stored:
        data = archive.objects.get(bucket, key)
        assert hashlib.sha256(data).hexdigest() == sha
        assert data[:4] == b"LCE1"  # S3 holds ciphertext only
    for kind in ("plate_crop", "face_crop"):
        crop = reader.image(officer, rows[0].id, kind, reason="e2e test")  # type: ignore[arg-type]
        assert crop[:2] == b"\xff\xd8"  # a JPEG crop

    # The node reported its cameras' health for the contractors' view.
    from storage.health import lane_health

    health = {h.camera_id: h for h in lane_health(archive.pool, lane_id="e2e-lane")}
    assert set(health) == {"e2e-front", "e2e-driver"}
    assert health["e2e-front"].detection_rate is not None and health["e2e-front"].detection_rate > 0

    # While each vehicle was in view the node wrote sealed live previews for the booth,
    # openable by the officer service only.
    with archive.pool.connection() as conn:
        previews = conn.execute(
            "SELECT id, sealed FROM live_previews WHERE lane_id = 'e2e-lane' ORDER BY first_seen"
        ).fetchall()
    assert previews, "no live previews were written"
    assert not any(b"LCP4821" in bytes(p[1]) or b"MX1937A" in bytes(p[1]) for p in previews)
    opened = [reader.preview(officer, p[0], reason="e2e test") for p in previews]
    assert {o.plate_text for o in opened if o is not None} >= {"LCP4821", "MX1937A"}

    # A replay of the same footage stores nothing twice.
    again = runner.invoke(main, ["-c", str(cfg), "run", "--lane", "e2e-lane", "-q"])
    assert again.exit_code == 0, again.output
    assert len(list_crossings(archive.pool, lane_id="e2e-lane")) == 2


def test_run_reports_a_missing_source_clearly(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "lane.toml"
    cfg.write_text(
        f'data_dir = "{settings.data_dir}"\n[recognition]\nplate_detector = "contour"\n'
        '[[lanes]]\nid = "gone"\n[[lanes.cameras]]\nid = "gone-front"\nrole = "front_plate"\n'
        'source = "missing.mp4"\n'
    )
    result = CliRunner().invoke(main, ["-c", str(cfg), "run", "--lane", "gone", "-q"])
    assert result.exit_code == 1
    assert "missing.mp4" in result.output
    assert "Traceback" not in result.output
