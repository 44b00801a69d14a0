"""A lane node's own credentials: a PostgreSQL login and an S3 identity for one lane only.

The lane node gets nothing else: no officer-service login, no schema owner, no S3 identity
that reads, lists or deletes. Names and secrets derive from the embedded services' lane seed
(or are given by whoever provisions an external lane), so provisioning is idempotent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

_SAFE = re.compile(r"[^a-z0-9]+")


def lane_role(lane_id: str) -> str:
    """The PostgreSQL login of a lane: `lanecap_lane_<id>` plus a short hash, so two lane ids
    that fold to the same letters still get two roles (63 bytes at most)."""
    slug = _SAFE.sub("_", lane_id.lower()).strip("_")[:32] or "lane"
    tag = hashlib.sha256(lane_id.encode("utf-8")).hexdigest()[:8]
    return f"lanecap_lane_{slug}_{tag}"


def derive(seed: str, purpose: str, lane_id: str, *, length: int = 32) -> str:
    """A secret for one lane and purpose (`pg`, `s3-access`, `s3-secret`) from the seed."""
    mac = hmac.new(seed.encode("utf-8"), f"{purpose}\0{lane_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:length]


@dataclass(frozen=True)
class LaneCredentials:
    """What a lane node connects with: its own database login and S3 identity."""

    lane_id: str
    database_url: str = field(repr=False)
    s3_endpoint: str
    s3_access_key: str = field(repr=False)
    s3_secret_key: str = field(repr=False)
    s3_secure: bool
    s3_region: str | None
