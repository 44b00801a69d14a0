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
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, NoncurrentVersionExpiration, Rule

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


class _Absent(Exception):
    """Skip the existence check (write-only identities)."""


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
            maxsize=8,
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

    def bucket_names(self) -> list[str]:
        return [self.bucket(dc) for dc in DATA_CLASSES]

    def ensure_buckets(self, *, object_lock: bool = False) -> None:
        """Create missing buckets; with object_lock they are created with S3 Object Lock (and
        so versioning) enabled, which can only be chosen at creation."""
        for dc in DATA_CLASSES:
            name = self.bucket(dc)
            try:
                if not self.client.bucket_exists(name):
                    try:
                        self.client.make_bucket(name, object_lock=object_lock)
                    except S3Error as err:
                        if not object_lock or err.code in (
                            "BucketAlreadyOwnedByYou",
                            "BucketAlreadyExists",
                        ):
                            raise
                        log.warning(
                            "S3 server refused Object Lock on %s (%s): created without it",
                            name,
                            err.code,
                        )
                        self.client.make_bucket(name)
            except S3Error as err:
                if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise StorageError(
                        f"cannot create bucket {name}: {err.code}", key=name
                    ) from None
            except (urllib3.exceptions.HTTPError, OSError) as err:
                raise StoreUnavailable(f"S3 unreachable: {err}", key=name) from None

    def put(
        self,
        data_class: DataClass,
        key: str,
        data: bytes,
        *,
        content_type: str,
        check_existing: bool = True,
    ) -> StoredObject:
        """Upload an object. With check_existing (needs read permission) an object already
        there is kept when it has the same content and refused otherwise; a write-only lane
        identity passes False and, on a versioned bucket, adds a version."""
        digest = hashlib.sha256(data).hexdigest()
        bucket = self.bucket(data_class)
        try:
            try:
                if not check_existing:
                    raise _Absent
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
            except _Absent:
                pass
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

    # Object lock, legal holds, all-version purge and lifecycle (retention's helpers).

    def object_lock_enabled(self, bucket: str) -> bool:
        """True when the bucket was created with S3 Object Lock."""
        try:
            self.client.get_object_lock_config(bucket)
        except S3Error:
            return False
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=bucket) from None
        return True

    def _versions(self, bucket: str, key: str) -> list[str | None]:
        return [
            o.version_id
            for o in self.client.list_objects(bucket, prefix=key, include_version=True)
            if o.object_name == key
        ]

    def set_legal_hold(self, bucket: str, key: str, *, on: bool) -> int:
        """Set or clear the S3 legal hold on every version of key; versions changed."""
        try:
            versions = self._versions(bucket, key)
            for vid in versions:
                if vid is None:
                    continue
                if on:
                    self.client.enable_object_legal_hold(bucket, key, version_id=vid)
                else:
                    self.client.disable_object_legal_hold(bucket, key, version_id=vid)
        except S3Error as err:
            raise StorageError(
                f"S3 refused legal hold on {bucket}/{key}: {err.code}", key=f"{bucket}/{key}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=f"{bucket}/{key}") from None
        return len([v for v in versions if v is not None])

    def purge(self, bucket: str, key: str) -> int:
        """Delete every version and delete marker of key (a plain delete on a versioned bucket
        only hides it); returns versions removed. Missing keys are not an error."""
        removed = 0
        try:
            for vid in self._versions(bucket, key):
                self.client.remove_object(bucket, key, version_id=vid)
                removed += 1
        except S3Error as err:
            if err.code in ("NoSuchBucket",):
                return removed
            raise StorageError(
                f"S3 refused to delete {bucket}/{key}: {err.code}", key=f"{bucket}/{key}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=f"{bucket}/{key}") from None
        return removed

    def set_expiry(self, data_class: DataClass, *, days: int) -> None:
        """Lifecycle rule, the second line of defence behind `lanecap retention run`: objects
        expire after `days`, and old versions and delete markers a day after that."""
        bucket = self.bucket(data_class)
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=""),
            rule_id="lanecap-retention",
            expiration=Expiration(days=days),
            noncurrent_version_expiration=NoncurrentVersionExpiration(noncurrent_days=1),
        )
        try:
            self.client.set_bucket_lifecycle(bucket, LifecycleConfig([rule]))
        except S3Error as err:
            raise StorageError(
                f"S3 refused lifecycle on {bucket}: {err.code}", key=bucket
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=bucket) from None

    def expiry_days(self, data_class: DataClass) -> int | None:
        """Days of the lanecap lifecycle rule on the class's bucket, if any."""
        try:
            cfg = self.client.get_bucket_lifecycle(self.bucket(data_class))
        except S3Error:
            return None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"S3 unreachable: {err}", key=data_class) from None
        if cfg is None:
            return None
        for rule in cfg.rules:
            if rule.rule_id == "lanecap-retention" and rule.expiration is not None:
                return rule.expiration.days
        return None
