"""Envelope encryption of captures: a data key per crossing and data class, sealed to the agency.

    data key (32 random bytes, AES-256-GCM)  -- encrypts -->  crops, embeddings, sealed record
    agency X25519 public key (SealedBox)     -- wraps   -->  data key (stored in crossing_keys)

A lane node holds only the agency's public key: it can seal, never open. Opening needs the
agency's private key, which only the officer service holds (`KeyProvider`). Every ciphertext
is bound to its slot (crossing id + name) by AES-GCM associated data, so a blob moved to
another crossing or swapped for another kind does not decrypt.

The search key (a symmetric secret on lane nodes and the officer service) derives:
* a plate blind index, HMAC-SHA256 of the normalised plate, for exact search without the text;
* a secret orthogonal rotation of face embeddings: L2 distances are kept (1:N search on
  pgvector works unchanged), raw model embeddings never reach the database.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.exceptions import CryptoError as NaclCryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from storage.errors import StorageError

KeyPurpose = Literal["plates", "faces"]
KEY_PURPOSES: tuple[KeyPurpose, ...] = ("plates", "faces")

_MAGIC = b"LCE1"
_NONCE = 12
EMBEDDING_DIM = 128


class DecryptionError(StorageError):
    """A ciphertext or wrapped key cannot be opened (wrong key, tampered, wrong slot)."""


def key_id(public_key: bytes) -> str:
    """A short stable id of an agency public key (16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class DataKey:
    """A fresh AES-256 key for one crossing and data class; never stored unwrapped."""

    secret: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> DataKey:
        return cls(AESGCM.generate_key(bit_length=256))

    def encrypt(self, plaintext: bytes, *, slot: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        ct = AESGCM(self.secret).encrypt(nonce, plaintext, _aad(slot))
        return _MAGIC + nonce + ct

    def decrypt(self, blob: bytes, *, slot: str) -> bytes:
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + 16:
            raise DecryptionError("not a lanecap ciphertext", key=slot)
        nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            return AESGCM(self.secret).decrypt(nonce, blob[len(_MAGIC) + _NONCE :], _aad(slot))
        except InvalidTag:
            raise DecryptionError(
                "ciphertext does not open (tampered or other slot)", key=slot
            ) from None


def _aad(slot: str) -> bytes:
    return b"lanecap:" + slot.encode("utf-8")


@dataclass(frozen=True)
class WrappedKey:
    """A data key sealed to the agency public key `key_id`."""

    purpose: KeyPurpose
    key_id: str
    wrapped: bytes = field(repr=False)


@dataclass(frozen=True)
class Sealer:
    """Lane-node side: wraps data keys with the agency PUBLIC key only. Cannot unwrap."""

    public_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("an agency public key is 32 bytes (X25519)")

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def wrap(self, key: DataKey, *, purpose: KeyPurpose) -> WrappedKey:
        sealed = SealedBox(PublicKey(self.public_key)).encrypt(key.secret)
        return WrappedKey(purpose=purpose, key_id=self.key_id, wrapped=bytes(sealed))


class KeyProvider(Protocol):
    """Opens wrapped data keys: a private key file, or a KMS/HSM that never releases its key."""

    def unwrap(self, wrapped: WrappedKey) -> DataKey:
        """The data key; raises DecryptionError when this provider does not hold `key_id`."""
        ...

    def key_ids(self) -> tuple[str, ...]:
        """Ids of the agency keys this provider can open."""
        ...


@dataclass(frozen=True)
class PrivateKeyring:
    """A KeyProvider over agency private keys held in memory (loaded from 0600 files)."""

    private_keys: tuple[bytes, ...] = field(repr=False)

    def _by_id(self) -> dict[str, PrivateKey]:
        out = {}
        for raw in self.private_keys:
            sk = PrivateKey(raw)
            out[key_id(bytes(sk.public_key))] = sk
        return out

    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._by_id())

    def unwrap(self, wrapped: WrappedKey) -> DataKey:
        sk = self._by_id().get(wrapped.key_id)
        if sk is None:
            raise DecryptionError(f"no private key for agency key {wrapped.key_id}")
        try:
            return DataKey(bytes(SealedBox(sk).decrypt(wrapped.wrapped)))
        except NaclCryptoError:
            raise DecryptionError(f"wrapped key does not open with {wrapped.key_id}") from None


def generate_agency_keypair() -> tuple[bytes, bytes]:
    """(private, public) X25519 key bytes."""
    sk = PrivateKey.generate()
    return bytes(sk), bytes(sk.public_key)


def rewrap(provider: KeyProvider, wrapped: WrappedKey, to: Sealer) -> WrappedKey:
    """Re-seal a data key to another agency key; the ciphertexts it protects are untouched."""
    return to.wrap(provider.unwrap(wrapped), purpose=wrapped.purpose)


_PLATE_JUNK = re.compile(r"[^0-9A-Z]")


def normalise_plate(text: str) -> str:
    return _PLATE_JUNK.sub("", text.upper())


@dataclass(frozen=True)
class SearchKey:
    """Symmetric secret for the blind plate index and the embedding rotation."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("a search key is at least 32 bytes")

    def _derive(self, info: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
            self.secret
        )

    def plate_index(self, text: str) -> bytes:
        """Keyed hash of the normalised plate: equal plates, equal index; no text."""
        k = self._derive(b"lanecap plate index v1", 32)
        return hmac.new(k, normalise_plate(text).encode("ascii"), hashlib.sha256).digest()

    def rotation(self) -> npt.NDArray[np.float64]:
        """A secret 128x128 orthogonal matrix (QR of a key-derived matrix, signs fixed)."""
        return self._rotation

    @functools.cached_property
    def _rotation(self) -> npt.NDArray[np.float64]:
        raw = hashlib.shake_256(self._derive(b"lanecap embedding rotation v1", 32)).digest(
            EMBEDDING_DIM * EMBEDDING_DIM * 4
        )
        u = np.frombuffer(raw, dtype="<u4").astype(np.float64) / 2**32 - 0.5
        q, r = np.linalg.qr(u.reshape(EMBEDDING_DIM, EMBEDDING_DIM))
        return np.asarray(q * np.sign(np.diag(r)), dtype=np.float64)

    def protect_embedding(self, embedding: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The searchable form of a face embedding (distances preserved, values hidden)."""
        v = np.asarray(embedding, dtype=np.float64).reshape(EMBEDDING_DIM)
        return np.asarray(self.rotation() @ v, dtype=np.float32)


def embedding_bytes(embedding: npt.ArrayLike) -> bytes:
    return np.asarray(embedding, dtype="<f4").reshape(EMBEDDING_DIM).tobytes()


def embedding_from_bytes(data: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


OfficerPurpose = Literal["watchlist", "calibration"]


def officer_key(search: SearchKey, purpose: OfficerPurpose) -> DataKey:
    """The symmetric key of data that only the officer service writes and reads back.

    Hot-list and watch-list entries (`storage.watchlist`) and blurred calibration previews
    (`storage.health`) are written by the officer service itself (API and CLI), never by a
    lane node, so nothing needs sealing to a key the writer cannot open. The key is derived
    from the search key (HKDF, its own info string per purpose, independent of the plate
    index key), which only the officer service holds and which already guards the same
    plates' blind index: no new key file, no new holder. Agency key rotation does not touch
    it. Each ciphertext is still bound to its row by its slot.
    """
    return DataKey(search._derive(b"lanecap officer at-rest v1 " + purpose.encode("ascii"), 32))
