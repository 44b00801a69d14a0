"""Object storage over the minio SDK, for any S3 server.

Layout: bucket `{prefix}-{data_class}`, key `{lane}/{YYYY}/{MM}/{DD}/{crossing_id}/{name}`.
Puts are idempotent: the same key with the same content hash is a no-op; the
same key with other content is refused.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import urllib3
from minio import Minio
from minio.error import S3Error

from storage.errors import IntegrityError, StorageError, StoreUnavailable

log = logging.getLogger(__name__)

DataClass = Literal["plates", "faces", "frames"]
DATA_CLASSES: tuple[DataClass, ...] = ("plates", "faces", "frames")


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    sha256: str
    size: int


def object_key(*, lane_id: str, crossing_id: str, at: datetime, name: str) -> str:
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"object name must be a plain file name, got {name!r}")
    return f"{lane_id}/{at:%Y/%m/%d}/{crossing_id}/{name}"


class ObjectStore:
    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        secure: bool,
        region: str | None = None,
        bucket_prefix: str = "lanecap",
        timeout_s: float = 10.0,
    ) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self.prefix = bucket_prefix

    def bucket(self, data_class: DataClass) -> str:
        return f"{self.prefix}-{data_class}"

    def ensure_buckets(self) -> None:
        for dc in DATA_CLASSES:
            name = self.bucket(dc)
            try:
                if not self.client.bucket_exists(name):
                    self.client.make_bucket(name)
            except S3Error as err:
                if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise StorageError(
                        f"cannot create bucket {name}: {err.code}", key=name
                    ) from None
            except (urllib3.exceptions.HTTPError, OSError) as err:
                raise StoreUnavailable(f"S3 unreachable: {err}", key=name) from None

    def put(
        self, data_class: DataClass, key: str, data: bytes, *, content_type: str
    ) -> StoredObject:
        digest = hashlib.sha256(data).hexdigest()
        bucket = self.bucket(data_class)
        try:
            try:
                stat = self.client.stat_object(bucket, key)
                existing = (stat.metadata or {}).get("x-amz-meta-sha256")
                if existing == digest:
                    return StoredObject(bucket, key, digest, len(data))
                raise IntegrityError(
                    f"object {bucket}/{key} exists with other content", key=f"{bucket}/{key}"
                )
            except S3Error as err:
                if err.code not in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    raise
            self.client.put_object(
                bucket,
                key,
                io.BytesIO(data),
                length=len(data),
                content_type=content_type,
                metadata={"sha256": digest},
            )
        except S3Error as err:
            raise StorageError(
                f"S3 refused {bucket}/{key}: {err.code}", key=f"{bucket}/{key}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=f"{bucket}/{key}") from None
        return StoredObject(bucket, key, digest, len(data))

    def get(self, bucket: str, key: str) -> bytes:
        try:
            resp = self.client.get_object(bucket, key)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()
        except S3Error as err:
            raise StorageError(
                f"S3 refused {bucket}/{key}: {err.code}", key=f"{bucket}/{key}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=f"{bucket}/{key}") from None

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.remove_object(bucket, key)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=f"{bucket}/{key}") from None
