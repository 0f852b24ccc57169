"""The scan's shared state in Redis: key names, connection with back-off, progress, failures.

Every key of a scan carries its id, so scans never mix; ``RESULTS`` is the one list of rows waiting
for the writer. Sets and HSETNX make every step idempotent: a task delivered twice marks nothing
twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

PREFIX = "danescan:"
RESULTS = PREFIX + "results"  # list of encoded messages (codec.encode_message), drained by the writer
SCANS = PREFIX + "scans"  # set of scan ids not finished yet
QUEUES = ("dns", "smtp")


class ClusterError(Exception):
    """A one-line reason, fit for the command line."""


def key(kind: str, scan_id: str) -> str:
    return f"{PREFIX}{kind}:{scan_id}"


def meta_key(scan_id: str) -> str:
    return key("scan", scan_id)


def connect(url: str, retries: int = 5, delay: float = 0.5,
            say: Callable[[str], None] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> redis.Redis:
    """A Redis client that answered PING; retries with doubling delays, then ClusterError."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
    attempt = 0
    while True:
        try:
            client.ping()
            return client
        except redis.RedisError as exc:
            attempt += 1
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            if attempt > retries:
                raise ClusterError(f"Redis at {url} is not reachable: {reason}") from exc
            if say is not None:
                say(f"Redis at {url} is not reachable ({reason}); retry {attempt}/{retries} "
                    f"in {delay:.1f} s")
            sleep(delay)
            delay = min(delay * 2, 30.0)


def read_meta(r: redis.Redis, scan_id: str) -> dict[str, str]:
    raw: dict[bytes, bytes] = r.hgetall(meta_key(scan_id))  # type: ignore[assignment]
    return {k.decode(): v.decode() for k, v in raw.items()}


def record_failure(r: redis.Redis, scan_id: str, task_key: str, kind: str, reason: str,
                   domains: int) -> bool:
    """A task given up on; counted once per task key. True when it was new."""
    if not r.hsetnx(key("failed", scan_id), task_key, json.dumps({"kind": kind,
                                                                   "reason": reason[:500]})):
        return False
    pipe = r.pipeline()
    pipe.hincrby(key("failed_kinds", scan_id), kind, 1)
    pipe.incrby(key("failed_domains", scan_id), domains)
    pipe.execute()
    return True


@dataclass
class Progress:
    scan_id: str
    kind: str
    total: int | None  # None while the producer is still enqueueing
    done: int
    failed_domains: int
    started: float
    finished: float | None
    probes_pending: int
    failures: dict[str, int] = field(default_factory=dict)
    failure_examples: list[str] = field(default_factory=list)
    redelivered: int = 0
    damage: str = ""  # damaged inputs (read up to the damage): the scan ends incomplete
    in_ledger: int = 0  # chunks not done yet (workers.cluster.ledger): the scan is open while any

    @property
    def complete(self) -> bool:
        return self.finished is not None

    def rate(self, now: float) -> float:
        end = self.finished or now
        return self.done / max(end - self.started, 1e-6)

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if self.total is None or rate <= 0:
            return None
        return max(self.total - self.done - self.failed_domains, 0) / rate


def _int(value: Any, default: int = 0) -> int:
    return int(value) if value not in (None, b"", "") else default


def progress(r: redis.Redis, scan_id: str) -> Progress | None:
    meta = read_meta(r, scan_id)
    if not meta:
        return None
    pipe = r.pipeline()
    pipe.get(key("done_domains", scan_id))
    pipe.get(key("failed_domains", scan_id))
    pipe.scard(key("smtp_pending", scan_id))
    pipe.hgetall(key("failed_kinds", scan_id))
    pipe.hvals(key("failed", scan_id))
    pipe.get(key("redelivered", scan_id))
    pipe.hlen(key("ledger", scan_id))
    done, failed, pending, kinds, examples, redelivered, in_ledger = pipe.execute()
    return Progress(
        scan_id=scan_id, kind=meta.get("kind", "adhoc"),
        total=_int(meta["total"]) if meta.get("enqueued") == "1" else None,
        done=_int(done), failed_domains=_int(failed),
        started=float(meta.get("started", time.time())),
        finished=float(meta["finished"]) if meta.get("finished") else None,
        probes_pending=int(pending),
        failures={k.decode(): int(v) for k, v in kinds.items()},
        failure_examples=[json.loads(e)["reason"] for e in examples[:5]],
        redelivered=_int(redelivered), damage=meta.get("damage", ""), in_ledger=int(in_ledger))


def queue_depths(r: redis.Redis) -> dict[str, int]:
    pipe = r.pipeline()
    for q in QUEUES:
        pipe.llen(q)
    pipe.llen(RESULTS)
    values = pipe.execute()
    return {**{q: int(v) for q, v in zip(QUEUES, values, strict=False)},
            "results": int(values[-1])}


def scan_ids(r: redis.Redis) -> list[str]:
    found = [k.decode().removeprefix(PREFIX + "scan:")
             for k in r.scan_iter(match=PREFIX + "scan:*", count=1000)]
    return sorted(found)
