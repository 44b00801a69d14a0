"""Scale-out: two lane nodes (separate processes and configs) write to one PostgreSQL and one S3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lanecap.demo import DemoVehicle, render_demo
from lanecap.evidence import evidence_reader
from lanecap.security.roles import Principal
from storage.crossings import list_crossings

NODES = {
    "node-a": (DemoVehicle("LCP4821", (40, 40, 160)), DemoVehicle("MX1937A", (90, 90, 90))),
    "node-b": (DemoVehicle("7TRK902", (150, 120, 40)), DemoVehicle("LCP4821", (60, 140, 60))),
}


def _node_config(tmp_path: Path, node: str, data_dir: Path, prefix: str) -> Path:
    footage = tmp_path / node
    render_demo(footage, vehicles=NODES[node])
    cfg = footage / "lane.toml"
    cfg.write_text(
        f'site = "scale"\ndata_dir = "{data_dir}"\n[object_store]\nbucket_prefix = "{prefix}"\n'
        '[recognition]\nplate_detector = "contour"\n'
        f'[[lanes]]\nid = "{node}"\nvehicle_gap_s = 1.0\n'
        f'[[lanes.cameras]]\nid = "{node}-front"\nrole = "front_plate"\nsource = "front.mp4"\n'
    )
    return cfg


def test_two_nodes_write_concurrently_and_lose_nothing(tmp_path: Path, settings, archive) -> None:  # type: ignore[no-untyped-def]
    prefix = settings.object_store.bucket_prefix
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lanecap.cli",
                "-c",
                str(_node_config(tmp_path, n, settings.data_dir, prefix)),
                "run",
                "--lane",
                n,
                "-q",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in NODES
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out
        assert "crossings: 2 (2 stored, 0 already stored)" in out, out
    reader = evidence_reader(settings, archive.pool, archive.objects)
    officer = Principal(name="scale-test", role="officer")
    for node, vehicles in NODES.items():
        rows = sorted(list_crossings(archive.pool, lane_id=node), key=lambda r: r.started_at)
        plates = [reader.view(officer, r.id, reason="scale-out test").plate_text for r in rows]
        assert plates == [v.plate for v in vehicles]
        assert all(r.n_objects == 1 for r in rows)  # the sealed plate crop
