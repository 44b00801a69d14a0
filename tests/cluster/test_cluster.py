"""The one-machine cluster (`lanecap.services.cluster`) and faults on it.

One cluster for the module: a SeaweedFS master, three volume servers (replication 001), a
filer and the S3 gateway; a PostgreSQL primary and a streaming replica. Each fault test ends
with counts: written = readable, stored = produced, none duplicated.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from lanecap.archive import Archive, CrossingSealer
from lanecap.config import LaneConfig, Settings, settings_from_dict
from lanecap.forward import StoreAndForward
from lanecap.keys import lane_keys
from lanecap.pipeline import Crossing, PlateSighting
from lanecap.services.cluster import EmbeddedCluster
from lanecap.services.runtime import Endpoints
from lanecap.spool import Spool
from recognition.plates.vote import Vote
from recognition.types import Box, PlateDetection, PlateRead
from storage import search as repo
from storage.db import ReadPool
from storage.objects import ObjectStore

pytestmark = pytest.mark.cluster

PREFIX = "clu"
LANE = LaneConfig.model_validate(
    {"id": "cluster-lane", "cameras": [{"id": "cc", "role": "front_plate", "source": "x"}]}
)


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    # Not under pytest's basetemp: a concurrent pytest run may rotate that away while the
    # cluster still runs from it (the replica lost its passfile that way).
    data = Path(tempfile.mkdtemp(prefix="lanecap-cluster-"))
    yield settings_from_dict(
        {"data_dir": str(data), "object_store": {"bucket_prefix": PREFIX}}, env={}
    )
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(data_dir=settings.data_dir)
    took = c.start()
    print(f"\ncluster started in {took:.1f} s")
    try:
        yield c
    finally:
        t0 = time.monotonic()
        c.stop()
        print(f"cluster stopped in {time.monotonic() - t0:.1f} s")


@pytest.fixture(scope="module")
def endpoints(cluster: EmbeddedCluster) -> Endpoints:
    return Endpoints(
        database_url=cluster.database_url(),
        admin_url=cluster.admin_url(),
        s3_endpoint=cluster.s3_endpoint,
        s3_access_key=cluster.state.s3_access_key,
        s3_secret_key=cluster.state.s3_secret_key,
        s3_secure=False,
        s3_region=None,
        embedded=(),
    )


@pytest.fixture(scope="module")
def store(cluster: EmbeddedCluster) -> ObjectStore:
    s = ObjectStore(
        endpoint=cluster.s3_endpoint,
        access_key=cluster.state.s3_access_key,
        secret_key=cluster.state.s3_secret_key,
        secure=False,
        region=None,
        bucket_prefix=PREFIX,
    )
    s.ensure_buckets(object_lock=True)
    return s


def _crossing(i: int) -> Crossing:
    crop = np.full((40, 160, 3), 200, np.uint8)
    crop[10:30, 10 + 10 * (i % 10) : 30 + 10 * (i % 10)] = 0
    det = PlateDetection(Box(10, 10, 170, 50), 0.9)
    read = PlateRead(f"CLU{i:04d}", 0.9, (0.9,) * 7)
    sighting = PlateSighting("cc", "front_plate", 1000.0 + i, det, read, crop)
    return Crossing(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"cluster-{i}"),
        lane_id=LANE.id,
        started_at=1000.0 + i,
        ended_at=1000.5 + i,
        plate=Vote(read.text, 0.9, read.char_confidences, 1),
        plate_flags=(),
        plates=(sighting,),
        best_plate=sighting,
        driver=None,
        face_status="no_driver_camera",
        n_frames=1,
    )


def _copies(cluster: EmbeddedCluster, bucket: str) -> list[int]:
    return [n for (coll, _), n in cluster.volume_copies().items() if coll == bucket]


def _put(client: object, bucket: str, key: str, data: bytes, *, timeout: float = 30) -> int:
    """Put until the gateway acknowledges it (as a lane node would); returns failed tries."""
    failed = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.put_object(bucket, key, io.BytesIO(data), len(data))  # type: ignore[attr-defined]
            return failed
        except Exception:
            failed += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_cluster_runs_closed_and_replicates(cluster: EmbeddedCluster, store: ObjectStore) -> None:
    assert all(cluster.status().values()), cluster.status()
    assert len(cluster.volume_servers()) == 3
    assert all(store.object_lock_enabled(b) for b in store.bucket_names())
    bucket = store.bucket_names()[0]
    client = cluster.s3_client()
    blobs = {f"a/{i}": hashlib.sha256(str(i).encode()).digest() * 64 for i in range(20)}
    for key, data in blobs.items():
        _put(client, bucket, key, data)
    read = sum(client.get_object(bucket, k).read() == v for k, v in blobs.items())
    copies = _copies(cluster, bucket)
    print(f"\nwritten {len(blobs)}, read back {read}; volumes {len(copies)}, copies {copies}")
    assert read == len(blobs)
    assert copies and all(n == 2 for n in copies)
    # The master answers only weed's own certificate: plain HTTP and TLS without it fail.
    url = f"127.0.0.1:{cluster.port('master')}/dir/status"
    with pytest.raises(urllib.error.HTTPError):  # 400: plain HTTP to a TLS port
        urllib.request.urlopen(f"http://{url}", timeout=3)
    ctx = ssl.create_default_context(cafile=str(cluster.conf_dir / "ca.pem"))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"https://{url}", context=ctx, timeout=3)


def test_lane_identity_on_the_gateway_only_puts_under_its_prefix(
    cluster: EmbeddedCluster, store: ObjectStore
) -> None:
    from minio import Minio
    from minio.error import S3Error

    buckets = store.bucket_names()
    t0 = time.monotonic()
    cluster.provision_lane("gate-1", "lngate1access", "gate-1-secret-" + "x" * 20, buckets)
    took = time.monotonic() - t0
    lane = Minio(cluster.s3_endpoint, "lngate1access", "gate-1-secret-" + "x" * 20, secure=False)
    _put(lane, buckets[0], "gate-1/a", b"lane data", timeout=5)
    refused = 0
    for attempt in (
        lambda: lane.put_object(buckets[0], "other/a", io.BytesIO(b"x"), 1),
        lambda: lane.get_object(buckets[0], "gate-1/a"),
        lambda: lane.remove_object(buckets[0], "gate-1/a"),
    ):
        with pytest.raises(S3Error, match="AccessDenied"):
            attempt()
        refused += 1
    owner = cluster.s3_client()
    assert owner.get_object(buckets[0], "gate-1/a").read() == b"lane data"
    print(f"\nlane identity applied in {took * 1000:.0f} ms; 1 put allowed, {refused} refused")


def test_volume_server_killed_mid_writes_loses_nothing(
    cluster: EmbeddedCluster, store: ObjectStore
) -> None:
    bucket = store.bucket_names()[1]
    client = cluster.s3_client()
    acked: dict[str, bytes] = {}
    failed = [0]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 1000:
            data = hashlib.sha256(f"b{i}".encode()).digest() * 128
            failed[0] += _put(client, bucket, f"b/{i:04d}", data)
            acked[f"b/{i:04d}"] = data
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        while len(acked) < 30 and t.is_alive():
            time.sleep(0.02)
        before = len(acked)
        cluster.kill("volume2")
        killed_at = time.monotonic()
        # volumes that lost their copy on volume2, once the master has noticed (about 1 s
        # idle; longer on a loaded machine)
        dead_copies = _copies(cluster, bucket)
        while 1 not in dead_copies and time.monotonic() - killed_at < 15:
            time.sleep(0.25)
            dead_copies = _copies(cluster, bucket)
        while (len(acked) < before + 40 or time.monotonic() - killed_at < 3) and t.is_alive():
            time.sleep(0.02)
        after_kill = len(acked) - before
        stop.set()
    finally:
        stop.set()
        t.join(timeout=60)
    writes_took = time.monotonic() - killed_at
    readable = sum(client.get_object(bucket, k).read() == v for k, v in acked.items())
    print(
        f"\nacknowledged {len(acked)} ({before} before the kill, {after_kill} in the"
        f" {writes_took:.1f} s after), failed tries {failed[0]}, readable with volume2"
        f" dead {readable}; copies while it was dead {dead_copies}"
    )
    assert 1 in dead_copies  # the kill did take copies away
    assert after_kill >= 40 and readable == len(acked)
    cluster.restart("volume2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(n == 2 for n in _copies(cluster, bucket)):
        time.sleep(0.5)
    copies = _copies(cluster, bucket)
    readable = sum(client.get_object(bucket, k).read() == v for k, v in acked.items())
    print(f"volume2 back: volumes {len(copies)}, copies {copies}, readable {readable}")
    assert readable == len(acked)
    assert all(n == 2 for n in copies)


def _on_replica(pool: ReadPool) -> bool:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


def _recent(pool: ReadPool) -> int:
    return len(repo.search_crossings(pool, filters=repo.Filters(lane_id=LANE.id), limit=200).hits)


def _wait_count(pool: ReadPool, n: int, *, timeout: float = 15) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if _recent(pool) >= n:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} crossings after {timeout} s")


def test_replica_streams_and_searches_survive_its_stop(
    cluster: EmbeddedCluster, settings: Settings, endpoints: Endpoints
) -> None:
    keys = lane_keys(settings, embedded=True)
    archive = Archive(settings, endpoints, keys=keys)
    archive.register_lane(LANE)
    pool = ReadPool(cluster.read_url(), archive.pool, connect_timeout=1.0, retry_after_s=0.5)
    pool.open(wait=True, timeout=10)
    try:
        for i in range(5):
            archive.store(_crossing(i))
        lag = _wait_count(pool, 5)
        assert _on_replica(pool) and not pool.on_primary
        print(f"\n5 crossings on the replica {lag * 1000:.0f} ms after the last commit")

        cluster.stop_component("pg-replica")
        t0 = time.monotonic()
        found_down = _recent(pool)
        first = time.monotonic() - t0
        t0 = time.monotonic()
        assert _recent(pool) == found_down
        second = time.monotonic() - t0
        assert pool.on_primary and not _on_replica(pool)
        for i in range(5, 8):
            archive.store(_crossing(i))
        during = _recent(pool)
        print(
            f"replica stopped: search found {found_down} (first search {first * 1000:.0f} ms,"
            f" next {second * 1000:.0f} ms, from the primary); after 3 more stored {during}"
        )
        assert (found_down, during) == (5, 8)

        cluster.start_component("pg-replica")
        t0 = time.monotonic()
        # The pool reconnects in the background with backoff; reads stay on the primary
        # until it has a replica connection again.
        while not _on_replica(pool) and time.monotonic() - t0 < 30:
            time.sleep(0.2)
        back = time.monotonic() - t0
        assert _on_replica(pool) and not pool.on_primary
        lag = _wait_count(pool, 8)
        print(
            f"replica back: reads on it again after {back:.1f} s, {_recent(pool)} crossings"
            f" on it ({lag * 1000:.0f} ms more to catch up)"
        )
        assert _recent(pool) == 8
    finally:
        pool.close()
        archive.close()


def test_read_pool_opens_with_its_replica_down(
    cluster: EmbeddedCluster, settings: Settings, endpoints: Endpoints
) -> None:
    from lanecap.services.state import free_port
    from storage.db import open_pool, open_read_pool

    primary = open_pool(cluster.database_url(), size=1)
    dead = cluster.read_url().replace(f":{cluster.port('pg-replica')}/", f":{free_port()}/")
    pool = open_read_pool(dead, primary, connect_timeout=0.5)
    try:
        t0 = time.monotonic()
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        took = time.monotonic() - t0
        assert pool.on_primary and took < 3
        print(f"\nreplica never up: first read from the primary after {took * 1000:.0f} ms")
    finally:
        pool.close()
        primary.close()


def test_primary_restart_mid_run_spools_and_replays_once(
    cluster: EmbeddedCluster, settings: Settings, endpoints: Endpoints, tmp_path: Path
) -> None:
    keys = lane_keys(settings, embedded=True)

    def connect() -> Archive:
        a = Archive(settings, endpoints, keys=keys)
        a.register_lane(LANE)
        return a

    node = StoreAndForward(
        sealer=CrossingSealer(keys, bucket_prefix=PREFIX),
        spool=Spool(tmp_path / "spool"),
        connect=connect,
        retry_s=0.2,
    )
    produced = [_crossing(100 + i) for i in range(12)]
    for c in produced[:4]:
        assert node.store(c) is True
    cluster.stop_component("pg-primary")
    t0 = time.monotonic()
    try:
        for c in produced[4:8]:
            assert node.store(c) is True  # into the spool
            time.sleep(0.5)
        spooled = len(node.spool)
    finally:
        cluster.start_component("pg-primary")
    down = time.monotonic() - t0
    for c in produced[8:]:
        node.store(c)
    assert node.finish(timeout_s=30) == 0
    node.close()
    ids = [c.id for c in produced]
    check = Archive(settings, endpoints, keys=keys)
    try:
        with check.pool.connection() as conn:
            rows = conn.execute(
                "SELECT count(*), count(DISTINCT id) FROM crossings WHERE id = ANY(%s)", (ids,)
            ).fetchone()
            objects = conn.execute(
                "SELECT count(*) FROM objects WHERE crossing_id = ANY(%s)", (ids,)
            ).fetchone()
    finally:
        check.close()
    t0 = time.monotonic()
    replica_rows: tuple[int, ...] | None = None
    while time.monotonic() - t0 < 15 and replica_rows != (len(produced),):
        with psycopg.connect(cluster.read_url(), connect_timeout=3) as conn:
            replica_rows = conn.execute(
                "SELECT count(*) FROM crossings WHERE id = ANY(%s)", (ids,)
            ).fetchone()
        time.sleep(0.1)
    print(
        f"\nprimary down {down:.1f} s: produced {len(produced)}, spooled {spooled},"
        f" replayed {node.replayed}, outages {node.outages}; stored {rows}, objects {objects};"
        f" on the replica {replica_rows} after {time.monotonic() - t0:.1f} s"
    )
    assert replica_rows == (len(produced),)
    assert spooled == 4 and node.replayed >= 4
    assert rows == (len(produced), len(produced))
    assert objects == (len(produced),)


def test_cli_start_and_status_print_what_a_site_sets(
    cluster: EmbeddedCluster, settings: Settings, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from lanecap.cli import main

    cfg = tmp_path / "s.toml"
    cfg.write_text(f'data_dir = "{settings.data_dir}"\n')
    runner = CliRunner()
    started = runner.invoke(main, ["-c", str(cfg), "services", "start", "--cluster"])
    assert started.exit_code == 0, started.output
    assert f"LANECAP_S3_ENDPOINT={cluster.s3_endpoint}" in started.output
    assert cluster.state.pg_app_password not in started.output  # secrets only in site.env
    env_file = cluster.root / "site.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert f"LANECAP_DATABASE_READ_URL={cluster.read_url()}" in env_file.read_text()
    status = runner.invoke(main, ["-c", str(cfg), "services", "status", "--cluster"])
    assert status.exit_code == 0, status.output
    print("\n" + status.output)
    assert status.output.count("running") == 8
    assert "lanecap_replica streaming" in status.output
    assert "0 with fewer than 2 copies" in status.output


def test_api_searches_read_the_replica_and_survive_its_stop(
    cluster: EmbeddedCluster, settings: Settings, endpoints: Endpoints
) -> None:
    import httpx

    from lanecap.api import create_app
    from lanecap.api.services import build_services
    from lanecap.api.testing import ServerThread, login, make_account

    keys = lane_keys(settings, embedded=True)
    site = settings.model_copy(
        update={"database": settings.database.model_copy(update={"read_url": cluster.read_url()})}
    )
    archive = Archive(settings, endpoints, keys=keys)
    svc = build_services(site, endpoints)
    try:
        assert isinstance(svc.search_pool, ReadPool)
        assert svc.opener.read_pool is svc.search_pool  # type: ignore[attr-defined]
        with svc.search_pool.connection() as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with svc.pool.connection() as conn:  # writes (audit) stay on the primary
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        officer = make_account(archive, svc.trail, role="officer")
        with (
            ServerThread(create_app(site, svc)) as srv,
            httpx.Client(base_url=srv.url, timeout=20) as client,
        ):
            login(client, officer)

            def search() -> tuple[int, int]:
                r = client.get(
                    "/api/search/crossings",
                    params={"reason": "cluster check", "lane": LANE.id, "limit": 200},
                )
                return r.status_code, len(r.json().get("items", []))

            def recent() -> tuple[int, int]:
                r = client.get(f"/api/lanes/{LANE.id}/recent", params={"limit": 5})
                return r.status_code, len(r.json()) if r.status_code == 200 else -1

            with_replica = (search(), recent())
            cluster.stop_component("pg-replica")
            try:
                without = (search(), recent())
                on_primary = svc.search_pool.on_primary  # type: ignore[attr-defined]
            finally:
                cluster.start_component("pg-replica")
        print(
            f"\nAPI search (status, hits) and booth recent: replica up {with_replica},"
            f" replica stopped {without} (reads on the primary: {on_primary})"
        )
        assert with_replica[0][0] == 200 and with_replica[0][1] > 0
        assert without == with_replica and on_primary
    finally:
        svc.close()
        archive.close()
