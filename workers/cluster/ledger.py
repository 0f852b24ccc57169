"""The chunk ledger: the store of record of every task's work, so that no chunk can be lost.

A Celery message over Redis is not a safe place for work: kombu's transport pops a message (BRPOP)
and only afterwards records it as unacknowledged, so a worker killed in between loses it; a message
restored after its visibility timeout while the first delivery still runs shares its delivery tag
with it, and the first ack deletes the second's record. Rather than depend on what kombu does, the
work itself lives in Redis, and the Celery message is only a ticket:

* the producer writes each chunk into the scan's ledger (a hash ``ledger:<scan>``: entry -> spec,
  the payload included) in the same Redis step that marks the chunk enqueued, and only then
  publishes a ticket (task id ``<scan>:<entry>``, payload ``None``);
* a worker that receives a ticket takes the spec from the ledger and records itself as the entry's
  holder (``holders:<scan>``); a ticket whose entry is gone is a duplicate of work already done and
  is acknowledged at once;
* the worker removes the entry in the same MULTI/EXEC that pushes the chunk's rows to the results
  list (``finish``), or when it records the chunk as failed for good (``drop``);
* every worker process refreshes a heartbeat key while it lives; a holder without one is dead;
* a sweeper (``sweep``: in every worker process, at most one sweep per interval across the cluster
  through a Redis lock) re-publishes the tickets of entries that no message carries any more, found
  so in two sweeps at least ``grace`` seconds apart (a worker between BRPOP and recording the
  message is caught by neither look for a moment): held by a worker whose heartbeat ended, with no
  ticket back in a queue (so a killed worker's chunks return within the heartbeat and the grace,
  not after kombu's visibility timeout); or held by nobody, with no ticket in a queue or in kombu's
  unacknowledged hash (a record there older than the visibility timeout and the grace does not
  count: kombu should have restored it). While the queues and the unacknowledged hash hold at least as many
  messages as the ledger has entries the sweep costs a few counts; only when entries outnumber
  messages (something was lost, or a worker is in that moment) does it read the messages' ids.

Duplicates are harmless (rows are ReplacingMergeTree-keyed, chunk counts are sets); a scan is
finished only when its ledger is empty. kombu's key names (queues with priority suffixes, the
``unacked`` hash) are read, never written: if they changed, the sweep would find no messages and
re-publish unheld entries after the grace (duplicates, never loss).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from workers.cluster.state import PREFIX, QUEUES, SCANS, key

SUSPECTS = PREFIX + "ledger-suspects"  # "<scan>\t<entry>" -> time first found without a message
SWEEP_LOCK = PREFIX + "ledger-sweep"
UNACKED = "unacked"  # kombu's Redis transport: delivery tag -> [message, exchange, routing key]
UNACKED_INDEX = "unacked_index"  # kombu: delivery tag -> time it was recorded
PRIORITY_SEP = "\x06\x16"  # kombu's queue name separator for priority lists
PRIORITY_STEPS = (3, 6, 9)  # kombu's default priority lists beside the plain one

Republish = Callable[[Mapping[str, Any], str], None]  # (spec, task id)


def ledger_key(scan_id: str) -> str:
    return key("ledger", scan_id)


def holders_key(scan_id: str) -> str:
    return key("holders", scan_id)


def worker_key(worker: str) -> str:
    return f"{PREFIX}worker:{worker}"


def task_id(scan_id: str, entry: str) -> str:
    return f"{scan_id}:{entry}"


def chunk_entry(scan_id: str, chunk_no: int, payload: list[Any]) -> tuple[str, dict[str, Any]]:
    """A chunk of domains: entry ``c<no>``, task ``danescan.dns_chunk`` on queue ``dns``."""
    return f"c{chunk_no}", {"task": "danescan.dns_chunk", "queue": "dns",
                            "args": [scan_id, chunk_no, len(payload)], "kwargs": {},
                            "payload": payload}


def host_entry(scan_id: str, chunk_no: int, payload: list[Any]) -> tuple[str, dict[str, Any]]:
    """A chunk of MX host names (the hourly re-scan): entry ``h<no>``, queue ``smtp``."""
    owner = f"h{chunk_no}"
    return owner, {"task": "danescan.host_chunk", "queue": "smtp",
                   "args": [scan_id, owner, len(payload)], "kwargs": {}, "payload": payload}


def deferred_entry(scan_id: str, owner: str, names: list[str]) -> tuple[str, dict[str, Any]]:
    """DANE hosts of chunk ``owner`` whose verdict waits for ClickHouse (one entry per group)."""
    import hashlib

    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:10]
    entry = f"{owner}.deferred.{digest}"
    return entry, {"task": "danescan.host_chunk", "queue": "smtp",
                   "args": [scan_id, owner, len(names)],
                   "kwargs": {"counted": False, "entry": entry}, "payload": names}


def ticket(spec: Mapping[str, Any]) -> tuple[str, list[Any], dict[str, Any], str]:
    """(task name, args, kwargs, queue) of the message that carries an entry: payload ``None``."""
    return (str(spec["task"]), [*spec["args"], None], dict(spec.get("kwargs") or {}),
            str(spec["queue"]))


def queue_keys(queues: Iterable[str] = QUEUES) -> list[str]:
    return [k for q in queues for k in (q, *(f"{q}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS))]


def message_id(raw: bytes | str) -> str | None:
    """The task id of a kombu message as stored in a queue list, or ``None``."""
    try:
        msg = json.loads(raw)
        got = msg.get("headers", {}).get("id") if isinstance(msg, dict) else None
    except (ValueError, AttributeError):
        return None
    return got if isinstance(got, str) else None


def unacked_id(raw: bytes | str) -> str | None:
    """The task id of an entry of kombu's unacknowledged hash (``[message, exchange, key]``)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, list) and value:
        return message_id(json.dumps(value[0]))
    return None


# -- the pure judgement ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Judgement:
    republish: list[tuple[str, str]]  # (scan, entry) due now
    suspects: dict[str, float]  # what the suspects hash holds after this sweep
    missing: int  # entries no message carries (due or not yet)


def suspect_field(scan_id: str, entry: str) -> str:
    return f"{scan_id}\t{entry}"


def judge(entries: Mapping[str, Sequence[str]], holders: Mapping[str, Mapping[str, str]],
          live: set[str], queued: set[str], suspects: Mapping[str, float], now: float,
          grace: float, unacked: set[str] | frozenset[str] = frozenset()) -> Judgement:
    """Which ledger entries to publish again, found so at least ``grace`` seconds ago: held by
    a worker that died, unless a ticket for them waits in a queue again (``queued`` task ids);
    held by nobody, with no ticket queued or unacknowledged (``unacked``: a worker has it)."""
    due: list[tuple[str, str]] = []
    kept: dict[str, float] = {}
    missing = 0
    for scan_id, names in entries.items():
        held = holders.get(scan_id, {})
        for entry in names:
            tid = task_id(scan_id, entry)
            holder = held.get(entry)
            if holder in live or tid in queued or (holder is None and tid in unacked):
                continue
            missing += 1
            field_ = suspect_field(scan_id, entry)
            first = suspects.get(field_)
            if first is not None and now - first >= grace:
                due.append((scan_id, entry))
            else:
                kept[field_] = first if first is not None else now
    return Judgement(due, kept, missing)


# -- Redis ---------------------------------------------------------------------------------------

def write_entries(pipe: Any, scan_id: str, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Adds the entries to the scan's ledger inside the caller's pipeline (before any ticket)."""
    if entries:
        pipe.hset(ledger_key(scan_id),
                  mapping={e: json.dumps(spec, separators=(",", ":")) for e, spec in entries})


def take(r: redis.Redis, scan_id: str, entry: str, worker: str) -> dict[str, Any] | None:
    """The entry's spec, now held by ``worker``; ``None`` when it is done (a duplicate ticket)."""
    pipe = r.pipeline()
    pipe.hget(ledger_key(scan_id), entry)
    pipe.hset(holders_key(scan_id), entry, worker)
    raw, _ = pipe.execute()
    if raw is None:
        r.hdel(holders_key(scan_id), entry)
        return None
    spec: dict[str, Any] = json.loads(raw)
    return spec


def finish(pipe: Any, scan_id: str, entry: str) -> None:
    """The entry is done: removed inside the caller's MULTI (the one that pushes its rows)."""
    pipe.hdel(ledger_key(scan_id), entry)
    pipe.hdel(holders_key(scan_id), entry)


def release(r: redis.Redis, scan_id: str, entry: str) -> None:
    """No longer held (the task is retried: its new message carries it)."""
    r.hdel(holders_key(scan_id), entry)


def drop(r: redis.Redis, scan_id: str, entry: str) -> None:
    """Given up on (recorded as failed): no longer work to do."""
    pipe = r.pipeline()
    finish(pipe, scan_id, entry)
    pipe.execute()


def pending(r: redis.Redis, scan_id: str) -> int:
    return int(r.hlen(ledger_key(scan_id)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class SweepReport:
    entries: int = 0
    messages: int = 0
    looked: bool = False  # the messages' ids were read (entries outnumbered messages)
    missing: int = 0
    republished: list[str] = field(default_factory=list)  # task ids


def sweep(r: redis.Redis, republish: Republish, now: float | None = None,
          grace: float = 10.0, stale: float = 3600.0) -> SweepReport:
    """One sweep over the unfinished scans (see the module's text). An unacknowledged record
    older than ``stale`` seconds (the visibility timeout and the grace) no longer counts as a
    message: kombu should have restored it by then; if it did not, the ledger does."""
    now = time.time() if now is None else now
    report = SweepReport()
    scans = sorted(_text(s) for s in r.smembers(SCANS))
    qkeys = queue_keys()
    pipe = r.pipeline(transaction=False)
    for s in scans:
        pipe.hlen(ledger_key(s))
    for q in qkeys:
        pipe.llen(q)
    pipe.zcount(UNACKED_INDEX, now - stale, "+inf")
    counts = pipe.execute()
    sizes = dict(zip(scans, counts[:len(scans)], strict=True))
    queued = sum(counts[len(scans):len(scans) + len(qkeys)])
    report.entries = sum(sizes.values())
    report.messages = queued + int(counts[-1])
    # the holders (as many as chunks in flight: few) and whether they live
    holders: dict[str, dict[str, str]] = {}
    for s in scans:
        if sizes[s]:
            holders[s] = {_text(k): _text(v) for k, v in r.hgetall(holders_key(s)).items()}
    workers = sorted({w for h in holders.values() for w in h.values()})
    alive = r.pipeline(transaction=False)
    for w in workers:
        alive.exists(worker_key(w))
    live = {w for w, up in zip(workers, alive.execute(), strict=True) if up}
    if report.entries <= report.messages and live.issuperset(workers):
        r.delete(SUSPECTS)  # every entry may still have its message, and no holder died
        return report
    report.looked = True
    tags = r.zrangebyscore(UNACKED_INDEX, now - stale, "+inf")
    records = r.hmget(UNACKED, tags) if tags else []  # type: ignore[arg-type]
    unacked = {i for v in records if v is not None and (i := unacked_id(v)) is not None}
    waiting: set[str] = set()
    for q in qkeys:
        start = 0
        while True:
            page: list[bytes] = r.lrange(q, start, start + 999)  # type: ignore[assignment]
            waiting.update(i for m in page if (i := message_id(m)) is not None)
            if len(page) < 1000:
                break
            start += 1000
    entries = {s: [_text(e) for e in r.hkeys(ledger_key(s))] for s in scans if sizes[s]}
    old = {_text(k): float(v) for k, v in r.hgetall(SUSPECTS).items()}
    verdict = judge(entries, holders, live, waiting, old, now, grace, unacked)
    report.missing = verdict.missing
    for scan_id, entry in verdict.republish:
        raw = r.hget(ledger_key(scan_id), entry)
        if raw is None:  # finished meanwhile
            continue
        tid = task_id(scan_id, entry)
        republish(json.loads(raw), tid)
        r.incr(key("republished", scan_id))
        report.republished.append(tid)
    pipe = r.pipeline()
    pipe.delete(SUSPECTS)
    if verdict.suspects:
        pipe.hset(SUSPECTS, mapping=verdict.suspects)  # type: ignore[arg-type]
    pipe.execute()
    return report


class Keeper:
    """A worker process's heartbeat (its holds count while it lives) and its share of the sweeps:
    a daemon thread; at most one sweep per ``interval`` across the cluster (a Redis lock)."""

    def __init__(self, r: redis.Redis, republish: Republish, *, interval: float = 5.0,
                 grace: float = 10.0, ttl: float = 15.0, visibility: float = 3600.0,
                 say: Callable[[str], None] = lambda _m: None) -> None:
        self.r = r
        self.republish = republish
        self.interval = interval
        self.grace = grace
        self.ttl = ttl
        self.stale = visibility + grace
        self.say = say
        self.worker = f"{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self.beat()
        self.thread = threading.Thread(target=self._run, name="ledger", daemon=True)
        self.thread.start()

    def beat(self) -> None:
        self.r.set(worker_key(self.worker), "1", px=int(self.ttl * 1000))

    def _run(self) -> None:
        beat_every = min(self.interval, self.ttl / 3)
        next_sweep = time.monotonic() + self.interval
        while not self._stop.wait(beat_every):
            try:
                self.beat()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.interval
                    if self.r.set(SWEEP_LOCK, self.worker, nx=True,
                                  px=int(self.interval * 1000)):
                        rep = sweep(self.r, self.republish, grace=self.grace, stale=self.stale)
                        if rep.republished:
                            self.say(f"ledger: {len(rep.republished)} chunk(s) no message carried "
                                     f"were published again: {', '.join(rep.republished[:5])}")
            except redis.RedisError as exc:  # Redis away: the next beat tries again
                self.say(f"ledger: Redis: {exc}")

    def stop(self) -> None:
        self._stop.set()
