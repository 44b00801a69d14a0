"""Encryption before upload: nothing readable reaches S3, the database's files or the logs;
the lane node's keys cannot open what it wrote; rotation re-wraps without re-uploading."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path

import cv2
import numpy as np
import pytest

from lanecap.keys import (
    LaneKeys,
    init_keys,
    load_keyring,
    load_sealer,
    retire_agency_key,
    rotate_agency_key,
)
from lanecap.security.errors import KeyFileError
from storage import keystore
from storage.crypto import (
    DataKey,
    DecryptionError,
    PrivateKeyring,
    Sealer,
    SearchKey,
    generate_agency_keypair,
)

from .conftest import OFFICER, SecureEnv, make_crossing

PLATE_MARKER = "QZX7MRK9"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def _found(root: Path, needles: list[bytes]) -> set[bytes]:
    hits: set[bytes] = set()
    for path in _files(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits |= {n for n in needles if n in data}
    return hits


def test_data_key_binds_ciphertext_to_its_slot() -> None:
    key = DataKey.generate()
    blob = key.encrypt(b"crop bytes", slot="c1/plate_crop")
    assert b"crop bytes" not in blob
    assert key.decrypt(blob, slot="c1/plate_crop") == b"crop bytes"
    with pytest.raises(DecryptionError):
        key.decrypt(blob, slot="c2/plate_crop")  # moved to another crossing
    with pytest.raises(DecryptionError):
        DataKey.generate().decrypt(blob, slot="c1/plate_crop")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        key.decrypt(tampered, slot="c1/plate_crop")


def test_public_key_seals_only_private_key_opens() -> None:
    sk, pk = generate_agency_keypair()
    wrapped = Sealer(pk).wrap(DataKey(b"k" * 32), purpose="plates")
    assert PrivateKeyring((sk,)).unwrap(wrapped).secret == b"k" * 32
    other, _ = generate_agency_keypair()
    with pytest.raises(DecryptionError):
        PrivateKeyring((other,)).unwrap(wrapped)


def test_lane_node_key_directory_has_nothing_that_opens(tmp_path: Path) -> None:
    officer = tmp_path / "officer"
    init_keys(officer)
    lane = tmp_path / "lane"
    lane.mkdir()
    # what `lanecap keys export-lane` copies: the public key only (no search.key since issue 15)
    (lane / "agency.pub").write_bytes((officer / "agency.pub").read_bytes())
    with pytest.raises(KeyFileError, match="no agency private key"):
        load_keyring(lane)
    assert load_sealer(lane).key_id == load_sealer(officer).key_id
    key_file = next(officer.glob("agency-*.key"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    key_file.chmod(0o644)
    with pytest.raises(KeyFileError, match="accessible to others"):
        load_keyring(officer)


def test_embedding_rotation_keeps_distances_and_hides_values() -> None:
    key = SearchKey(b"s" * 32)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=128), rng.normal(size=128)
    pa, pb = key.protect_embedding(a), key.protect_embedding(b)
    assert np.linalg.norm(pa - pb) == pytest.approx(np.linalg.norm(a - b), rel=1e-5)
    assert np.abs(np.corrcoef(pa, a)[0, 1]) < 0.5
    assert key.plate_index("lcp 4821") == key.plate_index("LCP-4821")
    assert SearchKey(b"t" * 32).plate_index("LCP4821") != key.plate_index("LCP4821")


def test_plaintext_never_reaches_s3_database_files_or_logs(
    secure_env: SecureEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = secure_env
    caplog.set_level(logging.DEBUG)
    lane = env.lane()
    c = make_crossing(lane, plate=PLATE_MARKER, seed=11)
    assert c.best_plate is not None and c.driver is not None
    jpegs = [
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
        for img in (c.best_plate.crop, c.driver.crop)
    ]
    embedding = np.asarray(c.driver.face.encoding, dtype="<f4").tobytes()
    assert env.archive.store(c) is True
    assert env.ingest() >= 1  # the officer service's indexes are not plaintext either

    needles = [PLATE_MARKER.encode(), embedding[:32]]
    needles += [j[len(j) // 2 : len(j) // 2 + 48] for j in jpegs]  # a window of each crop
    needles += [j[:20] for j in jpegs]  # the JPEG/JFIF headers
    data_dir = env.settings.data_dir

    # Positive controls: the same grep finds plaintext that really is stored in plain.
    control = b"CTRL-" + bytes(range(256)) * 8
    env.archive.objects.put(
        "frames", "control/plain.bin", control, content_type="application/octet-stream"
    )
    with env.archive.pool.connection() as conn:
        conn.execute(
            "INSERT INTO audit_events (actor, action, reason) VALUES ('t', 'probe', 'CTRLMARK42')"
        )
    assert _found(data_dir / "seaweedfs", [control[:64]]) == {control[:64]}
    assert _found(data_dir / "postgres", [b"CTRLMARK42"]) == {b"CTRLMARK42"}

    assert _found(data_dir / "seaweedfs", needles) == set(), "plaintext reached S3"
    assert _found(data_dir / "postgres", needles) == set(), "plaintext reached PostgreSQL files"
    for log_file in sorted(data_dir.glob("*.log")):  # postgres.log, seaweedfs.log
        text = log_file.read_bytes()
        assert not any(n in text for n in needles), f"plaintext in {log_file.name}"
    # The officer service (private key) reads it all back: the data is there, sealed.
    reader = env.reader()
    detail = reader.view(OFFICER, c.id, reason="case K-1")
    assert detail.plate_text == PLATE_MARKER
    assert reader.image(OFFICER, c.id, "plate_crop", reason="case K-1") == jpegs[0]
    assert reader.image(OFFICER, c.id, "face_crop", reason="case K-1") == jpegs[1]

    # What S3 holds is ciphertext, not a JPEG.
    with env.archive.pool.connection() as conn:
        rows = conn.execute(
            "SELECT bucket, key FROM objects WHERE crossing_id = %s", (c.id,)
        ).fetchall()
    assert len(rows) == 3
    for bucket, key in rows:
        assert env.archive.objects.get(bucket, key)[:4] == b"LCE1"
    assert PLATE_MARKER not in caplog.text


def test_rotation_rewraps_keys_without_reupload(secure_env: SecureEnv, tmp_path: Path) -> None:
    env = secure_env
    lane = env.lane()
    c = make_crossing(lane, plate="ROT4821", seed=21)
    env.archive.store(c)
    with env.archive.pool.connection() as conn:
        before = conn.execute(
            "SELECT o.bucket, o.key, o.sha256 FROM objects o WHERE crossing_id = %s ORDER BY kind",
            (c.id,),
        ).fetchall()
    etags = [hashlib.sha256(env.archive.objects.get(b, k)).hexdigest() for b, k, _ in before]
    old_id, new_id = rotate_agency_key(env.keys_dir)
    n = keystore.rewrap_all(env.archive.pool, load_keyring(env.keys_dir), load_sealer(env.keys_dir))
    assert n >= 2
    assert set(keystore.key_counts(env.archive.pool)) == {new_id}
    retire_agency_key(env.keys_dir, old_id)
    assert not (env.keys_dir / f"agency-{old_id}.key").exists()
    reader = env.reader()
    assert reader.view(OFFICER, c.id).plate_text == "ROT4821"
    assert reader.image(OFFICER, c.id, "plate_crop")[:2] == b"\xff\xd8"
    after = [hashlib.sha256(env.archive.objects.get(b, k)).hexdigest() for b, k, _ in before]
    assert after == etags == [s for _, _, s in before]  # not one object re-uploaded
    # Lane nodes get the new public key; the module's archive seals to it from now on.
    assert env.archive.keys is not None
    env.archive.keys = LaneKeys(sealer=load_sealer(env.keys_dir))


def test_leftovers_of_a_write_that_never_committed_are_replaced(secure_env: SecureEnv) -> None:
    from datetime import UTC, datetime

    from storage.objects import object_key

    env = secure_env
    c = make_crossing(env.lane(), plate="LEF0001", seed=81)
    at = datetime.fromtimestamp(c.started_at, tz=UTC)
    key = object_key(lane_id=c.lane_id, crossing_id=str(c.id), at=at, name="plate.lce")
    env.archive.objects.put("plates", key, b"LCE1 stale", content_type="application/octet-stream")
    assert env.archive.store(c) is True  # a retry after a crash between S3 and PostgreSQL
    assert env.archive.store(c) is False  # a replay
    assert env.reader().image(OFFICER, c.id, "plate_crop")[:2] == b"\xff\xd8"


def test_a_list_entry_sealed_under_another_key_is_listed_unopened() -> None:
    from storage import watchlist as store

    ours, theirs = SearchKey(secrets.token_bytes(32)), SearchKey(secrets.token_bytes(32))
    sealed = store.seal(theirs, 7, store.Contents(label="Person", plate_text="AB12CD", reason="r"))
    got = store.contents_of(ours, 7, sealed, (None, None, ""))
    assert got.plate_text is None and got.reason == ""
    assert got.label.startswith("list entry 7") and "another search key" in got.label
    assert store.contents_of(theirs, 7, sealed, (None, None, "")).plate_text == "AB12CD"
