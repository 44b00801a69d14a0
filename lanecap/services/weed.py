"""What the embedded SeaweedFS processes share: the `weed` binary, private files and
directories, process checks, the lane identities' policy, and the security.toml with weed's own
certificate (mutual TLS on every port but S3, JWT behind it). Used by `seaweed` (weed mini)
and `cluster` (one process per component); the measured behaviour is in seaweed.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from lanecap.errors import ServiceError

log = logging.getLogger(__name__)


# Bump when the generated security.toml changes, so existing data dirs get the new one.
SECURITY_VERSION = "lanecap-security-v1"
LANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,62}$")
# Environment that would change who may use weed: env AWS keys become an extra admin
# identity, WEED_* overrides anything in security.toml.
DROPPED_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MAX_SOCKET_PATH = 100


def weed_binary() -> Path:
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return here
    found = shutil.which("weed")
    if found is None:
        raise ServiceError(
            "the `weed` binary is missing", service="seaweedfs", hint="run `make install`"
        )
    return Path(found)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def command_line(pid: int) -> list[bytes] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # not Linux, or not ours to read


def write_private(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def tighten(root: Path) -> None:
    """Directories 0700 and files 0600 under root (data written before this was enforced)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                if not os.path.islink(p):
                    os.chmod(p, 0o600)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def lane_identity(lane_id: str) -> str:
    """The S3 identity name (and policy name) of a lane."""
    return f"lane-{lane_id}"


def lane_policy(lane_id: str, buckets: list[str]) -> dict[str, Any]:
    """Put objects under `<bucket>/<lane_id>/` and read each bucket's region; nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutUnderOwnPrefix",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"arn:aws:s3:::{b}/{lane_id}/*" for b in buckets],
            },
            {
                "Sid": "BucketRegion",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{b}" for b in buckets],
            },
        ],
    }


def make_tls(conf: Path) -> None:
    """A CA (key discarded) and one certificate for weed, as both server and client."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("lanecap embedded seaweedfs CA"))
        .issuer_name(name("lanecap embedded seaweedfs CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("lanecap-weed"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(conf / "ca.pem", ca.public_bytes(pem))
    write_private(conf / "weed.pem", cert.public_bytes(pem))
    write_private(
        conf / "weed.key",
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def security_toml(conf: Path) -> str:
    ca, cert, key = (json.dumps(str(conf / n)) for n in ("ca.pem", "weed.pem", "weed.key"))
    pair = f"cert = {cert}\nkey = {key}\n"
    lines = [f"# {SECURITY_VERSION}: written by lanecap; keys are random, do not share"]
    for section in (
        "jwt.signing",
        "jwt.signing.read",
        "jwt.filer_signing",
        "jwt.filer_signing.read",
    ):
        lines.append(
            f'[{section}]\nkey = "{secrets.token_urlsafe(32)}"\nexpires_after_seconds = 30\n'
        )
    lines.append("[access]\nui = false\n")
    lines.append("[filer.expose_directory_metadata]\nenabled = false\n")
    lines.append(f"[grpc]\nca = {ca}\n")
    for part in ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "mq"):
        lines.append(f"[grpc.{part}]\n{pair}")
    lines.append(f"[grpc.client]\n{pair}")
    lines.append(f"[https.client]\nenabled = true\n{pair}ca = {ca}\n")
    for part in ("master", "volume", "filer", "admin"):
        lines.append(f"[https.{part}]\n{pair}ca = {ca}\n")
    return "\n".join(lines)


def ensure_security(conf_dir: Path) -> None:
    """weed's certificate and security.toml in `conf_dir` (0700), made once and again only
    when SECURITY_VERSION changes; files tightened to 0600."""
    private_dir(conf_dir)
    toml = conf_dir / "security.toml"
    try:
        current = toml.read_text(encoding="utf-8")
    except OSError:
        current = ""
    have_tls = all((conf_dir / n).exists() for n in ("ca.pem", "weed.pem", "weed.key"))
    if not (current.startswith(f"# {SECURITY_VERSION}:") and have_tls):
        make_tls(conf_dir)
        write_private(toml, security_toml(conf_dir).encode())
    tighten(conf_dir)
