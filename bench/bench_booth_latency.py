"""Booth latency: from a vehicle's frames to the officer's screen, end to end, in real time.

    .venv/bin/python -m bench.bench_booth_latency [--vehicles 4] [--fps 5] [--detector yolo]

Renders the demo lane (plates passing a front camera), replays it at camera pace through
the lane pipeline with the shipped detector and reader, and writes what the node writes:
live previews (lanecap.preview) and stored crossings, into the embedded PostgreSQL + S3.
An officer's SSE client on a real `lanecap serve` app records when each event arrives.
Per vehicle it prints, in seconds, against the vehicle's first and last frame:

  preview - first read   how long after the plate was first read the booth showed it
  preview - last frame   negative: shown while the vehicle was still in view
  crossing - last frame  the stored crossing: `vehicle_gap_s` after it left once every
                         camera of the lane has finished with it (else + the fusion window)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from capture.sources import open_source
from lanecap import components
from lanecap.api import create_app
from lanecap.api.services import build_services
from lanecap.api.testing import ServerThread, login, make_account
from lanecap.archive import Archive
from lanecap.config import settings_from_dict
from lanecap.demo import DEMO_VEHICLES, render_demo
from lanecap.pipeline import Crossing
from lanecap.preview import LiveAnnouncer, PreviewSealer
from lanecap.services.runtime import storage_endpoints
from storage.previews import save_preview

LANE = "bench-booth"


class Events:
    """The booth's SSE stream, read in a thread: (wall time, event, data)."""

    def __init__(self, client: httpx.Client) -> None:
        self.seen: list[tuple[float, str, dict[str, Any]]] = []
        self.open = threading.Event()
        self._client = client
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._client.stream("GET", f"/api/lanes/{LANE}/live", timeout=None) as r:
                r.raise_for_status()
                self.open.set()
                event = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        self.seen.append((time.time(), event, json.loads(line[6:])))
        except httpx.HTTPError:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vehicles", type=int, default=4)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--detector", choices=["paired", "yolo", "contour"], default="yolo")
    ap.add_argument("--gap", type=float, default=1.0, help="the lane's vehicle_gap_s")
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench-booth"))
    args = ap.parse_args()
    settings = settings_from_dict(
        {
            "data_dir": str(args.data_dir.resolve()),
            "recognition": {"plate_detector": args.detector},
            "lanes": [
                {
                    "id": LANE,
                    "vehicle_gap_s": args.gap,
                    "fusion_window_s": 1.5,
                    "cameras": [{"id": "bb-front", "role": "front_plate", "source": "front.mp4"}],
                }
            ],
        },
        env={},
    )
    lane = settings.lanes[0]
    vehicles = tuple(DEMO_VEHICLES[i % len(DEMO_VEHICLES)] for i in range(args.vehicles))
    with tempfile.TemporaryDirectory() as tmp, storage_endpoints(settings) as ep:
        clip = render_demo(Path(tmp), vehicles=vehicles)["front"]
        archive = Archive(settings, ep)
        archive.register_lane(lane)
        assert archive.keys is not None
        svc = build_services(settings, ep)
        pipeline = components.lane_pipeline(settings, lane)
        announcer = LiveAnnouncer(pipeline)
        sealer = PreviewSealer(archive.keys)
        officer = make_account(archive, svc.trail, role="officer", prefix="bench")
        crossings: list[Crossing] = []
        with (
            ServerThread(create_app(settings, svc)) as srv,
            httpx.Client(base_url=srv.url, timeout=10) as client,
        ):
            assert svc.feed.listening.wait(10)
            login(client, officer)
            events = Events(client)
            assert events.open.wait(10)
            with open_source(
                str(clip), camera_id="bb-front", sample_fps=args.fps, start_time=time.time(),
                realtime=True,
            ) as src:  # fmt: skip
                for frame in src:
                    pipeline.process(frame)
                    for r in announcer.poll():
                        save_preview(archive.pool, sealer.seal(r))
                    for c in pipeline.poll(time.time()):
                        archive.store(c)
                        crossings.append(c)
            for c in pipeline.finish():
                archive.store(c)
                crossings.append(c)
            time.sleep(1.0)
        svc.close()
        archive.close()
    rows = []
    print(
        f"{'plate':<9} {'preview-first read':>18} {'preview-last frame':>19} {'crossing-last frame':>20}"
    )
    for c in sorted(crossings, key=lambda c: c.started_at):
        pv = [
            (t, d) for t, e, d in events.seen
            if e == "preview"
            and c.started_at - 0.01 <= _epoch(d["first_seen"]) <= c.ended_at + 0.01
        ]  # fmt: skip
        cr = [t for t, e, d in events.seen if e == "crossing" and d["id"] == str(c.id)]
        first_read = min((p.timestamp for p in c.plates if p.read is not None), default=None)
        p_first = pv[0][0] - first_read if pv and first_read is not None else float("nan")
        p_last = pv[0][0] - c.ended_at if pv else float("nan")
        c_last = cr[0] - c.ended_at if cr else float("nan")
        rows.append((p_first, p_last, c_last))
        text = c.plate.text if c.plate else "-"
        print(f"{text:<9} {p_first:>18.3f} {p_last:>19.3f} {c_last:>20.3f}")
    a = np.array(rows)
    for name, col in (
        ("preview-first read", 0),
        ("preview-last frame", 1),
        ("crossing-last frame", 2),
    ):
        v = a[:, col][~np.isnan(a[:, col])] if len(a) else np.array([])
        if v.size:
            print(f"{name}: p50 {np.percentile(v, 50):.3f} s, max {v.max():.3f} s (n={v.size})")
    print(f"vehicles {len(vehicles)}, crossings {len(crossings)}, previews "
          f"{sum(1 for _, e, _ in events.seen if e == 'preview')}")  # fmt: skip


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
