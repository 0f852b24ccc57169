"""``danescan writer``: the one process that moves results from Redis into clickhouse-server.

It peeks at the head of the results list, writes the rows (host tables first, ``domains`` last, so a
domain row in ClickHouse means its hosts' rows are there too), and only then trims what it wrote
from the list: a ClickHouse that is down or restarting only makes the list wait. A crash between
the write and the trim writes the same rows again, which FINAL (ReplacingMergeTree) collapses.
A lock in Redis keeps a second writer idle while the first is alive. The writer also closes scans:
when every domain is done or failed, no probe is pending, the scan's ledger
(workers.cluster.ledger) and the list are empty, it writes the scan's ``finished`` row.

A message that does not decode, or that ClickHouse rejects for its data, does not block the ones
behind it: a rejected batch is split down to the messages at fault (workers.cluster.poison), the
rest is written, and the messages at fault go to the dead-letter list (workers.cluster.deadletter)
in the same Redis step that trims the batch from the results list. A dead-lettered message counts
as a failure of its scan (kind ``writer: dead letter``), so the scan still ends, with failures;
replaying it takes that back. A rejection that is not the data's fault (server down, timeout,
unknown table, ...) is retried with back-off, as before: nothing is set aside.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from workers.cluster import codec, deadletter, poison
from workers.cluster.deadletter import DeadLetter, LockLost
from workers.cluster.state import (
    PREFIX,
    RESULTS,
    SCANS,
    key,
    meta_key,
    progress,
    read_meta,
    record_failure,
)
from workers.store.backend import Database, StoreError
from workers.store.rows import ROW_TYPES, DomainRow, Row, ScanRow
from workers.store.snapshots import derive_closed
from workers.store.writer import WriteError, Writer
from workers.version import __version__

LOCK = PREFIX + "writer-lock"


@dataclass
class Message:
    """One decoded entry of a batch: its place in the batch, its bytes, envelope and rows."""

    index: int
    raw: bytes
    meta: dict[str, Any]
    rows: list[Row]


def _is_row(obj: object) -> bool:
    return isinstance(obj, ROW_TYPES)


def _tables(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r.TABLE for r in rows))


def _failed_table(exc: BaseException) -> str | None:
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, WriteError):
            return e.table
        e = e.__cause__
    return None


def _reason(exc: BaseException) -> str:
    """One line: the database's (or the driver's) complaint, without the writer's wrapping."""
    inner = exc.__cause__ if isinstance(exc, WriteError) and exc.__cause__ is not None else exc
    return poison.one_line(inner)


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
        self.dead_letters = 0  # set aside by this writer
        self.max_message_bytes = deadletter.MAX_MESSAGE_BYTES
        self.max_dead_letters = deadletter.MAX_ENTRIES
        self.max_dead_bytes = deadletter.MAX_BYTES

    # -- one writer at a time --------------------------------------------------------------------

    def hold_lock(self, ttl: int = 30) -> bool:
        if self.r.set(LOCK, self.token, nx=True, ex=ttl):
            return True
        owner = self.r.get(LOCK)
        if owner is not None and text(owner) == self.token:
            self.r.expire(LOCK, ttl)
            return True
        return False

    @contextlib.contextmanager
    def lock_kept(self, ttl: int = 30, every: float = 10.0) -> Iterator[None]:
        """Keep this writer's lock alive while one long step runs between the loop's turns (storing
        a closed scan's snapshot rows may outlast the lock's TTL on a .com-sized scan): a thread
        renews it every ``every`` seconds. A lock another writer has taken meanwhile stays
        theirs."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(every):
                self.hold_lock(ttl)

        keeper = threading.Thread(target=renew, name="writer-lock", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def release_lock(self) -> None:
        owner = self.r.get(LOCK)
        if owner is not None and text(owner) == self.token:
            self.r.delete(LOCK)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool] = lambda: False, idle: float = 0.1) -> None:
        waiting_said = False
        adopted = False
        try:
            while not stop():
                if not self.hold_lock():
                    if not waiting_said:
                        self.say("another writer holds the lock; waiting")
                        waiting_said = True
                    time.sleep(1.0)
                    continue
                waiting_said = False
                if not adopted:
                    adopted = True
                    if moved := self.adopt_old_bad():
                        self.say(f"{moved} undecodable messages of an older writer are now "
                                 f"dead letters")
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
        messages: list[Message] = []
        letters: list[tuple[DeadLetter, bytes]] = []
        for i, item in enumerate(raw):
            try:
                meta, decoded = codec.decode_message(item)
            except codec.DecodeError as exc:
                letters.append(deadletter.letter(item, "decode", f"DecodeError: {exc}",
                                                 codec.envelope(item),
                                                 max_bytes=self.max_message_bytes))
                continue
            messages.append(Message(i, item, meta, decoded))
        rows = sum(len(m.rows) for m in messages)
        if (not letters and rows < self.batch_rows and len(raw) == depth
                and len(raw) < self.max_messages and now - self.first_seen < self.max_age):
            return 0  # not due yet: wait for more rows or for the oldest to age
        try:
            faults = self.write_isolating(messages)
        except LockLost:
            self.say("another writer took the lock; this one waits")
            return 0
        except Exception as exc:  # noqa: BLE001 - not the data's fault: retried, never fatal
            self.failures += 1
            delay = min(30.0, 0.5 * 2 ** min(self.failures, 6))
            self.next_try = time.monotonic() + delay
            self.say(f"ClickHouse did not take {rows} rows ({_reason(exc)}); "
                     f"{depth} result messages wait in Redis; retry in {delay:.0f} s")
            self.close_db()
            return 0
        self.failures = 0
        for m, error in faults:
            table = _failed_table(error)
            tables = _tables(m.rows)
            if table is not None:
                tables = [table, *(t for t in tables if t != table)]
            letters.append(deadletter.letter(m.raw, "write", _reason(error), m.meta, tables,
                                             max_bytes=self.max_message_bytes))
        bad = {m.index for m, _ in faults}
        written = [m for m in messages if m.index not in bad]
        # counted before the trim: a crash in between counts nothing twice (both are idempotent)
        self.count_failures([dl for dl, _ in letters])
        self.mark_done([m.meta for m in written])
        try:
            kept, dropped = deadletter.commit(self.r, LOCK, self.token, len(raw), letters,
                                              self.max_dead_letters, self.max_dead_bytes)
        except LockLost:
            self.say("another writer took the lock; this one waits (what it wrote is written "
                     "again, harmlessly)")
            return 0
        self.dead_letters += len(kept)
        for dl in kept:
            self.say(f"a result message set aside as a dead letter: {dl.line()}")
        if dropped:
            self.say(f"the dead-letter list is full: its {dropped} oldest entries were dropped")
        self.first_seen = None
        done = sum(len(m.rows) for m in written)
        self.rows_written += done
        return max(done, 1)

    def write_isolating(self, messages: list[Message]) -> list[tuple[Message, BaseException]]:
        """Write the messages' rows, host tables before ``domains``; returns the messages that
        ClickHouse rejected for their data, with the error. Other failures propagate."""
        if not messages:
            return []
        if self.db is None:
            self.db = self.connect_db()
        faults: dict[int, tuple[Message, BaseException]] = {}
        # table schemas cached from earlier batches may be stale (the operator changed a column
        # to take the values rejected before): the first rejection is tried once more with the
        # schemas read again, before anything is split or set aside
        stale = [self.writer is not None]

        def write(part: Sequence[tuple[Message, list[Row]]]) -> None:
            try:
                self._write_part(part)
            except Exception as exc:
                if not (stale[0] and poison.at_fault(exc, _is_row)):
                    raise
                stale[0] = False
                self._write_part(part)  # write_rows dropped the writer and its schemas

        for is_domain in (False, True):
            part = [(m, [r for r in m.rows if isinstance(r, DomainRow) == is_domain])
                    for m in messages if m.index not in faults]
            part = [(m, rs) for m, rs in part if rs]
            found = poison.isolate(part, write, lambda exc: poison.at_fault(exc, _is_row))
            for i, exc in found.at_fault:
                faults[part[i][0].index] = (part[i][0], exc)
            if found.writes > 1:
                self.say(f"a batch of {len(part)} messages was rejected for its data; "
                         f"{found.writes} writes found {len(found.at_fault)} at fault")
        return sorted(faults.values(), key=lambda f: f[0].index)

    def _write_part(self, part: Sequence[tuple[Message, list[Row]]]) -> None:
        if not self.hold_lock():
            raise LockLost("another writer holds the lock")
        self.write_rows([r for _, rs in part for r in rs])

    def write_rows(self, rows: Sequence[Row]) -> None:
        """One insert per table; a writer whose insert failed is dropped (its buffers still hold
        the rows), so the next try starts clean."""
        if self.db is None:
            self.db = self.connect_db()
        if self.writer is None:
            self.writer = Writer(self.db, max_rows=10**9, max_age=10**9, retries=0)
        try:
            self.writer.add_many(rows)
            self.writer.flush()
        except BaseException:
            self.writer = None
            raise

    def write(self, rows: list[Row]) -> None:
        first = [r for r in rows if not isinstance(r, DomainRow)]
        last = [r for r in rows if isinstance(r, DomainRow)]
        for part in (first, last):
            if part:
                self.write_rows(part)

    def count_failures(self, letters: Sequence[DeadLetter]) -> None:
        """Each dead letter of a known scan is a failure of that scan (once per task key), so
        that the scan still ends, with failures."""
        for dl in letters:
            field = dl.failure_field()
            if dl.scan is not None and field is not None and self.r.exists(meta_key(dl.scan)):
                record_failure(self.r, dl.scan, field, deadletter.FAILURE_KIND,
                               f"{dl.kind} {dl.key}: {dl.error}", dl.domains)

    def adopt_old_bad(self) -> int:
        """Messages an older writer kept in ``results:bad`` become dead letters."""
        moved = 0
        while (item := self.r.lindex(deadletter.OLD_BAD, 0)) is not None:
            assert isinstance(item, bytes)
            dl = deadletter.letter(item, "decode", "set aside by an older writer (results:bad)",
                                   codec.envelope(item), max_bytes=self.max_message_bytes)
            deadletter.commit(self.r, LOCK, self.token, 0, [dl], self.max_dead_letters,
                              self.max_dead_bytes)
            self.r.lpop(deadletter.OLD_BAD)
            moved += 1
        return moved

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
                    or p.in_ledger or self.r.llen(RESULTS)):
                continue
            meta = read_meta(self.r, scan_id)
            status = "finished" if not p.failures else "finished-with-failures"
            if meta.get("damage"):  # an input was damaged: what was read is done, not all
                status = "incomplete"
            row = ScanRow(scan_id=scan_id, kind=meta.get("kind", "adhoc"),
                          started_at=int(meta["now"]), finished_at=int(time.time()),
                          inputs=json.loads(meta.get("inputs", "[]")),
                          settings=meta.get("settings", "{}"), software_version=__version__,
                          status=status, status_reason=meta.get("damage", ""))
            try:
                self.write([row])
            except (StoreError, WriteError) as exc:
                self.say(f"could not close scan {scan_id}: {exc}")
                self.close_db()
                return
            self.r.hset(key("scan", scan_id), "finished", str(time.time()))
            self.r.srem(SCANS, scan_id)
            if self.db is not None:  # the analyses' rows of this snapshot, stored once
                with self.lock_kept():
                    derive_closed(self.db)
            self.say(f"scan {scan_id} {status}: {p.done} domains done, {p.failed_domains} failed")
