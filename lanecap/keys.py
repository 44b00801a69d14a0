"""Key files: the agency key pair, the search key and the audit signing key, in one directory.

    agency.pub            active agency public key (lane nodes need this)
    search.key      0600  blind-index / embedding-rotation secret: ONLY on the officer service
    agency-<id>.key 0600  agency private key(s): ONLY on the officer service
    audit-signing.key 0600, audit-signing.pub: Ed25519 checkpoint key of the audit service

A lane node's directory holds agency.pub only: it can seal, and test no guess against
any stored index. Files are base64 text.
Private files that others can read are refused, not silently used.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from lanecap.config import Settings
from lanecap.security.errors import KeyFileError
from storage.crypto import PrivateKeyring, Sealer, SearchKey, generate_agency_keypair, key_id

log = logging.getLogger(__name__)

AGENCY_PUBLIC = "agency.pub"
SEARCH_KEY = "search.key"
AUDIT_SIGNING = "audit-signing.key"
AUDIT_VERIFY = "audit-signing.pub"
SESSION_KEY = "session.key"


def keys_dir(settings: Settings) -> Path:
    if settings.keys.dir is not None:
        return settings.keys.dir.resolve()
    return (settings.data_dir / "keys").resolve()


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Create path (never overwrite); raises FileExistsError when another process won."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.b64encode(data).decode("ascii") + "\n")


def _read(path: Path, *, private: bool, size: int) -> bytes:
    try:
        st = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError("missing", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f"unreadable ({err})", path=str(path)) from None
    if private and st.st_mode & 0o077:
        raise KeyFileError(
            f"private key is accessible to others (mode {st.st_mode & 0o777:o})",
            path=str(path),
            hint=f"chmod 600 {path}",
        )
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyFileError("not base64", path=str(path)) from None
    if len(data) != size:
        raise KeyFileError(f"expected {size} bytes, found {len(data)}", path=str(path))
    return data


@dataclass(frozen=True)
class KeySet:
    """What `init_keys` created (paths), for the report."""

    directory: Path
    agency_key_id: str
    created: tuple[str, ...]


def init_keys(directory: Path, *, agency: bool = True, audit: bool = True) -> KeySet:
    """Create every missing key file; never overwrites. The directory itself is 0700."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    created: list[str] = []
    pub_path = directory / AGENCY_PUBLIC
    if agency and not pub_path.exists():
        sk, pk = generate_agency_keypair()
        _write(directory / f"agency-{key_id(pk)}.key", sk, private=True)
        _write(pub_path, pk, private=False)
        created += [f"agency-{key_id(pk)}.key", AGENCY_PUBLIC]
    if not (directory / SEARCH_KEY).exists():
        _write(directory / SEARCH_KEY, secrets.token_bytes(32), private=True)
        created.append(SEARCH_KEY)
    if audit and not (directory / AUDIT_SIGNING).exists():
        signing = SigningKey.generate()
        _write(directory / AUDIT_SIGNING, bytes(signing), private=True)
        (directory / AUDIT_VERIFY).unlink(missing_ok=True)
        _write(directory / AUDIT_VERIFY, bytes(signing.verify_key), private=False)
        created += [AUDIT_SIGNING, AUDIT_VERIFY]
    kid = key_id(_read(pub_path, private=False, size=32)) if pub_path.exists() else ""
    if created:
        log.info("created key files in %s: %s", directory, ", ".join(created))
    return KeySet(directory=directory, agency_key_id=kid, created=tuple(created))


def session_secret(directory: Path) -> bytes:
    """The officer service's session signing secret (created on first use, 0600).

    Kept on disk so sessions outlive a restart; every replica of the service shares it.
    Delete the file to end every session at once.
    """
    path = directory / SESSION_KEY
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):  # another replica created it first
            _write(path, secrets.token_bytes(32), private=True)
    return _read(path, private=True, size=32)


def load_sealer(directory: Path) -> Sealer:
    return Sealer(_read(directory / AGENCY_PUBLIC, private=False, size=32))


def load_search_key(directory: Path) -> SearchKey:
    return SearchKey(_read(directory / SEARCH_KEY, private=True, size=32))


def load_keyring(directory: Path) -> PrivateKeyring:
    """Every agency private key in the directory (the active one and any not yet retired)."""
    paths = sorted(directory.glob("agency-*.key"))
    if not paths:
        raise KeyFileError(
            "no agency private key here (this is a lane node, or keys were not created)",
            path=str(directory),
            hint="decryption runs only on the officer service, which holds agency-<id>.key",
        )
    return PrivateKeyring(tuple(_read(p, private=True, size=32) for p in paths))


def load_audit_signing_key(directory: Path) -> bytes:
    return _read(directory / AUDIT_SIGNING, private=True, size=32)


def load_audit_verify_key(directory: Path) -> bytes:
    return _read(directory / AUDIT_VERIFY, private=False, size=32)


def rotate_agency_key(directory: Path) -> tuple[str, str]:
    """Make a new agency key pair the active one; (old id, new id). Old private key stays
    until `retire_agency_key` (after the data keys were re-wrapped)."""
    old = key_id(_read(directory / AGENCY_PUBLIC, private=False, size=32))
    sk, pk = generate_agency_keypair()
    new = key_id(pk)
    _write(directory / f"agency-{new}.key", sk, private=True)
    tmp = directory / (AGENCY_PUBLIC + ".new")
    tmp.unlink(missing_ok=True)
    _write(tmp, pk, private=False)
    tmp.replace(directory / AGENCY_PUBLIC)
    log.info("agency key rotated: %s -> %s", old, new)
    return old, new


def retire_agency_key(directory: Path, kid: str) -> None:
    """Delete an old agency private key: any backup still sealed to it becomes unreadable."""
    active = key_id(_read(directory / AGENCY_PUBLIC, private=False, size=32))
    if kid == active:
        raise KeyFileError("refusing to retire the active agency key", path=str(directory))
    path = directory / f"agency-{kid}.key"
    if not path.exists():
        raise KeyFileError("no such agency key", path=str(path))
    size = path.stat().st_size
    with open(path, "r+b") as f:  # overwrite before unlinking (best effort on journaled disks)
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())
    path.unlink()


@dataclass(frozen=True)
class LaneKeys:
    """What a lane node's archive needs: the agency public key. Nothing opens, nothing tests
    a guess against the search indexes (the officer service computes them at ingest)."""

    sealer: Sealer


def lane_keys(settings: Settings, *, embedded: bool) -> LaneKeys:
    """Load the lane node's key; with embedded storage (demo) create a missing set first."""
    directory = keys_dir(settings)
    if embedded and settings.keys.auto_create and not (directory / AGENCY_PUBLIC).exists():
        # Another node process may create them at the same moment.
        with contextlib.suppress(FileExistsError):
            init_keys(directory)
    return LaneKeys(sealer=load_sealer(directory))
