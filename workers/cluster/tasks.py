"""The two tasks: a chunk of domains through the DNS stage, and MX hosts through STARTTLS.

Both end by pushing their rows to the results list (one message per task). Errors: Redis and
ClickHouse being away are transient (retried with back-off, not counted); anything else counts as
one failure of the task, and after ``task_retries`` failures the task is recorded as failed with its
reason and acknowledged, so the scan still finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from workers.cluster import codec
from workers.cluster.app import app
from workers.cluster.downs import SharedOutcomes
from workers.cluster.exclusions import scan_exclusions
from workers.cluster.leases import IpLeases
from workers.cluster.ratelimit import cluster_throttle
from workers.cluster.state import RESULTS, key, read_meta, record_failure
from workers.dns import EngineSettings, MxHostEvidence, load_trust_anchor
from workers.dns.bounds import Bounds
from workers.dns.probe import run_async
from workers.psl import SuffixList
from workers.psl import load as load_psl
from workers.scan.batch import (
    BatchOutcome,
    HostOutcome,
    ScanContext,
    dns_stage,
    judge,
    tlsa_evidence,
    wants_probe,
)
from workers.scan.rows import batch_rows
from workers.settings import Settings
from workers.smtp import (
    ProbeTarget,
    ProbeTimeouts,
    StarttlsEvidence,
    client_context,
    probe_starttls,
)
from workers.smtp.excluded import split_excluded
from workers.smtp.outcomes import inferred
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

    def scan(self, scan_id: str) -> ScanSetup:
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

    def drop_db(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                db.close()


_state: list[WorkerState] = []


def state() -> WorkerState:
    if not _state:
        _state.append(WorkerState(Settings.from_env()))
    return _state[0]


def _handle(task: Any, exc: BaseException, scan_id: str, task_key: str, kind: str, domains: int,
            failures: int) -> None:
    """Retry (transient, or fewer than task_retries failures) or record the failure."""
    st = state()
    s = st.settings
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
    if kind == "smtp":
        hosts = [h["host"] for h in task.request.args[2]] if _hosts_ok(task.request.args) else []
        if hosts:
            st.redis.srem(key("smtp_pending", scan_id), *hosts)


def _hosts_ok(args: Any) -> bool:
    try:
        return all(isinstance(h["host"], str) for h in args[2])
    except (TypeError, KeyError, IndexError):
        return False


def _count_cpu(scan_id: str, seconds: float) -> None:
    """CPU spent inside task bodies (the scan's own work), so that a benchmark can tell it from
    the CPU that the worker process spends in Celery around them."""
    state().redis.incrbyfloat(key("task_cpu", scan_id), seconds)


def _count_redelivery(task: Any, scan_id: str) -> None:
    if (task.request.delivery_info or {}).get("redelivered"):
        state().redis.incr(key("redelivered", scan_id))


@app.task(bind=True, name="danescan.dns_chunk", acks_late=True)  # type: ignore[untyped-decorator]
def dns_chunk(self: Any, scan_id: str, chunk_no: int, size: int, payload: Any,
              failures: int = 0) -> int:
    """DNS stage of one chunk of ``size`` domains; returns the number of domains."""
    task_key = f"c{chunk_no}"
    try:
        _count_redelivery(self, scan_id)
        inputs = codec.decode_chunk(payload)
        if len(inputs) != size:
            raise ValueError(f"chunk of {len(inputs)} domains, announced {size}")
        cpu = time.process_time()
        n = run_dns_chunk(state(), scan_id, chunk_no, inputs, self.request.retries)
        _count_cpu(scan_id, time.process_time() - cpu)
        return n
    except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
        _handle(self, exc, scan_id, task_key, "dns", size, failures)
        return 0


def claim_hosts(r: redis.Redis, scan_id: str, owner: str, hosts: Sequence[str]) -> set[str]:
    """The hosts this chunk owns in the scan: claimed now, or by this same chunk before (a
    redelivered task keeps its hosts)."""
    if not hosts:
        return set()
    name = key("hosts", scan_id)
    pipe = r.pipeline(transaction=False)
    for h in hosts:
        pipe.hsetnx(name, h, owner)
    pipe.hmget(name, list(hosts))
    owners = pipe.execute()[-1]
    return {h for h, o in zip(hosts, owners, strict=True) if o is not None and o.decode() == owner}


def run_dns_chunk(st: WorkerState, scan_id: str, chunk_no: int, inputs: Sequence[Any],
                  attempt: int) -> int:
    setup = st.scan(scan_id)
    ctx = setup.ctx
    result = run_async(dns_stage(inputs, ctx))
    r = st.redis
    owner = f"c{chunk_no}"
    mine = claim_hosts(r, scan_id, owner, [h.host for h in result.hosts])
    judged: list[HostOutcome] = []
    to_probe: list[MxHostEvidence] = []
    for h in result.hosts:
        if h.host not in mine:
            continue
        tlsa = tlsa_evidence(h)
        if wants_probe(tlsa, ctx.probe_all) and h.addresses:
            to_probe.append(h)
        else:
            judged.append(judge(h, tlsa, [], ctx, ()))  # no probe: the verdict from DNS alone
    if to_probe:
        probed = r.smismember(key("probed", scan_id), [h.host for h in to_probe])
        to_probe = [h for h, done in zip(to_probe, probed, strict=True) if not done]
    if to_probe:
        r.sadd(key("smtp_pending", scan_id), *[h.host for h in to_probe])
        size = max(1, st.settings.smtp_hosts_per_task)
        for i in range(0, len(to_probe), size):
            group = [codec.encode_host(h) for h in to_probe[i:i + size]]
            smtp_hosts.apply_async(args=[scan_id, f"s{chunk_no}.{i // size}", group],
                                   queue="smtp")
    host_rows, domain_rows = batch_rows(scan_id, BatchOutcome(result, tuple(judged)),
                                        setup.resolver, ctx.now, attempt=attempt,
                                        public_ca=setup.public_ca, psl=setup.psl)
    r.rpush(RESULTS, codec.encode_message(scan_id, "dns", owner, len(inputs),
                                          [*host_rows, *domain_rows]))
    return len(inputs)


@app.task(bind=True, name="danescan.smtp_hosts", acks_late=True)  # type: ignore[untyped-decorator]
def smtp_hosts(self: Any, scan_id: str, task_key: str, hosts: Any, failures: int = 0) -> int:
    """STARTTLS stage of some MX hosts; returns the number of hosts judged."""
    try:
        _count_redelivery(self, scan_id)
        evidence = [codec.decode_host(h) for h in hosts]
        cpu = time.process_time()
        n = run_smtp_hosts(state(), scan_id, task_key, evidence, self.request.retries)
        _count_cpu(scan_id, time.process_time() - cpu)
        return n
    except Exception as exc:  # noqa: BLE001 - every failure is retried or recorded
        _handle(self, exc, scan_id, task_key, "smtp", 0, failures)
        return 0


async def probe_with_leases(hosts: Sequence[MxHostEvidence], ctx: ScanContext, settings: Settings
                            ) -> dict[str, list[StarttlsEvidence]]:
    """Every address of ``hosts`` once, each under a cluster-wide per-IP lease (renewed while
    held). An address that timed out or refused for another name of the scan (in this worker or
    another, ``workers.cluster.downs``) is not connected to: its outcome is taken, marked inferred.
    An excluded address is never connected to; each connection waits for the cluster-wide
    connection-rate limits (``workers.cluster.ratelimit``).
    """
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=3)
    leases = IpLeases(client, settings.per_ip_cap, settings.ip_lease_seconds)
    shared = SharedOutcomes(client, ctx.scan_id, settings.address_memo_seconds, ctx.outcomes)
    gate = asyncio.Semaphore(ctx.limits.global_)
    ssl_ctx = client_context()
    throttle = cluster_throttle(client, settings.rate_limits())  # rates across all workers

    async def one(t: ProbeTarget) -> StarttlsEvidence:
        async with gate:
            known = await shared.get(t.ip, t.port)
            if known is None:
                async with leases.hold(t.ip):
                    known = await shared.get(t.ip, t.port)  # decided while this one waited
                    if known is None:
                        if throttle is not None:
                            await throttle.admit(t.ip)
                        ev = await probe_starttls(t.host, t.ip, port=t.port,
                                                  ehlo_name=ctx.ehlo_name, timeouts=ctx.timeouts,
                                                  ssl_context=ssl_ctx)
                        await shared.record(ev)  # before the slot goes to the next name
                        return ev
        return inferred(known, t, dt.datetime.now(dt.UTC))

    targets = [ProbeTarget(h.host, ip) for h in hosts for ip in h.addresses]
    targets, skipped = split_excluded(targets, ctx.exclusions)  # no connection to these
    try:
        found = [*skipped, *await asyncio.gather(*(one(t) for t in targets))]
    finally:
        await client.aclose()
    out: dict[str, list[StarttlsEvidence]] = {}
    for ev in found:
        out.setdefault(ev.host, []).append(ev)
    return out


def run_smtp_hosts(st: WorkerState, scan_id: str, task_key: str,
                   hosts: Sequence[MxHostEvidence], attempt: int) -> int:
    setup = st.scan(scan_id)
    ctx = setup.ctx
    r = st.redis
    done = r.smismember(key("probed", scan_id), [h.host for h in hosts]) if hosts else []
    todo = [h for h, d in zip(hosts, done, strict=True) if not d]
    if todo:
        tlsa_of = {h.host: tlsa_evidence(h) for h in todo}
        with_records = [h.host for h in todo if tlsa_of[h.host].records]
        earlier = st.history(scan_id, ctx.now)(with_records) if with_records else {}
        probes = run_async(probe_with_leases(todo, ctx, st.settings))
        outcomes = tuple(judge(h, tlsa_of[h.host], sorted(probes.get(h.host, []),
                                                           key=lambda e: e.ip),
                               ctx, earlier.get(h.host, ())) for h in todo)
        empty = BatchOutcome(dns=_no_domains(), hosts=outcomes)
        rows, _ = batch_rows(scan_id, empty, setup.resolver, ctx.now, attempt=attempt,
                             public_ca=setup.public_ca, psl=setup.psl)
        r.rpush(RESULTS, codec.encode_message(scan_id, "smtp", task_key, 0, rows))
        r.sadd(key("probed", scan_id), *[h.host for h in todo])
    if hosts:
        r.srem(key("smtp_pending", scan_id), *[h.host for h in hosts])
    return len(todo)


def _no_domains() -> Any:
    from workers.dns import BatchResult

    return BatchResult(domains=(), hosts=(), started_at=0.0, finished_at=0.0, queries_sent=0)
