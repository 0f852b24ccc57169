"""``danescan writer``: the one process that moves results from Redis into clickhouse-server.

It peeks at the head of the results list, writes the rows (host tables first, ``domains`` last, so a
domain row in ClickHouse means its hosts' rows are there too), and only then trims what it wrote
from the list: a ClickHouse that is down or restarting only makes the list wait. A crash between
the write and the trim writes the same rows again, which FINAL (ReplacingMergeTree) collapses.
A lock in Redis keeps a second writer idle while the first is alive. The writer also closes scans:
when every domain is done or failed, no probe is pending and the list is empty, it writes the
scan's ``finished`` row.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from danescan import __version__
from workers.cluster import codec
from workers.cluster.state import PREFIX, RESULTS, SCANS, key, progress, read_meta
from workers.store.backend import Database, StoreError
from workers.store.rows import DomainRow, Row, ScanRow
from workers.store.writer import WriteError, Writer

BAD = PREFIX + "results:bad"  # messages that do not decode, kept for a human
LOCK = PREFIX + "writer-lock"


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Drain:
    def __init__(self, r: redis.Redis, connect_db: Callable[[], Database], *,
                 batch_rows: int = 5000, max_age: float = 1.0, max_messages: int = 2000,
                 say: Callable[[str], None] = lambda _m: None) -> None:
        self.r = r
        self.connect_db = connect_db
        self.batch_rows = batch_rows
        self.max_age = max_age
        self.max_messages = max_messages
        self.say = say
        self.db: Database | None = None
        self.writer: Writer | None = None
        self.token = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.first_seen: float | None = None
        self.failures = 0
        self.rows_written = 0
        self.next_try = 0.0

    # -- one writer at a time --------------------------------------------------------------------

    def hold_lock(self, ttl: int = 30) -> bool:
        if self.r.set(LOCK, self.token, nx=True, ex=ttl):
            return True
        owner = self.r.get(LOCK)
        if owner is not None and text(owner) == self.token:
            self.r.expire(LOCK, ttl)
            return True
        return False

    def release_lock(self) -> None:
        owner = self.r.get(LOCK)
        if owner is not None and text(owner) == self.token:
            self.r.delete(LOCK)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool] = lambda: False, idle: float = 0.1) -> None:
        waiting_said = False
        try:
            while not stop():
                if not self.hold_lock():
                    if not waiting_said:
                        self.say("another writer holds the lock; waiting")
                        waiting_said = True
                    time.sleep(1.0)
                    continue
                waiting_said = False
                if self.step() == 0:
                    time.sleep(idle)
        finally:
            self.release_lock()
            self.close_db()

    def step(self) -> int:
        """Write one batch if one is due; returns rows written (0 when waiting or failing)."""
        now = time.monotonic()
        if now < self.next_try:
            return 0
        depth = int(self.r.llen(RESULTS))
        if depth == 0:
            self.first_seen = None
            self.close_scans()
            return 0
        if self.first_seen is None:
            self.first_seen = now
        raw: list[bytes] = self.r.lrange(RESULTS, 0, min(depth, self.max_messages) - 1)  # type: ignore[assignment]
        messages: list[tuple[dict[str, Any], list[Row]]] = []
        for item in raw:
            try:
                messages.append(codec.decode_message(item))
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                self.r.rpush(BAD, item)
                self.say(f"a result message does not decode ({type(exc).__name__}: {exc}); "
                         f"kept in {BAD}")
        rows = sum(len(m[1]) for m in messages)
        if (rows < self.batch_rows and len(raw) == depth and len(raw) < self.max_messages
                and now - self.first_seen < self.max_age):
            return 0  # not due yet: wait for more rows or for the oldest to age
        try:
            self.write([r for _, rs in messages for r in rs])
        except (StoreError, WriteError) as exc:
            self.failures += 1
            delay = min(30.0, 0.5 * 2 ** min(self.failures, 6))
            self.next_try = time.monotonic() + delay
            self.say(f"ClickHouse did not take {rows} rows ({exc}); "
                     f"{depth} result messages wait in Redis; retry in {delay:.0f} s")
            self.close_db()
            return 0
        self.failures = 0
        self.r.ltrim(RESULTS, len(raw), -1)  # only now: ClickHouse has the rows
        self.mark_done([m for m, _ in messages])
        self.first_seen = None
        self.rows_written += rows
        return max(rows, 1)

    def write(self, rows: list[Row]) -> None:
        if self.db is None:
            self.db = self.connect_db()
            self.writer = Writer(self.db, max_rows=10**9, max_age=10**9, retries=0)
        assert self.writer is not None
        first = [r for r in rows if not isinstance(r, DomainRow)]
        last = [r for r in rows if isinstance(r, DomainRow)]
        for part in (first, last):
            if part:
                self.writer.add_many(part)
                self.writer.flush()

    def close_db(self) -> None:
        db, self.db, self.writer = self.db, None, None
        if db is not None:
            with contextlib.suppress(StoreError):
                db.close()

    def mark_done(self, messages: list[dict[str, Any]]) -> None:
        """Count each DNS chunk's domains once (a redelivered chunk is not counted twice)."""
        chunks = [(m["scan"], m["key"], int(m["domains"])) for m in messages
                  if m.get("kind") == "dns"]
        if not chunks:
            return
        pipe = self.r.pipeline(transaction=False)
        for scan_id, chunk, _ in chunks:
            pipe.sadd(key("done_chunks", scan_id), chunk)
        added = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for (scan_id, _, n), new in zip(chunks, added, strict=True):
            if new:
                pipe.incrby(key("done_domains", scan_id), n)
        pipe.execute()

    def close_scans(self) -> None:
        for raw in self.r.smembers(SCANS):
            scan_id = text(raw)
            p = progress(self.r, scan_id)
            if p is None:
                self.r.srem(SCANS, scan_id)
                continue
            if (p.total is None or p.done + p.failed_domains < p.total or p.probes_pending
                    or self.r.llen(RESULTS)):
                continue
            meta = read_meta(self.r, scan_id)
            status = "finished" if not p.failures else "finished-with-failures"
            row = ScanRow(scan_id=scan_id, kind=meta.get("kind", "adhoc"),
                          started_at=int(meta["now"]), finished_at=int(time.time()),
                          inputs=json.loads(meta.get("inputs", "[]")),
                          settings=meta.get("settings", "{}"), software_version=__version__,
                          status=status)
            try:
                self.write([row])
            except (StoreError, WriteError) as exc:
                self.say(f"could not close scan {scan_id}: {exc}")
                self.close_db()
                return
            self.r.hset(key("scan", scan_id), "finished", str(time.time()))
            self.r.srem(SCANS, scan_id)
            self.say(f"scan {scan_id} {status}: {p.done} domains done, {p.failed_domains} failed")
