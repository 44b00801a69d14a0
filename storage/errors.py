"""Storage errors.

StorageError
 +-- StoreUnavailable   PostgreSQL or S3 cannot be reached (retry later; nothing was half-written)
 +-- IntegrityError     stored data disagrees with what is being written (same id, other content)
 +-- MigrationError     the schema cannot be brought to the code's version
"""

from __future__ import annotations


class StorageError(Exception):
    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class StoreUnavailable(StorageError):
    pass


class IntegrityError(StorageError):
    pass


class MigrationError(StorageError):
    pass
