"""`lanecap load`: how many lanes at what frame rate one node sustains."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from lanecap import components
from lanecap.archive import Archive
from lanecap.cli.base import Context, pass_ctx, reports_errors
from lanecap.config import LaneConfig
from lanecap.demo import render_demo
from lanecap.load import run_load
from lanecap.pipeline import LanePipeline
from lanecap.services.runtime import storage_endpoints


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1 or max(values) > 64:
        raise click.BadParameter("lane counts must be between 1 and 64")
    return values


@click.command()
@click.option("--lanes", "lanes_text", default="1,2,4", help="Lane counts to try, comma-separated.")
@click.option(
    "--fps",
    type=click.FloatRange(0.5, 30),
    default=5.0,
    help="Analysed frames per second per lane.",
)
@click.option(
    "--gap",
    type=click.FloatRange(0.2, 10),
    default=1.0,
    help="Seconds without a sighting that end a vehicle.",
)
@pass_ctx
@reports_errors
def load(ctx: Context, lanes_text: str, fps: float, gap: float) -> None:
    """Replay the demo clip on N lanes in real time against one store; find the knee.

    Latency is from a vehicle's last frame to its crossing being stored, and
    includes the --gap seconds the tracker waits to decide the vehicle left.
    """
    settings = ctx.settings
    counts = _ints(lanes_text)
    detector = components.plate_detector(settings)
    reader = components.plate_reader(settings)

    def make(lane: LaneConfig) -> LanePipeline:
        return LanePipeline(
            lane,
            detector=detector,
            reader=reader,
            faces=None,
            min_score=settings.recognition.plate_min_score,
        )

    with (
        tempfile.TemporaryDirectory(prefix="lanecap-load-") as tmp,
        storage_endpoints(settings) as ep,
    ):
        clip = render_demo(Path(tmp))["front"]
        archive = Archive(settings, ep)
        try:
            for n in range(max(counts)):
                archive.register_lane(
                    LaneConfig.model_validate(
                        {
                            "id": f"load-{n}",
                            "cameras": [
                                {
                                    "id": f"load-{n}-front",
                                    "role": "front_plate",
                                    "source": str(clip),
                                }
                            ],
                        }
                    )
                )
            click.echo(
                f"{'lanes':>5} {'fps':>5} {'offered':>8} {'analysed':>8} {'dropped':>7} {'stored':>6} "
                f"{'lat p50':>8} {'lat p95':>8} {'cpu %':>6} {'rss MB':>7} sustained"
            )
            for n in counts:
                r = run_load(
                    clip=clip,
                    lanes=n,
                    fps=fps,
                    make_pipeline=make,
                    store=archive.store,
                    vehicle_gap_s=gap,
                )
                click.echo(
                    f"{r.lanes:>5} {r.fps:>5.1f} {r.frames_offered:>8} {r.frames_processed:>8} {r.frames_dropped:>7} "
                    f"{r.stored:>6} {r.latency_p50_s:>7.2f}s {r.latency_p95_s:>7.2f}s {r.cpu_percent:>6.0f} "
                    f"{r.rss_mb:>7.0f} {'yes' if r.sustained else 'NO'}"
                )
        finally:
            archive.close()
