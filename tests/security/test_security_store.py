"""Finding 3, a closed object store: the embedded SeaweedFS answers only on its S3 port, and a
lane node's S3 identity may only add objects under its own prefix.

Before: the filer (base+3) listed buckets and `DELETE /buckets/<b>/<key>.versions/v_<id>`
removed a legally held version (204) that S3 refused to delete; the master's
`/col/delete?collection=<b>` dropped a whole object-locked bucket (204); volume and admin
ports and every gRPC port served anyone on the machine. Each test below replays one attack
against a real `weed mini` started for this module, and shows what stops it now.
"""

from __future__ import annotations

import datetime
import http.client
import io
import json
import os
import secrets
import socket
import ssl
import stat
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import ENABLED, GOVERNANCE, CopySource, Filter, Tags
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.retention import Retention
from minio.versioningconfig import SUSPENDED, VersioningConfig

from lanecap.errors import ServiceError
from lanecap.services.seaweed import EmbeddedSeaweed
from lanecap.services.state import free_port
from storage.errors import StorageError
from storage.objects import ObjectStore

LANE, OTHER = "north", "south"
OFFSETS = tuple(range(1, 6)) + tuple(10000 + i for i in range(6))


@dataclass(frozen=True)
class Held:
    """One object version under lane north's prefix; `loose` is one without a hold, so that
    a refused delete shows the identity's limits, not the hold's."""

    bucket: str
    key: str
    version: str
    loose_key: str
    loose_version: str


@dataclass
class Store:
    weed: EmbeddedSeaweed
    admin: ObjectStore
    held: Held
    lane_keys: dict[str, tuple[str, str]]

    def lane(self, lane_id: str = LANE) -> Minio:
        access, secret = self.lane_keys[lane_id]
        return Minio(self.weed.endpoint, access, secret, secure=False)

    def lane_store(self, lane_id: str = LANE) -> ObjectStore:
        access, secret = self.lane_keys[lane_id]
        return ObjectStore(
            endpoint=self.weed.endpoint,
            access_key=access,
            secret_key=secret,
            secure=False,
            bucket_prefix=self.admin.prefix,
        )

    def fresh(self) -> EmbeddedSeaweed:
        """Another handle on the same server, as `lane_credentials()` makes one."""
        w = self.weed
        return EmbeddedSeaweed(
            data_dir=w.root.parent,
            base_port=w.base,
            access_key=w.access_key,
            secret_key=w.secret_key,
        )

    def evidence_intact(self) -> None:
        h, client = self.held, self.admin.client
        for key, version in ((h.key, h.version), (h.loose_key, h.loose_version)):
            resp = client.get_object(h.bucket, key, version_id=version)
            try:
                assert resp.read() == b"evidence"
            finally:
                resp.close()
                resp.release_conn()
            latest = client.stat_object(h.bucket, key)  # no delete marker on top
            assert latest.version_id == version
        assert client.is_object_legal_hold_enabled(h.bucket, h.key, version_id=h.version)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    data = tmp_path_factory.mktemp("store")
    weed = EmbeddedSeaweed(
        data_dir=data,
        base_port=free_port(also_free=OFFSETS),
        access_key="lc" + secrets.token_hex(9),
        secret_key=secrets.token_urlsafe(30),
    )
    weed.start()
    try:
        admin = ObjectStore(
            endpoint=weed.endpoint,
            access_key=weed.access_key,
            secret_key=weed.secret_key,
            secure=False,
            bucket_prefix="sec" + secrets.token_hex(3),
        )
        admin.ensure_buckets(object_lock=True)
        bucket = admin.bucket("plates")
        key, loose = (f"{LANE}/2026/01/02/{uuid.uuid4()}/plate.jpg" for _ in range(2))
        put = admin.client.put_object(bucket, key, io.BytesIO(b"evidence"), 8)
        put_loose = admin.client.put_object(bucket, loose, io.BytesIO(b"evidence"), 8)
        assert put.version_id and put_loose.version_id  # Object Lock implies versioning
        admin.client.enable_object_legal_hold(bucket, key, version_id=put.version_id)
        held = Held(bucket, key, put.version_id, loose, put_loose.version_id)
        keys = {
            lane: ("ln" + secrets.token_hex(9), secrets.token_hex(20)) for lane in (LANE, OTHER)
        }
        s = Store(weed=weed, admin=admin, held=held, lane_keys=keys)
        s.fresh().provision_lane(LANE, *keys[LANE], admin.bucket_names())
        yield s
    finally:
        weed.stop()


# -- raw clients an attacker on the machine has: plain HTTP, TLS without a certificate --------


def _plain(port: int, method: str, path: str) -> int | str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException) as err:
        return type(err).__name__
    finally:
        conn.close()


def _tls_context(weed: EmbeddedSeaweed | None) -> ssl.SSLContext:
    """Without weed: an attacker's client (trusts anything, no certificate). With weed: the
    certificate lanecap gave weed, the positive control."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if weed is not None:
        ctx.load_cert_chain(weed.conf_dir / "weed.pem", weed.conf_dir / "weed.key")
    return ctx


def _tls(port: int, method: str, path: str, *, cert: EmbeddedSeaweed | None = None) -> int | str:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=_tls_context(cert))
    try:
        conn.request(method, path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException) as err:
        return type(err).__name__  # SSLError (certificate required), ConnectionResetError
    finally:
        conn.close()


def _refused(answer: int | str) -> bool:
    """No answer, or an answer that is neither success nor a redirect."""
    return isinstance(answer, str) or answer >= 400


def _listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state whose socket is one of pid's open files (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_weed_listens_on_loopback_ports_we_know_only(store: Store) -> None:
    pid = store.weed._pid()
    assert pid is not None
    want = set(store.weed.ports().values())
    deadline = time.monotonic() + 20  # weed opens its last ports a moment after S3 answers
    while _listening_ports(pid) != want and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _listening_ports(pid) == want


# -- (i) the filer -------------------------------------------------------------------------


def _filer_attacks(h: Held) -> list[tuple[str, str]]:
    version = f"/buckets/{h.bucket}/{h.key}.versions/v_{h.version}"
    return [
        ("GET", "/buckets/"),
        ("GET", f"/buckets/{h.bucket}/{h.key.rsplit('/', 1)[0]}/"),
        ("GET", f"/buckets/{h.bucket}/{h.key}.versions/"),
        ("GET", version),
        ("DELETE", version),
        ("DELETE", f"/buckets/{h.bucket}/{h.key}.versions/?recursive=true"),
        ("DELETE", f"/buckets/{h.bucket}?recursive=true&ignoreRecursiveError=true"),
    ]


def test_filer_refuses_listing_reading_and_deleting_a_held_version(store: Store) -> None:
    filer = store.weed.ports()["filer"]
    # S3 itself refuses (the hold), as before.
    with pytest.raises(S3Error, match="AccessDenied"):
        h = store.held
        store.admin.client.remove_object(h.bucket, h.key, version_id=h.version)
    for method, path in _filer_attacks(store.held):
        # Go answers 400 "HTTP request to an HTTPS server" (or hangs up, for DELETE).
        assert _plain(filer, method, path) in (400, "RemoteDisconnected"), (method, path)
        assert _tls(filer, method, path) in ("SSLError", "ConnectionResetError"), (method, path)
        # Behind the certificate, the filer still wants a signed token (defence in depth).
        assert _tls(filer, method, path, cert=store.weed) == 401, (method, path)
    store.evidence_intact()


# -- (ii) master, volume, admin ------------------------------------------------------------


def _http_attacks(h: Held) -> list[tuple[str, str, str]]:
    fid = "1,01637e7f12"
    return [
        ("master", "GET", "/dir/lookup?volumeId=1"),
        ("master", "GET", "/vol/status"),
        ("master", "GET", "/dir/status"),
        ("master", "POST", "/dir/assign"),
        ("master", "POST", "/vol/grow?count=1"),
        ("master", "GET", "/vol/vacuum?garbageThreshold=0.0001"),
        ("master", "GET", f"/col/delete?collection={h.bucket}"),
        ("volume", "GET", "/status"),
        ("volume", "GET", "/ui/index.html"),
        ("volume", "GET", f"/{fid}"),
        ("volume", "DELETE", f"/{fid}"),
        ("admin", "GET", "/health"),
        ("admin", "GET", "/"),
        ("admin", "GET", "/api/cluster/topology"),
    ]


def test_master_volume_and_admin_refuse_anyone_without_the_certificate(store: Store) -> None:
    ports = store.weed.ports()
    for part, method, path in _http_attacks(store.held):
        answer = _plain(ports[part], method, path)
        assert _refused(answer), (part, method, path, answer)
        answer = _tls(ports[part], method, path)
        assert answer in ("SSLError", "ConnectionResetError"), (part, method, path, answer)
    store.evidence_intact()  # /col/delete did not drop the bucket
    # Positive control: the same ports do answer weed's own certificate.
    assert _tls(ports["master"], "GET", "/cluster/status", cert=store.weed) == 200
    assert _tls(ports["volume"], "GET", "/status", cert=store.weed) == 200


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _grpc_plain(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(_H2_PREFACE)
        try:
            return s.recv(64)
        except OSError:
            return b""


def _grpc_tls(port: int, *, cert: EmbeddedSeaweed | None = None) -> str:
    ctx = _tls_context(cert)
    ctx.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            ctx.wrap_socket(raw) as s,
        ):
            s.sendall(_H2_PREFACE)
            frame = s.recv(64)
            return "h2" if len(frame) >= 9 and frame[3] == 0x04 else "closed"
    except (ssl.SSLError, OSError) as err:
        return type(err).__name__


@pytest.mark.parametrize("part", ["master", "volume", "filer", "s3", "admin"])
def test_grpc_ports_demand_the_certificate(store: Store, part: str) -> None:
    port = store.weed.ports()[f"{part}-grpc"]
    answer = _grpc_plain(port)
    assert not (len(answer) >= 9 and answer[3] == 0x04), "plaintext gRPC answered"
    assert _grpc_tls(port) in ("SSLError", "ConnectionResetError", "closed")
    assert _grpc_tls(port, cert=store.weed) == "h2"  # positive control


def test_local_sockets_are_private(store: Store) -> None:
    pid = store.weed._pid()
    assert pid is not None
    with open("/proc/net/unix", encoding="utf-8") as f:
        paths = {line.split()[-1] for line in f.readlines()[1:] if line.split()[-1][:1] == "/"}
    ours = [p for p in paths if any(p.endswith(f"-{n}.sock") for n in store.weed.ports().values())]
    ours += [str(p) for p in store.weed.root.glob("*.sock")]
    assert ours
    for p in ours:
        if os.path.exists(p):
            assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, p


# -- (iii) a lane node's identity ----------------------------------------------------------


def _body(n: int = 3) -> io.BytesIO:
    return io.BytesIO(b"x" * n)


def test_lane_puts_under_its_own_prefix(store: Store) -> None:
    lane = store.lane_store()
    for dc in ("plates", "faces", "frames"):
        key = f"{LANE}/2026/01/02/{uuid.uuid4()}/a.bin"
        stored = lane.put(
            dc, key, b"sealed", content_type="application/octet-stream", check_existing=False
        )
        assert stored.key == key
    big = 6 * 1024 * 1024  # multipart counts as PutObject
    key = f"{LANE}/2026/01/02/{uuid.uuid4()}/frame.bin"
    bucket = store.admin.bucket("frames")
    store.lane().put_object(bucket, key, io.BytesIO(b"f" * big), big, part_size=5 * 1024 * 1024)
    assert store.admin.client.stat_object(bucket, key).size == big


def test_lane_cannot_put_outside_its_prefix(store: Store) -> None:
    lane = store.lane_store()
    for key in (
        f"{OTHER}/2026/01/02/{uuid.uuid4()}/a.bin",
        f"{LANE}x/2026/01/02/{uuid.uuid4()}/a.bin",  # a sibling prefix is another lane's
        f"{uuid.uuid4()}.bin",
    ):
        with pytest.raises(StorageError, match="AccessDenied"):
            lane.put(
                "plates", key, b"x", content_type="application/octet-stream", check_existing=False
            )


_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}
        ],
    }
)
_SOON = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
_DENIED: list[tuple[str, Callable[[Minio, Held], object]]] = [
    ("get", lambda c, h: c.get_object(h.bucket, h.key).read()),
    ("get version", lambda c, h: c.get_object(h.bucket, h.key, version_id=h.version).read()),
    ("stat", lambda c, h: c.stat_object(h.bucket, h.key)),
    ("list", lambda c, h: list(c.list_objects(h.bucket, prefix=f"{LANE}/", recursive=True))),
    ("list versions", lambda c, h: list(c.list_objects(h.bucket, include_version=True))),
    ("delete (marker)", lambda c, h: c.remove_object(h.bucket, h.loose_key)),
    (
        "delete version",
        lambda c, h: c.remove_object(h.bucket, h.loose_key, version_id=h.loose_version),
    ),
    ("delete held version", lambda c, h: c.remove_object(h.bucket, h.key, version_id=h.version)),
    ("legal hold off", lambda c, h: c.disable_object_legal_hold(h.bucket, h.key, h.version)),
    ("read legal hold", lambda c, h: c.is_object_legal_hold_enabled(h.bucket, h.key, h.version)),
    (
        "retention",
        lambda c, h: c.set_object_retention(
            h.bucket, h.key, Retention(GOVERNANCE, _SOON), version_id=h.version
        ),
    ),
    ("tag", lambda c, h: c.set_object_tags(h.bucket, h.key, Tags.new_object_tags())),
    (
        "copy in",
        lambda c, h: c.copy_object(
            h.bucket, f"{LANE}/2026/01/02/{uuid.uuid4()}/copy.bin", CopySource(h.bucket, h.key)
        ),
    ),
    ("bucket policy", lambda c, h: c.set_bucket_policy(h.bucket, _POLICY)),
    ("delete bucket policy", lambda c, h: c.delete_bucket_policy(h.bucket)),
    (
        "lifecycle",
        lambda c, h: c.set_bucket_lifecycle(
            h.bucket,
            LifecycleConfig(
                [
                    Rule(
                        ENABLED,
                        rule_filter=Filter(prefix=""),
                        rule_id="x",
                        expiration=Expiration(days=1),
                    )
                ]
            ),
        ),
    ),
    ("versioning off", lambda c, h: c.set_bucket_versioning(h.bucket, VersioningConfig(SUSPENDED))),
    ("make bucket", lambda c, h: c.make_bucket("lane-made-" + secrets.token_hex(3))),
    ("delete bucket", lambda c, h: c.remove_bucket(h.bucket)),
]


@pytest.mark.parametrize("op", [op for _, op in _DENIED], ids=[name for name, _ in _DENIED])
def test_lane_is_denied_everything_else(store: Store, op: Callable[[Minio, Held], object]) -> None:
    with pytest.raises(S3Error) as info:
        op(store.lane(), store.held)
    assert info.value.code == "AccessDenied"
    store.evidence_intact()


def test_lane_cannot_batch_delete_or_presign_reads(store: Store) -> None:
    h, lane = store.held, store.lane()
    errors = list(
        lane.remove_objects(h.bucket, [DeleteObject(h.key, h.version), DeleteObject(h.key)])
    )
    assert [e.code for e in errors] == ["AccessDenied", "AccessDenied"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(lane.presigned_get_object(h.bucket, h.key), timeout=5)
    assert info.value.code == 403
    assert lane.list_buckets() == []  # lists nothing, not even its own buckets
    store.evidence_intact()
    with pytest.raises(S3Error, match=r"NoSuchBucketPolicy|NoSuchBucket"):
        store.admin.client.get_bucket_policy(h.bucket)


@pytest.mark.parametrize(
    ("lane_id", "buckets", "match"),
    [
        ("a/b", ["b1"], "unsafe lane id"),
        ("a*", ["b1"], "unsafe lane id"),
        ("", ["b1"], "unsafe lane id"),
        ("ok", [], "bad bucket"),
        ("ok", ["Bad_Bucket"], "bad bucket"),
    ],
)
def test_provision_refuses_names_that_would_widen_the_grant(
    store: Store, lane_id: str, buckets: list[str], match: str
) -> None:
    with pytest.raises(ServiceError, match=match):
        store.fresh().provision_lane(lane_id, "k" * 12, "s" * 20, buckets)


def test_provision_refuses_someone_elses_access_key(store: Store) -> None:
    w = store.fresh()
    with pytest.raises(ServiceError, match="own S3 keys"):
        w.provision_lane("thief", w.access_key, "s" * 20, store.admin.bucket_names())
    with pytest.raises(ServiceError, match="already lane north"):
        w.provision_lane("thief", store.lane_keys[LANE][0], "s" * 20, store.admin.bucket_names())


def test_provisioning_is_idempotent_and_applies_without_restart(store: Store) -> None:
    w, pid = store.fresh(), store.weed._pid()
    before = w.lanes_file.read_bytes()
    started = time.monotonic()
    w.provision_lane(LANE, *store.lane_keys[LANE], store.admin.bucket_names())
    assert w.lanes_file.read_bytes() == before
    w.provision_lane(OTHER, *store.lane_keys[OTHER], store.admin.bucket_names())
    assert time.monotonic() - started < 3  # SIGHUP reload, not a restart (about 5 s)
    assert store.weed._pid() == pid
    key = f"{OTHER}/2026/01/02/{uuid.uuid4()}/a.bin"
    store.lane(OTHER).put_object(store.admin.bucket("faces"), key, _body(), 3)
    with pytest.raises(S3Error, match="AccessDenied"):
        store.lane(OTHER).put_object(store.held.bucket, f"{LANE}/x/{uuid.uuid4()}", _body(), 3)


# -- (iv) survives a restart, private on disk ----------------------------------------------


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_identities_survive_restart_and_files_are_private(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = store.weed
    w.stop()
    # Env AWS keys would become one more admin identity: weed must not inherit them.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "envadminkey0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envadminsecret000000000001")
    assert store.fresh().start() is True
    key = f"{LANE}/2026/01/03/{uuid.uuid4()}/a.bin"
    store.lane().put_object(store.admin.bucket("plates"), key, _body(), 3)
    with pytest.raises(S3Error, match="InvalidAccessKeyId"):
        Minio(
            w.endpoint, "envadminkey0001", "envadminsecret000000000001", secure=False
        ).list_buckets()
    store.evidence_intact()

    lanes = json.loads(w.lanes_file.read_text())["lanes"]
    assert set(lanes) == {LANE, OTHER}
    for f in (w.lanes_file, w.config_file, w.pid_file, w.log_file):
        assert _mode(f) == 0o600, f
    assert _mode(w.root) == 0o700 and _mode(w.conf_dir) == 0o700
    for f in w.conf_dir.iterdir():
        assert _mode(f) == 0o600, f
    volumes = [p for p in w.root.iterdir() if p.suffix in (".dat", ".idx")]
    assert volumes
    for f in volumes:
        assert _mode(f) == 0o600, f
    secrets_text = w.config_file.read_text() + w.lanes_file.read_text()
    assert w.secret_key in secrets_text and w.secret_key not in w.log_file.read_text()


class _OpenWeed(EmbeddedSeaweed):
    """weed as lanecap started it before this finding: no security.toml, embedded IAM on."""

    def command(self) -> list[str]:
        drop = ("-config_dir=", "-s3.iam=")
        return [a for a in super().command() if not a.startswith(drop)]


def test_a_weed_left_open_by_an_older_lanecap_is_restarted_closed(tmp_path: Path) -> None:
    base, access, secret = free_port(also_free=OFFSETS), "lc" + secrets.token_hex(9), "s" * 30

    def handle(cls: type[EmbeddedSeaweed]) -> EmbeddedSeaweed:
        return cls(data_dir=tmp_path, base_port=base, access_key=access, secret_key=secret)

    old = handle(_OpenWeed)
    old.start()
    try:
        filer = old.ports()["filer"]
        assert _plain(filer, "GET", "/buckets/") == 200  # the finding, reproduced
        new = handle(EmbeddedSeaweed)
        assert new.start() is False  # it was running: restarted, and left running
        pid = new._pid()
        assert pid is not None and new._closed(pid)
        assert _plain(filer, "GET", "/buckets/") == 400
    finally:
        old.stop()
