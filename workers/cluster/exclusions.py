"""The exclusion list travels with the scan: the enqueuer stores the file's bytes in Redis, every
worker reads them from there (so workers on other hosts need no copy, and all apply the same list).

The scan's meta holds the list's source name and SHA-256; a worker refuses to work on a scan whose
list is missing or does not match its digest (a task that cannot apply the list must not scan).
"""

from __future__ import annotations

import hashlib

import redis

from workers.cluster.state import key
from workers.exclusion import NOTHING, Exclusions, parse


def share_exclusions(r: redis.Redis, scan_id: str, exclusions: Exclusions,
                     meta: dict[str, str]) -> None:
    """Store the list of a scan being registered; adds its name and digest to ``meta``."""
    if not exclusions.sha256:
        return
    r.set(key("exclude", scan_id), exclusions.data)
    meta["exclude"] = exclusions.source
    meta["exclude_sha256"] = exclusions.sha256


def scan_exclusions(r: redis.Redis, scan_id: str, meta: dict[str, str]) -> Exclusions:
    """The list of a scan (NOTHING when it has none); raises ValueError when it cannot be had."""
    digest = meta.get("exclude_sha256", "")
    if not digest:
        return NOTHING
    data = r.get(key("exclude", scan_id))
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"scan {scan_id}: its exclusion list is missing from Redis or does not "
                         f"match its digest {digest[:12]}...; not scanning without it")
    return parse(data, meta.get("exclude", "exclusion list"))
