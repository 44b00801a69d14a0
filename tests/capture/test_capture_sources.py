"""Sources: video files, image folders, streams, errors and credential scrubbing."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture import CaptureError, StreamOptions, open_source, scrub_url
from capture.stream_source import StreamSource

STREET_CLIP = Path("/work/shared/data/video/car-detection.mp4")
FPS = 10.0
N_FRAMES = 30


def _frame(i: int) -> np.ndarray:
    image = np.full((48, 64, 3), (i * 8) % 256, np.uint8)
    cv2.putText(image, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def _write_video(path: Path, fourcc: str, n: int = N_FRAMES, fps: float = FPS) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (64, 48))
    assert writer.isOpened(), f"cannot write {fourcc} video here"
    for i in range(n):
        writer.write(_frame(i))
    writer.release()
    return path


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_video(tmp_path_factory.mktemp("video") / "clip.mp4", "mp4v")


@pytest.fixture(scope="module")
def avi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_video(tmp_path_factory.mktemp("video") / "clip.avi", "MJPG")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- video files --------------------------------------------------------------


def test_video_file_yields_all_frames_with_file_timing(mp4: Path) -> None:
    with open_source(str(mp4), camera_id="cam1", start_time=1000.0) as source:
        frames = list(source)
        health = source.health()
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert frames[0].timestamp == pytest.approx(1000.0)
    assert frames[-1].timestamp == pytest.approx(1000.0 + (N_FRAMES - 1) / FPS)
    assert all(f.camera_id == "cam1" for f in frames)
    image = frames[0].image
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    assert health.kind == "file" and health.frames_read == N_FRAMES
    assert health.decode_errors == 0 and health.last_error is None
    assert health.last_frame_at is not None and not health.connected
    assert health.fps > 0


@pytest.mark.parametrize(
    ("sample_fps", "expected_indices"),
    [
        (5.0, list(range(0, N_FRAMES, 2))),
        (2.5, list(range(0, N_FRAMES, 4))),
        (1.0, [0, 10, 20]),
        (100.0, list(range(N_FRAMES))),
    ],
)
def test_sample_fps_subsamples_by_position(
    mp4: Path, sample_fps: float, expected_indices: list[int]
) -> None:
    with open_source(str(mp4), camera_id="c", sample_fps=sample_fps, start_time=0.0) as source:
        frames = list(source)
        assert source.health().frames_read == N_FRAMES
    assert [f.index for f in frames] == expected_indices
    assert [f.timestamp for f in frames] == pytest.approx([i / FPS for i in expected_indices])


def test_realtime_paces_file_frames(mp4: Path) -> None:
    start = time.monotonic()
    with open_source(str(mp4), camera_id="c", sample_fps=5.0, realtime=True) as source:
        frames = [next(source) for _ in range(4)]  # positions 0.0 .. 0.6 s
    assert time.monotonic() - start >= 0.55
    assert frames[-1].index == 6


def test_truncated_video_yields_frames_and_records_error(
    avi: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = avi.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING), open_source(str(cut), camera_id="c") as source:
        frames = list(source)
        health = source.health()
    assert 0 < len(frames) < N_FRAMES
    assert health.decode_errors >= 1
    assert health.last_error is not None and "truncated" in health.last_error
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_corrupt_middle_of_video_skips_and_counts(avi: Path, tmp_path: Path) -> None:
    data = bytearray(avi.read_bytes())
    third = len(data) // 3
    data[third : third + 1500] = bytes(1500)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    with open_source(str(broken), camera_id="c") as source:
        frames = list(source)
        health = source.health()
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert 0 < len(frames) < N_FRAMES
    assert health.decode_errors >= 1


def test_mp4_cut_before_its_index_cannot_be_opened(mp4: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4.read_bytes()[:2000])
    with pytest.raises(CaptureError, match="cannot open video file") as info:
        open_source(str(cut), camera_id="front")
    assert info.value.camera_id == "front"
    assert info.value.source == str(cut)


def test_not_a_video_raises(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(CaptureError, match="ffprobe"):
        open_source(str(junk), camera_id="c")


def test_missing_path_error_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(CaptureError) as info:
        open_source(str(missing), camera_id="rear")
    message = str(info.value)
    assert "no such video file or image folder" in message
    assert "check the path" in message and "rear" in message
    assert info.value.camera_id == "rear" and info.value.source == str(missing)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"camera_id": ""}, "camera_id is empty"),
        ({"camera_id": "c", "sample_fps": 0.0}, "sample_fps"),
        ({"camera_id": "c", "sample_fps": float("nan")}, "sample_fps"),
    ],
)
def test_invalid_arguments(mp4: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(CaptureError, match=match):
        open_source(str(mp4), **kwargs)  # type: ignore[arg-type]


def test_unsupported_scheme() -> None:
    with pytest.raises(CaptureError, match="unsupported source ftp://\\*\\*\\*@host") as info:
        open_source("ftp://bob:hunter2@host/x.mp4", camera_id="c")
    assert "hunter2" not in str(info.value)
    assert info.value.source == "ftp://***@host/x.mp4"


# -- image folders ------------------------------------------------------------


def test_image_folder_skips_corrupt_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in (1, 2, 10):  # natural order: 1, 2, 3, 10
        assert cv2.imwrite(str(tmp_path / f"frame{i}.png"), _frame(i))
    assert cv2.imwrite(str(tmp_path / "frame0.JPG"), _frame(0))
    good = (tmp_path / "frame1.png").read_bytes()
    (tmp_path / "frame3.png").write_bytes(good[: len(good) // 3])  # truncated PNG
    (tmp_path / "readme.txt").write_text("not an image")
    with (
        caplog.at_level(logging.WARNING),
        open_source(str(tmp_path), camera_id="cam", sample_fps=4.0, start_time=50.0) as source,
    ):
        frames = list(source)
        health = source.health()
    names = ["frame0", "frame1", "frame2", "frame3", "frame10"]
    assert [f.index for f in frames] == [0, 1, 2, 4]
    assert [f.timestamp for f in frames] == pytest.approx([50.0, 50.25, 50.5, 51.0])
    assert health.kind == "folder" and health.frames_read == 4 and health.decode_errors == 1
    assert health.last_error is not None and "frame3.png" in health.last_error
    assert any(names[3] in r.getMessage() for r in caplog.records)


def test_image_folder_default_spacing(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.bmp"), _frame(i))
    with open_source(str(tmp_path), camera_id="c", start_time=0.0) as source:
        assert [f.timestamp for f in source] == pytest.approx([0.0, 0.1, 0.2])


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no images"):
        open_source(str(tmp_path), camera_id="c")


# -- credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://user:pass@host/stream", "rtsp://***@host/stream"),
        ("rtsps://admin:p@ss:w0rd@10.0.0.5:322/ch1", "rtsps://***@10.0.0.5:322/ch1"),
        ("http://admin@cam.local/mjpg", "http://***@cam.local/mjpg"),
        ("https://cam/x?user=a&password=s3cret&ch=1", "https://cam/x?user=***&password=***&ch=1"),
        ("rtsp://host:554/stream", "rtsp://host:554/stream"),
        ("/data/video/clip.mp4", "/data/video/clip.mp4"),
        ("http://host/path?mail=a@b.c", "http://host/path?mail=a@b.c"),
        (
            "cannot open rtsp://u:pw@a/1 and http://v:pw2@b/2",
            "cannot open rtsp://***@a/1 and http://***@b/2",
        ),
    ],
)
def test_scrub_url(text: str, expected: str) -> None:
    assert scrub_url(text) == expected


# -- live streams --------------------------------------------------------------


def test_rtsp_closed_port_fails_fast_into_health(caplog: pytest.LogCaptureFixture) -> None:
    url = f"rtsp://admin:topsecret@127.0.0.1:{_free_port()}/live"
    options = StreamOptions(backoff_initial=0.05, backoff_max=0.2, open_timeout=1.0)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="capture"):
        source = open_source(url, camera_id="gate", stream_options=options)
        try:
            assert time.monotonic() - started < 0.5  # opening never blocks
            deadline = time.monotonic() + 4.0
            while source.health().reconnects < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert source.read(timeout=0.1) is None
            health = source.health()
        finally:
            source.close()
    assert time.monotonic() - started < 5.0
    assert health.kind == "stream" and not health.connected
    assert health.reconnects >= 3 and health.frames_read == 0
    assert health.source == f"rtsp://***@127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert health.last_error is not None and "cannot open" in health.last_error
    assert "***@" in health.last_error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "reconnecting" in logged and "topsecret" not in logged
    assert "topsecret" not in repr(health)
    assert source.closed and list(source) == []


class _FakeCapture:
    """Delivers `n` frames (optionally blocking after them), then fails."""

    def __init__(self, n: int, *, stall: threading.Event | None = None, delay: float = 0.0):
        self.n = n
        self.stall = stall
        self.delay = delay
        self.released = False

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, object]:
        if self.n <= 0:
            if self.stall is not None:
                self.stall.wait(5.0)
            return False, None
        self.n -= 1
        if self.delay:
            time.sleep(self.delay)
        return True, np.zeros((8, 8, 3), np.uint8)

    def release(self) -> None:
        self.released = True


def _wait_for(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_stream_drops_oldest_frames_when_consumer_is_slow() -> None:
    captures: list[_FakeCapture] = []

    def opener() -> _FakeCapture:
        captures.append(_FakeCapture(20 if not captures else 0))
        return captures[-1]

    options = StreamOptions(queue_size=4, backoff_initial=5.0)
    source = StreamSource(
        source="rtsp://u:p@cam/1", camera_id="c", kind="stream", opener=opener, options=options
    )
    try:
        _wait_for(lambda: source.health().frames_read == 20)
        frames = [source.read(timeout=1.0) for _ in range(4)]
        health = source.health()
    finally:
        source.close()
    assert [f.index for f in frames if f is not None] == [16, 17, 18, 19]
    assert health.frames_dropped == 16
    assert health.last_error is not None and "stopped delivering" in health.last_error
    assert captures[0].released


def test_stream_watchdog_reconnects_a_stalled_stream() -> None:
    release = threading.Event()
    captures: list[_FakeCapture] = []

    def opener() -> _FakeCapture:
        captures.append(_FakeCapture(3, stall=release, delay=0.01))
        return captures[-1]

    options = StreamOptions(stall_timeout=0.3, backoff_initial=0.05, poll_interval=0.05)
    source = StreamSource(
        source="rtsp://cam/1", camera_id="c", kind="stream", opener=opener, options=options
    )
    try:
        _wait_for(lambda: len(captures) >= 2 and source.health().frames_read >= 6)
        health = source.health()
        got = [source.read(timeout=1.0) for _ in range(6)]
    finally:
        release.set()
        source.close()
    assert health.reconnects >= 1 and health.frames_read >= 6
    assert health.last_error is not None and "stalled" in health.last_error
    assert [f.index for f in got if f is not None] == list(range(6))
    assert all(f is not None and f.timestamp > 1e9 for f in got)  # wall clock


def test_device_source_kind() -> None:
    source = open_source(
        "device:97", camera_id="usb", stream_options=StreamOptions(backoff_initial=5.0)
    )
    try:
        assert source.kind == "device" and source.source == "device:97"
    finally:
        source.close()


# -- the real street clip -------------------------------------------------------


@pytest.mark.skipif(not STREET_CLIP.exists(), reason=f"street clip not present at {STREET_CLIP}")
def test_street_clip_with_sample_fps() -> None:
    with open_source(
        str(STREET_CLIP), camera_id="street", sample_fps=2.0, start_time=0.0
    ) as source:
        frames = list(source)
        health = source.health()
    assert 55 <= len(frames) <= 62  # ~30 s at 2 fps
    deltas = np.diff([f.timestamp for f in frames])
    frame_step = 1.0 / 12.5  # the clip's frame rate: sampling snaps to its frames
    assert deltas.min() >= 0.5 - frame_step - 1e-6 and deltas.max() <= 0.5 + frame_step + 1e-6
    assert float(deltas.mean()) == pytest.approx(0.5, abs=0.01)
    assert frames[0].image.shape[2] == 3 and frames[0].image.dtype == np.uint8
    assert health.decode_errors == 0 and health.last_error is None
