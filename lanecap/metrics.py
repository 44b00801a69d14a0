"""Prometheus metrics of a lane node, served on loopback by `lanecap run --metrics-port`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from capture.types import SourceHealth


class NodeMetrics:
    """One registry per node (tests create their own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("lanecap_frames_analysed", "Frames analysed", ["camera"], registry=r)
        self.crossings = Counter(
            "lanecap_crossings", "Crossings closed", ["lane", "outcome"], registry=r
        )
        self.store_seconds = Histogram(
            "lanecap_store_seconds",
            "Seconds to store one crossing (S3 + PostgreSQL)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.connected = Gauge(
            "lanecap_camera_connected", "1 when the camera delivers frames", ["camera"], registry=r
        )
        self.fps = Gauge("lanecap_camera_fps", "Frames read per second", ["camera"], registry=r)
        self.dropped = Gauge(
            "lanecap_camera_frames_dropped",
            "Frames dropped by a slow consumer",
            ["camera"],
            registry=r,
        )
        self.decode_errors = Gauge(
            "lanecap_camera_decode_errors", "Unreadable frames", ["camera"], registry=r
        )
        self.spool_files = Gauge(
            "lanecap_spool_crossings", "Crossings waiting in the local spool", registry=r
        )
        self.spool_full = Gauge("lanecap_spool_fill_ratio", "Spool bytes used / bound", registry=r)
        self.reconnects = Gauge(
            "lanecap_camera_reconnects", "Reconnection attempts", ["camera"], registry=r
        )

    def camera(self, h: SourceHealth) -> None:
        self.connected.labels(h.camera_id).set(1 if h.connected else 0)
        self.fps.labels(h.camera_id).set(h.fps)
        self.dropped.labels(h.camera_id).set(h.frames_dropped)
        self.decode_errors.labels(h.camera_id).set(h.decode_errors)
        self.reconnects.labels(h.camera_id).set(h.reconnects)

    def serve(self, port: int, *, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
