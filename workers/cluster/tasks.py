"""The two tasks: a chunk of domains (nightly and ad-hoc scans), and a chunk of MX host names (the
hourly re-scan of DANE hosts: TLSA, addresses, STARTTLS). Each hands its chunk to the process's
streaming pipeline (workers.cluster.stream) and blocks its pool thread until the chunk is done.

Both end by pushing their rows to the results list (one message per task), then return, and only
then is the message acknowledged (late acks). Errors: Redis and
ClickHouse being away are transient (retried with back-off, not counted); anything else counts as
one failure of the task, and after ``task_retries`` failures the task is recorded as failed with its
reason and acknowledged, so the scan still finishes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from workers.cluster import codec, ledger
from workers.cluster.app import app
from workers.cluster.exclusions import scan_exclusions
from workers.cluster.state import RESULTS, key, read_meta, record_failure
from workers.cluster.stream import Runtime
from workers.dns import EngineSettings, load_trust_anchor
from workers.dns.bounds import Bounds
from workers.psl import SuffixList
from workers.psl import load as load_psl
from workers.scan.batch import ScanContext
from workers.settings import Settings
from workers.smtp import ProbeTimeouts
from workers.store.backend import StoreError


class Transient(Exception):
    """Something outside the task is away (Redis, ClickHouse): retry later, do not count."""


@dataclass(frozen=True)
class ScanSetup:
    ctx: ScanContext
    resolver: str
    public_ca: frozenset[str]
    psl: SuffixList


class WorkerState:
    """What one worker process keeps between tasks; created after the fork, on first use."""

    def __init__(self, settings: Settings) -> None:
        if "chdb" in sys.modules:  # chdb must never be loaded in a process that forks
            raise RuntimeError("chdb was imported in a Celery worker process")
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3)
        self._scans: dict[str, ScanSetup] = {}
        self._db: Any = None
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()
        # this process's heartbeat (its ledger holds count while it lives) and its sweeps
        self.keeper = ledger.Keeper(self.redis, republish, interval=settings.ledger_sweep_seconds,
                                    grace=settings.ledger_grace_seconds,
                                    ttl=settings.worker_heartbeat_seconds,
                                    visibility=settings.visibility_timeout, say=_say)
        self.worker = self.keeper.worker

    def runtime(self) -> Runtime:
        """The process's pipeline (its event loop thread starts on first use, after the fork)."""
        with self._lock:
            if self._runtime is None:
                self._runtime = Runtime(self.settings, self.load_history, defer_hosts)
            return self._runtime

    def scan(self, scan_id: str) -> ScanSetup:
        with self._lock:
            setup = self._scans.get(scan_id)
            if setup is None:
                setup = self._scans[scan_id] = self._load(scan_id)
            return setup

    def _load(self, scan_id: str) -> ScanSetup:
        from workers.dane import TrustStore
        from workers.dane.roots import mozilla_trust_store

        meta = read_meta(self.redis, scan_id)
        if not meta:
            raise ValueError(f"scan {scan_id} is not known in Redis (enqueue it first)")
        roots = meta.get("public_roots", "")
        trust = TrustStore.from_pem(Path(roots).read_bytes()) if roots else mozilla_trust_store()
        anchor = meta.get("trust_anchor", "")
        ctx = ScanContext(
            scan_id=scan_id, now=dt.datetime.fromtimestamp(int(meta["now"]), dt.UTC),
            dns_settings=EngineSettings(meta["resolver"]),
            anchors=load_trust_anchor(anchor) if anchor else None,
            ehlo_name=meta.get("ehlo_name", "danescan.invalid"),
            probe_all=meta.get("probe_all") == "1", trust_store=trust,
            timeouts=ProbeTimeouts(total=self.settings.probe_deadline),
            dns_bounds=Bounds(self.settings.max_mx_hosts, self.settings.max_addresses),
            exclusions=scan_exclusions(self.redis, scan_id, meta))
        return ScanSetup(ctx, meta["resolver"],
                         frozenset(r.cert.subject.rfc4514_string() for r in trust.roots),
                         load_psl(self.settings.psl or None))

    def history(self, scan_id: str, now: dt.datetime
                ) -> Callable[[Sequence[str]], dict[str, list[bytes]]]:
        """Earlier leaf certificates, read from clickhouse-server (never chdb here)."""
        from workers.store.backend import connect
        from workers.store.history import history_loader

        if self._db is None:
            if "://" not in self.settings.db:
                raise ValueError(f"cluster workers need clickhouse://..., not {self.settings.db!r}")
            # a history lookup is small: a server silent for 30 s is restarting or stuck, and the
            # task is retried (never held for the driver's default of minutes)
            self._db = connect(self.settings.db, timeout=30.0)
        return history_loader(self._db, scan_id, now)

    def load_history(self, scan_id: str, now: dt.datetime, hosts: Sequence[str]
                     ) -> dict[str, list[bytes]]:
        """The earlier certificates of ``hosts``; a connection that failed is dropped (the next
        call connects again)."""
        try:
            return self.history(scan_id, now)(hosts)
        except StoreError:
            self.drop_db()
            raise

    def drop_db(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                db.close()


def _say(message: str) -> None:
    print(f"danescan worker: {message}", file=sys.stderr, flush=True)


def republish(spec: Any, task_id: str) -> None:
    """The ticket of a ledger entry that no message carries any more (the ledger's sweep)."""
    name, args, kwargs, queue = ledger.ticket(spec)
    app.send_task(name, args=args, kwargs=kwargs, queue=queue, task_id=task_id)


_state: list[WorkerState] = []
_state_lock = threading.Lock()


def state() -> WorkerState:
    with _state_lock:  # task threads of one process share it
        if not _state:
            _state.append(WorkerState(Settings.from_env()))
        return _state[0]


def _handle(task: Any, exc: BaseException, scan_id: str, task_key: str, kind: str, domains: int,
            failures: int, entry: str) -> None:
    """Retry (transient, or fewer than task_retries failures) or record the failure; the ledger
    entry is released for the retry's message, or dropped with the failure."""
    st = state()
    s = st.settings
    with contextlib.suppress(redis.RedisError):  # Redis away: the holder's heartbeat ends anyway
        ledger.release(st.redis, scan_id, entry)
    if isinstance(exc, Transient | redis.RedisError | StoreError | OSError):
        if isinstance(exc, StoreError):
            st.drop_db()
        raise task.retry(exc=exc, countdown=min(30.0, s.retry_backoff * 2 ** min(task.request.retries, 5)),
                         max_retries=None)
    if failures < s.task_retries:
        kwargs = dict(task.request.kwargs or {}, failures=failures + 1)
        raise task.retry(exc=exc, kwargs=kwargs, countdown=s.retry_backoff * 2**failures,
                         max_retries=None)
    record_failure(st.redis, scan_id, task_key, f"{kind}: {type(exc).__name__}",
                   f"{task_key}: {type(exc).__name__}: {exc}", domains)
    ledger.drop(st.redis, scan_id, entry)


def _count_cpu(scan_id: str, seconds: float) -> None:
    """CPU spent inside task bodies (the scan's own work), so that a benchmark can tell it from
    the CPU that the worker process spends in Celery around them."""
    state().redis.incrbyfloat(key("task_cpu", scan_id), seconds)


def _count_redelivery(task: Any, scan_id: str) -> None:
    if (task.request.delivery_info or {}).get("redelivered"):
        state().redis.incr(key("redelivered", scan_id))


def _take(scan_id: str, entry: str) -> Any:
    """The payload of a ticket's entry in the scan's ledger, now held by this worker; None when
    the entry is gone (the ticket is a duplicate of work already done)."""
    st = state()
    spec = ledger.take(st.redis, scan_id, entry, st.worker)
    return None if spec is None else spec["payload"]


@app.task(bind=True, name="danescan.dns_chunk", acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def dns_chunk(self: Any, scan_id: str, chunk_no: int, size: int, payload: Any = None,
              failures: int = 0) -> int:
    """One chunk of ``size`` domains through the pipeline; returns the number of domains. The
    chunk comes from the scan's ledger (``payload`` None: the message is a ticket); a ticket whose
    entry is gone is a duplicate of a chunk already done."""
    task_key = f"c{chunk_no}"
    try:
        _count_redelivery(self, scan_id)
        if payload is None:
            payload = _take(scan_id, task_key)
            if payload is None:
                return 0
        inputs = codec.decode_chunk(payload)
        if len(inputs) != size:
            raise ValueError(f"chunk of {len(inputs)} domains, announced {size}")
        return run_dns_chunk(state(), scan_id, chunk_no, inputs, self.request.retries)
    except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
        _handle(self, exc, scan_id, task_key, "dns", size, failures, task_key)
        return 0


def run_dns_chunk(st: WorkerState, scan_id: str, chunk_no: int, inputs: Sequence[Any],
                  attempt: int) -> int:
    """The chunk through the process's pipeline; its rows (host rows of the hosts it owns, then
    its domains) pushed as one message when every domain of it is done."""
    owner = f"c{chunk_no}"
    rows, cpu = st.runtime().run_chunk(st.scan(scan_id), owner, domains=inputs, attempt=attempt)
    pipe = st.redis.pipeline()
    pipe.rpush(RESULTS, codec.encode_message(scan_id, "dns", owner, len(inputs), rows.rows))
    judged = rows.judged_hosts()
    if judged:  # deferred by an earlier delivery of this chunk, judged now: no longer pending
        pipe.srem(key("smtp_pending", scan_id), *judged)
    ledger.finish(pipe, scan_id, owner)  # in the MULTI that pushes the rows
    pipe.execute()
    _count_cpu(scan_id, cpu)
    return len(inputs)


@app.task(bind=True, name="danescan.host_chunk", acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def host_chunk(self: Any, scan_id: str, owner: str, size: int, hosts: Any = None,
               counted: bool = True, failures: int = 0, entry: str | None = None) -> int:
    """MX hosts by name through the pipeline: TLSA, addresses, STARTTLS, verdict, each host once
    per scan. Two uses: the hourly re-scan of DANE hosts (``counted``: a host is one item of the
    scan's total), and the hosts of a domain chunk whose earlier certificates could not be read
    (ClickHouse away; ``owner`` is that chunk, which owns them; they are in ``smtp_pending``
    until done, so the scan does not close before them). The hosts come from the scan's ledger
    (entry ``entry``, else ``owner``) when ``hosts`` is None."""
    entry = entry or owner
    try:
        _count_redelivery(self, scan_id)
        if hosts is None:
            hosts = _take(scan_id, entry)
            if hosts is None:
                return 0
        names = codec.decode_hosts(hosts)
        if len(names) != size:
            raise ValueError(f"chunk of {len(names)} hosts, announced {size}")
        st = state()
        rows, cpu = st.runtime().run_chunk(st.scan(scan_id), owner, hosts=names,
                                           attempt=self.request.retries)
        kind, key_ = ("dns", owner) if counted else ("smtp", f"{owner}.deferred")
        pipe = st.redis.pipeline()
        pipe.rpush(RESULTS, codec.encode_message(scan_id, kind, key_, len(names) if counted else 0,
                                                 rows.rows))
        if not counted:
            pipe.srem(key("smtp_pending", scan_id), *names)
        ledger.finish(pipe, scan_id, entry)
        pipe.execute()
        _count_cpu(scan_id, cpu)
        return len(names)
    except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
        _handle(self, exc, scan_id, owner if counted else f"{owner}.deferred", "hosts",
                size if counted else 0, failures, entry)
        if not counted and _is_host_list(hosts):  # recorded as failed: no longer pending
            state().redis.srem(key("smtp_pending", scan_id),
                               *[h.rstrip(".").lower() + "." for h in hosts])
        return 0


def _is_host_list(hosts: Any) -> bool:
    return isinstance(hosts, list) and bool(hosts) and all(isinstance(h, str) for h in hosts)


def defer_hosts(scan_id: str, owner: str, hosts: Sequence[str]) -> None:
    """Hosts whose verdict waits for ClickHouse: a host task on queue ``smtp``, pending."""
    names = codec.encode_hosts(hosts)
    entry, spec = ledger.deferred_entry(scan_id, owner, names)
    r = state().redis
    pipe = r.pipeline()
    pipe.sadd(key("smtp_pending", scan_id), *[n + "." for n in names])
    ledger.write_entries(pipe, scan_id, [(entry, spec)])
    pipe.execute()
    republish(spec, ledger.task_id(scan_id, entry))

