"""The dead-letter list: result messages the writer could not store, kept with their error.

A message goes here when it does not decode (not JSON, nested too deeply, a wrong shape or type)
or when ClickHouse rejects it for its data (workers.cluster.poison). The writer moves it here and
trims it from the results list in ONE Redis script (``commit``), so a message is always in exactly
one of the two lists; a writer killed before the script runs finds the message in the results list
again. ``replay`` moves a dead letter back to the results list (after the schema or the code was
fixed); ``drop`` forgets it.

In Redis (every key under ``danescan:dead-letters``):

* ``dead-letters``: list of entry ids, oldest first;
* ``dead-letters:entry``: hash id -> header (JSON: time, stage, error, scan, kind, key, domains,
  tables, size, kept);
* ``dead-letters:raw``: hash id -> the message's bytes, at most ``MAX_MESSAGE_BYTES`` of them: a
  longer message keeps its first ``MAX_MESSAGE_BYTES`` (its size says how long it was) and cannot
  be replayed;
* ``dead-letters:bytes`` (bytes held), ``dead-letters:dropped`` (entries dropped by the cap),
  ``dead-letters:seq`` (the last id given).

The list is bounded: past ``max_entries`` entries or ``max_bytes`` bytes the oldest entries are
dropped and counted, so that a flood of bad messages cannot fill Redis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import redis

from workers.cluster.state import PREFIX, RESULTS, SCANS, key, meta_key

DEAD = PREFIX + "dead-letters"
ENTRY = DEAD + ":entry"
RAW = DEAD + ":raw"
BYTES = DEAD + ":bytes"
DROPPED = DEAD + ":dropped"
SEQ = DEAD + ":seq"
OLD_BAD = PREFIX + "results:bad"  # where writers before the dead-letter list put undecodable ones

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_BYTES = 256 * 1024 * 1024
FAILURE_KIND = "writer: dead letter"  # the scan's failure kind for a dead-lettered message


@dataclass(frozen=True)
class DeadLetter:
    """What is known about one dead letter (the bytes stay in Redis)."""

    at: float  # when it was set aside, seconds since the epoch
    stage: str  # "decode" | "write"
    error: str  # one line
    scan: str | None = None  # from the message's envelope, when it could be read
    kind: str | None = None  # dns | smtp | scan
    key: str | None = None  # the task's key within the scan
    domains: int = 0  # domains the message completes (a DNS chunk)
    tables: tuple[str, ...] = ()  # the table that failed first, then the message's other tables
    size: int = 0  # bytes of the message
    kept: int = 0  # bytes kept: less than size when the message was cut
    id: int = 0  # given by commit

    @property
    def cut(self) -> bool:
        return self.kept < self.size

    def header(self) -> str:
        d = asdict(self)
        d.pop("id")
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_header(cls, entry_id: int, text: str | bytes) -> DeadLetter:
        d: dict[str, Any] = json.loads(text)
        d["tables"] = tuple(d.get("tables", ()))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "id"}
        return cls(id=entry_id, **known)

    def failure_field(self) -> str | None:
        """The field of the scan's failures hash under which this dead letter is counted."""
        if self.scan is None or self.key is None:
            return None
        return f"writer:{self.kind}:{self.key}"

    def line(self) -> str:
        """One line for a terminal: id, time, where it came from, the error."""
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        where = " ".join(x for x in (self.scan, self.kind, self.key) if x) or "unknown origin"
        table = f" {self.tables[0]}" if self.tables and self.stage == "write" else ""
        cut = f"; cut to {self.kept:,} of {self.size:,} bytes" if self.cut else ""
        return _printable(f"#{self.id} {when} {self.stage}{table} ({where}, {self.size:,} bytes"
                          f"{cut}): {self.error}")


def _printable(text: str) -> str:
    """No terminal control characters from a message's content."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def letter(raw: bytes, stage: str, error: str, envelope: dict[str, Any],
           tables: Sequence[str] = (), max_bytes: int = MAX_MESSAGE_BYTES,
           now: float | None = None) -> tuple[DeadLetter, bytes]:
    """A dead letter and the bytes to keep of its message."""
    kept = raw[:max_bytes]
    dl = DeadLetter(at=time.time() if now is None else now, stage=stage, error=error[:500],
                    scan=envelope.get("scan"), kind=envelope.get("kind"), key=envelope.get("key"),
                    domains=int(envelope.get("domains") or 0), tables=tuple(tables),
                    size=len(raw), kept=len(kept))
    return dl, kept


# -- the writer's side: set aside and trim in one step ------------------------------------------

_COMMIT = """
-- KEYS: results, ids, entry, raw, bytes, dropped, seq, lock
-- ARGV: token, trim, max_entries, max_bytes, header1, raw1, header2, raw2, ...
if redis.call('GET', KEYS[8]) ~= ARGV[1] then return {-1, 0} end
local id = 0
for i = 5, #ARGV, 2 do
  id = redis.call('INCR', KEYS[7])
  redis.call('RPUSH', KEYS[2], id)
  redis.call('HSET', KEYS[3], id, ARGV[i])
  redis.call('HSET', KEYS[4], id, ARGV[i + 1])
  redis.call('INCRBY', KEYS[5], string.len(ARGV[i + 1]))
end
local dropped = 0
local max_entries = tonumber(ARGV[3])
local max_bytes = tonumber(ARGV[4])
while true do
  local n = redis.call('LLEN', KEYS[2])
  local held = tonumber(redis.call('GET', KEYS[5]) or '0')
  if n == 0 or (n <= max_entries and (held <= max_bytes or n == 1)) then break end
  local old = redis.call('LPOP', KEYS[2])
  redis.call('DECRBY', KEYS[5], redis.call('HSTRLEN', KEYS[4], old))
  redis.call('HDEL', KEYS[3], old)
  redis.call('HDEL', KEYS[4], old)
  dropped = dropped + 1
end
if dropped > 0 then redis.call('INCRBY', KEYS[6], dropped) end
local trim = tonumber(ARGV[2])
if trim > 0 then redis.call('LTRIM', KEYS[1], trim, -1) end
return {dropped, id}
"""


class LockLost(Exception):
    """Another writer holds the lock: this one must not trim the results list."""


def commit(r: redis.Redis, lock: str, token: str, trim: int,
           letters: Sequence[tuple[DeadLetter, bytes]], max_entries: int = MAX_ENTRIES,
           max_bytes: int = MAX_BYTES) -> tuple[list[DeadLetter], int]:
    """Atomically: add ``letters`` to the dead-letter list (dropping the oldest past the caps),
    then remove the first ``trim`` messages of the results list; only while ``token`` holds
    ``lock``, else LockLost. Returns the letters with their ids, and the number of old entries
    the caps dropped."""
    args: list[Any] = [token, trim, max_entries, max_bytes]
    for dl, kept in letters:
        args += [dl.header(), kept]
    dropped, last = r.eval(_COMMIT, 8, RESULTS, DEAD, ENTRY, RAW, BYTES, DROPPED, SEQ, lock,
                           *args)
    if int(dropped) < 0:
        raise LockLost("another writer holds the lock")
    first = int(last) - len(letters) + 1
    return [replace(dl, id=first + i) for i, (dl, _) in enumerate(letters)], int(dropped)


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    count: int
    dropped: int
    bytes: int
    newest: tuple[DeadLetter, ...]  # newest first


def entries(r: redis.Redis, ids: Sequence[int]) -> list[DeadLetter]:
    """The dead letters of ``ids`` that exist, in the order given."""
    if not ids:
        return []
    headers = r.hmget(ENTRY, [str(i) for i in ids])
    return [DeadLetter.from_header(i, h) for i, h in zip(ids, headers, strict=True)
            if h is not None]


def ids(r: redis.Redis, limit: int | None = None) -> list[int]:
    """Ids of the dead letters, oldest first; with ``limit``, the newest ``limit`` of them."""
    found: list[bytes] = r.lrange(DEAD, -limit if limit else 0, -1)  # type: ignore[assignment]
    return [int(x) for x in found]


def summary(r: redis.Redis, newest: int = 5) -> Summary:
    """How many dead letters there are, how many the caps dropped, and the newest few."""
    pipe = r.pipeline(transaction=False)
    pipe.llen(DEAD)
    pipe.get(DROPPED)
    pipe.get(BYTES)
    count, dropped, held = pipe.execute()
    recent = entries(r, ids(r, newest)[::-1]) if newest > 0 else []
    return Summary(int(count), int(dropped or 0), int(held or 0), tuple(recent))


def raw(r: redis.Redis, entry_id: int) -> bytes | None:
    value: bytes | None = r.hget(RAW, str(entry_id))  # type: ignore[assignment]
    return value


# -- the operator's side: replay and drop ---------------------------------------------------------

_REPLAY = """
-- KEYS: ids, entry, raw, bytes, results, failed, failed_kinds, failed_domains, meta, scans
-- ARGV: id, failure field, failure kind, domains, scan
local body = redis.call('HGET', KEYS[3], ARGV[1])
if not body then return 0 end
redis.call('RPUSH', KEYS[5], body)
redis.call('DECRBY', KEYS[4], string.len(body))
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('LREM', KEYS[1], 1, ARGV[1])
if ARGV[2] ~= '' and redis.call('HDEL', KEYS[6], ARGV[2]) == 1 then
  if redis.call('HINCRBY', KEYS[7], ARGV[3], -1) <= 0 then redis.call('HDEL', KEYS[7], ARGV[3]) end
  redis.call('DECRBY', KEYS[8], tonumber(ARGV[4]))
end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[9]) == 1 then
  redis.call('HDEL', KEYS[9], 'finished')
  redis.call('SADD', KEYS[10], ARGV[5])
end
return 1
"""

_DROP = """
-- KEYS: ids, entry, raw, bytes
local n = redis.call('HSTRLEN', KEYS[3], ARGV[1])
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[4], n)
redis.call('LREM', KEYS[1], 1, ARGV[1])
return 1
"""


def replay(r: redis.Redis, dl: DeadLetter) -> bool:
    """Move one dead letter back to the results list, in one step, and take back what it
    counted against its scan (a failure; a finished scan is reopened, so that the writer closes
    it again once the message is written). False when it is gone (replayed or dropped meanwhile)."""
    if dl.cut:
        raise ValueError(f"dead letter #{dl.id} was cut to {dl.kept:,} of {dl.size:,} bytes "
                         f"and cannot be replayed")
    scan = dl.scan or ""
    field = dl.failure_field() or ""
    keys = [DEAD, ENTRY, RAW, BYTES, RESULTS, key("failed", scan), key("failed_kinds", scan),
            key("failed_domains", scan), meta_key(scan), SCANS]
    done = r.eval(_REPLAY, len(keys), *keys, str(dl.id), field, FAILURE_KIND, dl.domains, scan)
    return bool(done)


def drop(r: redis.Redis, entry_id: int) -> bool:
    """Forget one dead letter (what it counted against its scan stays). False when it is gone."""
    return bool(r.eval(_DROP, 4, DEAD, ENTRY, RAW, BYTES, str(entry_id)))
