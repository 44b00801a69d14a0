"""Lane commands: check-config, run, demo, crossings."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import click
from tqdm import tqdm

from capture.types import Frame, SourceHealth
from lanecap import components
from lanecap.archive import Archive, CrossingSealer, open_archive
from lanecap.cli.base import (
    MAX_LIST,
    CliLogin,
    Context,
    cli_reason,
    open_plates,
    pass_ctx,
    reader_login,
    reports_errors,
)
from lanecap.config import Settings, is_path_source, load_settings
from lanecap.errors import ConfigError
from lanecap.forward import UNAVAILABLE, StoreAndForward
from lanecap.keys import lane_keys
from lanecap.metrics import NodeMetrics
from lanecap.pipeline import LanePipeline
from lanecap.preview import LiveRead, PreviewSealer
from lanecap.runner import RunStats, run_lane
from lanecap.services.lanes import LaneCredentials
from lanecap.services.runtime import lane_credentials, storage_endpoints
from lanecap.spool import Spool
from storage import health as health_store
from storage.crossings import list_crossings

log = logging.getLogger(__name__)
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@click.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check_config(file: Path) -> None:
    """Validate a settings FILE; print every problem with its field path."""
    try:
        settings = load_settings(file)
    except ConfigError as err:
        for line in err.problems:
            click.echo(f"error: {line}", err=True)
        click.echo(f"{len(err.problems)} problem(s) in {file}", err=True)
        sys.exit(1)
    missing = [
        f"lanes[{i}].cameras[{j}].source: file or folder not found: {c.source}"
        for i, lane in enumerate(settings.lanes)
        for j, c in enumerate(lane.cameras)
        if is_path_source(c.source) and not Path(c.source).exists()
    ]
    for line in missing:
        click.echo(f"warning: {line}", err=True)
    cams = sum(len(lane.cameras) for lane in settings.lanes)
    click.echo(f"{file}: OK ({len(settings.lanes)} lane(s), {cams} camera(s))")


@dataclass
class NodeRun:
    stats: RunStats
    spooled: int
    replayed: int
    outages: int
    left_in_spool: int
    rejected: int = 0


def _run(
    settings: Settings,
    lane_id: str,
    *,
    max_seconds: float | None,
    quiet: bool,
    metrics: NodeMetrics | None = None,
    drain_timeout: float = 30.0,
) -> NodeRun:
    lane = settings.lane(lane_id)
    pipeline = components.lane_pipeline(settings, lane)
    with storage_endpoints(settings) as ep:
        keys = lane_keys(settings, embedded=bool(ep.embedded))
        creds: list[LaneCredentials] = []

        def connect() -> Archive:
            # The lane's own logins: write its crossings, read nothing back.
            if not creds:
                creds.append(lane_credentials(settings, ep, lane.id))
            archive = Archive(settings, ep, keys=keys, lane=creds[0])
            archive.register_lane(lane)
            return archive

        node = StoreAndForward(
            sealer=CrossingSealer(keys, bucket_prefix=settings.object_store.bucket_prefix),
            spool=Spool(
                settings.data_dir / "spool" / lane.id, max_bytes=settings.spool_max_mb * 2**20
            ),
            connect=connect,
            metrics=metrics,
            background=True,  # the cameras never wait on storage
        )
        try:
            node.drain()  # what an earlier run left behind
            bar = tqdm(desc=f"lane {lane.id}", unit="frame", disable=quiet, file=sys.stderr)

            def tick(_: Frame) -> None:
                bar.update(1)

            def health(found: list[SourceHealth], pipe: LanePipeline) -> None:
                if node.archive is None:
                    return  # storage down: health waits, captures spool
                try:
                    for h in found:
                        health_store.report(
                            node.archive.pool,
                            health_store.CameraHealth(
                                lane_id=lane.id,
                                camera_id=h.camera_id,
                                status="ok"
                                if h.connected and not h.last_error
                                else ("degraded" if h.connected else "down"),
                                fps=h.fps,
                                dropped_frames=h.frames_dropped,
                                detection_rate=pipe.detection_rate(h.camera_id),
                                last_error=h.last_error or "",
                            ),
                        )
                except UNAVAILABLE:
                    log.warning("lane health not reported: storage unreachable")

            previews = PreviewSealer(keys)

            def live(found: list[LiveRead]) -> None:
                for r in found:
                    node.preview(previews.seal(r))

            stats = run_lane(
                lane,
                pipeline,
                node.store,
                max_seconds=max_seconds,
                on_frame=tick,
                metrics=metrics,
                on_health=health,
                on_live=live,
            )
            bar.close()
            left = node.finish(timeout_s=drain_timeout)
        finally:
            node.close()
    return NodeRun(stats, node.spooled, node.replayed, node.outages, left, node.rejected)


def _report(run: NodeRun) -> None:
    stats = run.stats
    click.echo(
        f"frames analysed: {stats.frames}; crossings: {stats.crossings} "
        f"({stats.stored} stored, {stats.replays} already stored)"
        + (f"; {stats.repeats} dropped as the previous vehicle seen again" if stats.repeats else "")
    )
    if run.outages or run.spooled or run.left_in_spool:
        click.echo(
            f"storage outages: {run.outages}; spooled while down or behind: {run.spooled}; "
            f"forwarded: {run.replayed}; still in spool: {run.left_in_spool}"
        )
    if run.rejected:
        click.echo(
            f"error: {run.rejected} spooled crossing(s) refused by storage, kept in "
            "spool/<lane>/rejected/ with the reason beside each: report them to the agency",
            err=True,
        )
    for h in stats.health:
        err = f"; last error: {h.last_error}" if h.last_error else ""
        click.echo(
            f"  camera {h.camera_id}: {h.frames_read} frames read, {h.decode_errors} decode errors{err}"
        )


@click.command()
@click.option("--lane", "lane_id", required=True, help="Lane id from the settings file.")
@click.option(
    "--max-seconds", type=float, default=None, help="Stop after this long (live sources)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics on 127.0.0.1:PORT.",
)
@pass_ctx
@reports_errors
def run(
    ctx: Context, lane_id: str, max_seconds: float | None, quiet: bool, metrics_port: int | None
) -> None:
    """Run one lane: read its cameras and store a crossing per vehicle."""
    metrics = None
    if metrics_port is not None:
        metrics = NodeMetrics()
        metrics.serve(metrics_port)
    stats = _run(ctx.settings, lane_id, max_seconds=max_seconds, quiet=quiet, metrics=metrics)
    _report(stats)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    help="Where the demo keeps its services' data and footage.",
)
@click.option(
    "--detector",
    type=click.Choice(["paired", "yolo", "contour"]),
    default=None,
    help="Plate detector (default: as in seeds/demo.toml).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@reports_errors
def demo(data_dir: Path, detector: str | None, quiet: bool) -> None:
    """Render demo footage, run the demo lane on embedded services, list what it captured."""
    from lanecap.demo import render_demo

    data_dir = data_dir.resolve()
    footage = data_dir / "footage"
    render_demo(footage)
    seed = (SEEDS / "demo.toml").read_text(encoding="utf-8")
    (footage / "lane.toml").write_text(
        f"data_dir = {json.dumps(str(data_dir))}\n{seed}", encoding="utf-8"
    )
    settings = load_settings(footage / "lane.toml")
    if detector is not None:
        rec = settings.recognition.model_copy(update={"plate_detector": detector})
        settings = settings.model_copy(update={"recognition": rec})
    click.echo(f"demo footage rendered in {footage}")
    stats = _run(settings, settings.lanes[0].id, max_seconds=None, quiet=quiet)
    _report(stats)
    _list(settings, lane_id=None, limit=20, reason=None)
    cfg = footage / "lane.toml"
    click.echo(
        f"\nData is under {data_dir} (PostgreSQL and SeaweedFS). Plates are read by a named"
        " user (password + TOTP), e.g.:\n"
        f"  lanecap -c {cfg} users add NAME --role officer\n"
        f"  lanecap -c {cfg} crossings list --as NAME --reason 'demo review'"
    )


def _list(
    settings: Settings,
    *,
    lane_id: str | None,
    limit: int,
    reason: str | None,
    login: CliLogin | None = None,
) -> None:
    """Print crossings; plate texts are decrypted only with a reason, for a named user
    (each view audited and counted, see lanecap.cli.base)."""
    plates: dict[uuid.UUID, str | None] = {}
    with open_archive(settings) as archive:
        rows = list_crossings(archive.pool, lane_id=lane_id, limit=min(limit, MAX_LIST))
        if reason is not None:
            ids = [r.id for r in rows]
            plates = open_plates(
                settings, archive, ids, login=login or CliLogin(None), reason=reason
            )
    click.echo(
        f"{'started (UTC)':<20} {'lane':<10} {'plate':<10} {'conf':>5} {'face':<16} {'frames':>6} flags"
    )
    for r in rows:
        conf = f"{r.plate_conf:.2f}" if r.plate_conf is not None else "-"
        plate = plates.get(r.id) or ("-" if reason is not None else "(sealed)")
        click.echo(
            f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.lane_id:<10} {plate:<10} {conf:>5} "
            f"{r.face_status:<16} {r.n_frames:>6} {','.join(r.plate_flags)}"
        )
    click.echo(f"{len(rows)} crossing(s)")


@click.group()
def crossings() -> None:
    """Inspect stored crossings."""


@crossings.command("list")
@click.option("--lane", "lane_id", default=None, help="Only this lane.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIST),
    default=50,
    help="At most this many, newest first.",
)
@click.option(
    "--reason",
    default=None,
    help="Decrypt the plate texts (this host's private key, a named user: --as); each view"
    " is audited with REASON and counts against the user's read budget.",
)
@reader_login
@pass_ctx
@reports_errors
def list_cmd(
    ctx: Context, lane_id: str | None, limit: int, reason: str | None, login: CliLogin
) -> None:
    """List the newest crossings (plates stay sealed unless --reason is given)."""
    why = None if reason is None else cli_reason(reason)
    _list(ctx.settings, lane_id=lane_id, limit=limit, reason=why, login=login)
