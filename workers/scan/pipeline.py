"""The streaming pipeline: chunks of domains in, rows out, with no barrier between domains.

One code path for the embedded scan and for every cluster worker process; they differ only in the
:class:`Scan` hooks (where STARTTLS slots and host ownership come from, where rows go) and in the
source of :class:`Work` (an input file, or the chunks of the Celery tasks the process holds).

Scheduling model: a :class:`Work` (a chunk of domains, or of MX host names for the hourly re-scan)
is cut into small groups of ``group`` domains; each group runs DNS -> STARTTLS -> verdict -> rows
as its own coroutine over the process's one long-lived :class:`QueryEngine` per resolver, and at
most ``window`` domains are in flight: a group that ends frees its place for the next one at once.
A domain that waits out a lame name server (2+4+8 s of retries) holds only its own small group,
never the window or the chunk. The query memo and the DNSSEC chain memo are shared by all groups of
a scan (bounded), so a TLD's DS or a hoster's DNSKEY is asked once per memo generation, as it was
once per batch. Each MX host is looked up by the first group that claims it in this process
(:class:`HostRegistry`); a group emits its host rows first, then waits until the hosts its domains
name but others claimed have emitted theirs, then emits its domain rows, so a domain row written
means its hosts' rows were handed to the sink before it (the resume check relies on it).

A Work is done when all its groups are: ``Work.done`` is called once, with the first error of its
groups or None, so a Celery task can be acknowledged only then (late acks).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Protocol

from workers.dns import BatchResult, DomainInput, EngineSettings, MxHostEvidence, QueryEngine
from workers.dns.plan import Context
from workers.dns.probe import probe_group, probe_host_group
from workers.psl import SuffixList
from workers.scan.batch import BatchOutcome, History, ScanContext, smtp_stage, tlsa_evidence
from workers.scan.coalesce import Coalesced
from workers.scan.rows import batch_rows
from workers.smtp import ProbeTarget, StarttlsEvidence, client_context, probe_starttls
from workers.smtp.outcomes import inferred
from workers.smtp.throttle import Throttle
from workers.store.rows import Row

Owner = Callable[[Sequence[str], "Work"], Awaitable[dict[str, str]]]  # host -> owning tag


class Prober(Protocol):
    async def probe(self, targets: Sequence[ProbeTarget], ctx: ScanContext
                    ) -> list[StarttlsEvidence]: ...


class SlotGate(Protocol):
    """Where a probe's per-address slot and an address's known outcome come from."""

    def hold(self, ip: str) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def known(self, ip: str, port: int) -> StarttlsEvidence | None: ...

    async def record(self, ev: StarttlsEvidence) -> None: ...


class GatedProber:
    """Every target once, at most ``per_ip`` probes per address in this process (the rest wait
    here, in order, without polling anything), under the gate's slot (cluster: a Redis lease
    shared by every worker) and a global cap of ``limit`` probes; an address that timed out or
    refused for another name is not connected to again: its outcome is taken, marked inferred
    (``workers.smtp.outcomes``). Each connection first waits for the ``throttle``'s tokens."""

    def __init__(self, gate: SlotGate, limit: int, per_ip: int,
                 throttle: Throttle | None = None) -> None:
        self.gate = gate
        self.throttle = throttle  # the connection-rate limits (issue 14), None: none
        self.limit = asyncio.Semaphore(limit)
        self.per_ip = max(1, per_ip)
        self.ssl = client_context()
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    async def probe(self, targets: Sequence[ProbeTarget], ctx: ScanContext
                    ) -> list[StarttlsEvidence]:
        return list(await asyncio.gather(*(self._one(t, ctx) for t in targets)))

    @contextlib.asynccontextmanager
    async def _local(self, ip: str) -> AsyncIterator[None]:
        entry = self._slots.get(ip)
        if entry is None:
            entry = self._slots[ip] = (asyncio.Semaphore(self.per_ip), [0])
        sem, users = entry
        users[0] += 1
        try:
            async with sem:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._slots[ip]

    async def _one(self, t: ProbeTarget, ctx: ScanContext) -> StarttlsEvidence:
        known = await self.gate.known(t.ip, t.port)
        if known is None:
            async with self._local(t.ip):
                known = await self.gate.known(t.ip, t.port)  # decided while this one waited
                if known is None:
                    async with self.gate.hold(t.ip), self.limit:
                        known = await self.gate.known(t.ip, t.port)
                        if known is None:
                            if self.throttle is not None:
                                await self.throttle.admit(t.ip)
                            ev = await probe_starttls(t.host, t.ip, port=t.port,
                                                      ehlo_name=ctx.ehlo_name,
                                                      timeouts=ctx.timeouts, ssl_context=self.ssl)
                            await self.gate.record(ev)  # before the slot goes to the next name
                            return ev
        return inferred(known, t, dt.datetime.now(dt.UTC))


class LocalGate:
    """The embedded scan's gate: no slot beyond the prober's own per-address cap; outcomes in
    the scan's :class:`AddressOutcomes`."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx

    def hold(self, ip: str) -> contextlib.AbstractAsyncContextManager[Any]:
        return contextlib.nullcontext()

    async def known(self, ip: str, port: int) -> StarttlsEvidence | None:
        return self.ctx.outcomes.get(ip, port)

    async def record(self, ev: StarttlsEvidence) -> None:
        self.ctx.outcomes.record(ev)


class _Claim:
    """A host claimed by a group: ``decided`` when its owner is known (cluster: after the Redis
    claim), ``emitted`` when its rows were handed to the sink (or the claim was given up)."""

    __slots__ = ("decided", "emitted")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.decided: asyncio.Future[None] = loop.create_future()
        self.emitted: asyncio.Future[None] = loop.create_future()


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class HostRegistry:
    """The MX hosts of one scan in this process: claimed by a group (looked up once here), or
    done (None)."""

    def __init__(self, done: Iterable[str] = ()) -> None:
        self._hosts: dict[str, _Claim | None] = dict.fromkeys(done)

    def claim(self, host: str) -> bool:
        if host in self._hosts:
            return False
        self._hosts[host] = _Claim(asyncio.get_running_loop())
        return True

    def decide(self, hosts: Iterable[str]) -> None:
        for h in hosts:
            c = self._hosts.get(h)
            if c is not None:
                _set(c.decided)

    def finish(self, hosts: Iterable[str]) -> None:
        for h in hosts:
            c = self._hosts.get(h)
            self._hosts[h] = None
            if c is not None:
                _set(c.decided)
                _set(c.emitted)

    def release(self, hosts: Iterable[str]) -> None:
        """Claims of a group that failed: the hosts can be claimed again; waiters go on."""
        for h in hosts:
            c = self._hosts.pop(h, None)
            if c is not None:
                _set(c.decided)
                _set(c.emitted)

    async def wait_decided(self, hosts: Iterable[str]) -> None:
        pending = [c.decided for h in hosts if (c := self._hosts.get(h)) is not None]
        if pending:
            await asyncio.gather(*pending)

    async def wait(self, hosts: Iterable[str]) -> None:
        pending = [c.emitted for h in hosts if (c := self._hosts.get(h)) is not None]
        if pending:
            await asyncio.gather(*pending)

    def __contains__(self, host: object) -> bool:
        return host in self._hosts


@dataclass
class Scan:
    """One scan as the pipeline runs it: its context and its hooks."""

    ctx: ScanContext
    resolver: str
    prober: Prober
    public_ca: frozenset[str] = frozenset()
    psl: SuffixList | None = None
    history: History | None = None
    own: Owner | None = None  # cluster: which of the hosts this process looked up it owns
    # cluster: hosts whose earlier certificates cannot be read now (``defer_on``) are handed on
    defer: Callable[[Sequence[MxHostEvidence], Work], Awaitable[None]] | None = None
    defer_on: tuple[type[BaseException], ...] = ()
    registry: HostRegistry = field(default_factory=HostRegistry)
    memo_limit: int = 200_000  # shared query memo entries before it starts afresh
    memo: dict[Any, Any] = field(default_factory=dict)
    dns_ctx: Context | None = None

    def __post_init__(self) -> None:
        # one history query for all the groups that ask while the previous one runs
        if self.history is not None and not isinstance(self.history, Coalesced):
            self.history = Coalesced(self.history)

    def dns_context(self) -> Context:
        if self.dns_ctx is None or len(self.memo) > self.memo_limit:
            self.memo.clear()
            self.dns_ctx = Context(now=self.ctx.now.timestamp(), anchors=self.ctx.anchors,
                                   bounds=self.ctx.dns_bounds)
        return self.dns_ctx


class Sink(Protocol):
    def hosts(self, work: Work, rows: list[Row]) -> None: ...

    def domains(self, work: Work, rows: list[Row], count: int) -> None: ...


@dataclass(eq=False)
class Work:
    """A chunk of domains (or of MX host names: ``hosts``) of one scan; ``done(work, error)`` is
    called once when every group of it has ended."""

    scan: Scan
    sink: Sink
    domains: Sequence[DomainInput] = ()
    hosts: Sequence[str] = ()
    tag: Any = None
    attempt: int = 0
    done: Callable[[Work, BaseException | None], None] | None = None
    # when a list: each group's evidence and verdicts are put here too (``danescan check``)
    outcomes: list[BatchOutcome] | None = None
    error: BaseException | None = None
    left: int = 0
    claimed: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.domains) + len(self.hosts)


class Pipeline:
    """Runs Work from a source with at most ``window`` domains (or hosts) in flight."""

    def __init__(self, window: int = 4000, group: int = 16) -> None:
        self.window = max(1, window)
        self.group = max(1, group)
        self._engines: dict[EngineSettings, asyncio.Future[QueryEngine]] = {}
        self._room: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.domains_done = 0

    async def run(self, source: Iterable[Work] | AsyncIterable[Work]) -> None:
        """Everything of ``source``, then returns; the engines stay open for the next run
        until :meth:`close`."""
        if isinstance(source, AsyncIterable):
            async for work in source:
                await self.submit(work)
        else:
            for work in source:
                await self.submit(work)
        await self.drain()

    async def submit(self, work: Work) -> None:
        """Start ``work``'s groups as room frees up (waits for room, never for other Work)."""
        if self._room is None:
            self._room = asyncio.Semaphore(max(1, self.window // self.group))
        items: Sequence[Any] = work.domains if work.domains else work.hosts
        parts = [items[i:i + self.group] for i in range(0, len(items), self.group)]
        work.left = len(parts)
        if not parts:
            self._finish(work)
            return
        for part in parts:
            await self._room.acquire()
            task = asyncio.ensure_future(self._group(work, part))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        for opening in self._engines.values():
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                opening.result().close()
        self._engines.clear()

    async def _engine(self, settings: EngineSettings) -> QueryEngine:
        opening = self._engines.get(settings)
        if opening is None:  # the first group opens it; the others await the same opening
            opening = self._engines[settings] = asyncio.ensure_future(self._open(settings))
        return await asyncio.shield(opening)

    @staticmethod
    async def _open(settings: EngineSettings) -> QueryEngine:
        engine = QueryEngine(settings)
        await engine.open()
        return engine

    def _finish(self, work: Work) -> None:
        if work.error is not None:
            work.scan.registry.release(work.claimed)
        if work.done is not None:
            work.done(work, work.error)

    async def _group(self, work: Work, part: Sequence[Any]) -> None:
        scan = work.scan
        claimed: list[str] = []

        def claim(host: str) -> bool:
            if scan.registry.claim(host):
                claimed.append(host)
                return True
            return False

        try:
            if work.error is None:
                await self._stages(work, part, claim, claimed)
        except Exception as exc:  # noqa: BLE001 - the Work's error; its task retries it
            scan.registry.release(claimed)
            if work.error is None:
                work.error = exc
        finally:
            if self._room is not None:
                self._room.release()
            work.left -= 1
            if work.left == 0:
                self._finish(work)

    async def _stages(self, work: Work, part: Sequence[Any], claim: Callable[[str], bool],
                      claimed: list[str]) -> None:
        scan = work.scan
        ctx = scan.ctx
        engine = await self._engine(ctx.dns_settings)
        if work.domains:
            result = await probe_group(list(part), engine, scan.dns_context(), scan.memo, claim,
                                       ctx.exclusions)
        else:
            result = await probe_host_group(list(part), engine, scan.dns_context(), scan.memo,
                                            claim, ctx.exclusions)
        work.claimed.extend(claimed)
        # the hosts the group's rows name (an implicit MX host without address is not one)
        named = {h for d in result.domains for h in d.mx_hosts} | {h.host for h in result.hosts}
        if not work.domains:
            named.update(part)  # a host chunk names its hosts
        hosts: Sequence[MxHostEvidence] = result.hosts
        if scan.own is not None:
            hosts = await self._owned(work, result.hosts, named, claimed, engine)
        scan.registry.decide(claimed)
        history = scan.history
        if scan.defer is not None and history is not None and work.domains and hosts:
            hosts, history = await self._history_or_defer(work, hosts, history)
        judged = await smtp_stage(hosts, ctx, history, scan.prober.probe)
        if work.outcomes is not None:
            work.outcomes.append(BatchOutcome(result, judged))
        host_rows, domain_rows = batch_rows(ctx.scan_id, BatchOutcome(result, judged),
                                            scan.resolver, ctx.now, attempt=work.attempt,
                                            public_ca=scan.public_ca, psl=scan.psl)
        work.sink.hosts(work, host_rows)
        scan.registry.finish(claimed)
        await scan.registry.wait(named)
        work.sink.domains(work, domain_rows, len(part))
        self.domains_done += len(part)

    @staticmethod
    async def _history_or_defer(work: Work, hosts: Sequence[MxHostEvidence], history: History
                                ) -> tuple[Sequence[MxHostEvidence], History]:
        """The earlier certificates of the hosts with TLSA, read now; when they cannot be
        (``Scan.defer_on``), those hosts are deferred and the others judged."""
        scan = work.scan
        assert scan.defer is not None
        with_records = [h for h in hosts if tlsa_evidence(h).records]
        try:
            earlier = await history([h.host for h in with_records]) if with_records else {}
        except scan.defer_on:
            await scan.defer(with_records, work)
            deferred = {h.host for h in with_records}
            hosts, earlier = [h for h in hosts if h.host not in deferred], {}

        async def known(_names: Sequence[str]) -> Mapping[str, Sequence[bytes]]:
            return earlier

        return hosts, known

    async def _owned(self, work: Work, looked_up: Sequence[MxHostEvidence], named: set[str],
                     claimed: list[str], engine: QueryEngine) -> list[MxHostEvidence]:
        """The cluster: the hosts this Work owns scan-wide among those its domains name. Its own
        lookups are claimed in Redis first (and their owners made known here), then the hosts
        that other groups of this process looked up, once those groups' owners are known; an
        owned host this group did not look up (its chunk was delivered again, here) is looked
        up again."""
        scan = work.scan
        assert scan.own is not None
        mine_here = sorted(named.intersection(claimed))
        owners = await scan.own(mine_here, work) if mine_here else {}
        scan.registry.decide(claimed)
        others = sorted(named.difference(claimed))
        if others:
            await scan.registry.wait_decided(others)
            owners.update(await scan.own(others, work))
        mine = {h for h in named if owners.get(h) == work.tag}
        found = [h for h in looked_up if h.host in mine]
        missing = sorted(mine - {h.host for h in found})
        if missing:
            again = await probe_host_group(missing, engine, scan.dns_context(), scan.memo,
                                           lambda _h: True, scan.ctx.exclusions)
            found.extend(again.hosts)
        return found


class NoRows:
    """A sink that drops the rows (the caller keeps ``Work.outcomes``)."""

    def hosts(self, work: Work, rows: list[Row]) -> None:
        pass

    def domains(self, work: Work, rows: list[Row], count: int) -> None:
        pass


async def run_outcome(domains: Sequence[DomainInput], ctx: ScanContext,
                      history: History | None = None) -> BatchOutcome:
    """The pipeline on a few domains, in memory: their DNS evidence and the outcome of every MX
    host (``danescan check``; the scan's own path, not a copy of it). Raises a group's error."""
    prober = GatedProber(LocalGate(ctx), ctx.limits.global_, ctx.limits.per_ip, ctx.throttle)
    scan = Scan(ctx=ctx, resolver=ctx.dns_settings.resolver, prober=prober, history=history)
    outcomes: list[BatchOutcome] = []
    work = Work(scan, NoRows(), domains=list(domains), outcomes=outcomes)
    pipeline = Pipeline(window=max(1, len(domains)), group=max(1, len(domains)))
    try:
        await pipeline.run([work])
    finally:
        pipeline.close()
    if work.error is not None:
        raise work.error
    if len(outcomes) == 1:
        return outcomes[0]
    first = outcomes[0].dns if outcomes else None
    dns = BatchResult(domains=tuple(d for o in outcomes for d in o.dns.domains),
                      hosts=tuple(h for o in outcomes for h in o.dns.hosts),
                      started_at=first.started_at if first else 0.0,
                      finished_at=max((o.dns.finished_at for o in outcomes), default=0.0),
                      queries_sent=sum(o.dns.queries_sent for o in outcomes))
    return BatchOutcome(dns, tuple(h for o in outcomes for h in o.hosts))


class BufferedSink:
    """Rows of many groups gathered and handed on in batches of at least ``rows``, or of what
    came in ``max_age`` seconds (a killed scan loses at most about that much work: resume sees
    the rest): ``write(host rows, domain rows, domains)`` runs in one thread beside the event
    loop (a database call never stalls the probes), one batch at a time, host rows of a batch
    before its domain rows.
    """

    def __init__(self, write: Callable[[list[Row], list[Row], int], None],
                 rows: int = 20_000, max_age: float = 0.25) -> None:
        import concurrent.futures

        self.write = write
        self.limit = rows
        self.max_age = max_age
        self._since = time.monotonic()  # when the rows waiting now started to gather
        self._hosts: list[Row] = []
        self._domains: list[Row] = []
        self._count = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sink")
        self._busy: asyncio.Future[None] | None = None

    def hosts(self, work: Work, rows: list[Row]) -> None:
        self._hosts.extend(rows)

    def domains(self, work: Work, rows: list[Row], count: int) -> None:
        self._domains.extend(rows)
        self._count += count
        full = len(self._hosts) + len(self._domains) >= self.limit
        if (full or time.monotonic() - self._since >= self.max_age) and (
                self._busy is None or self._busy.done()):
            self._start()

    def _start(self) -> None:
        if self._busy is not None and self._busy.done():
            self._busy.result()  # a failed write stops the scan here
        hosts, domains, count = self._hosts, self._domains, self._count
        self._hosts, self._domains, self._count = [], [], 0
        self._since = time.monotonic()
        loop = asyncio.get_running_loop()
        self._busy = loop.run_in_executor(self._pool, self.write, hosts, domains, count)

    async def flush(self) -> None:
        """Everything handed on and written; raises what a write raised."""
        if self._busy is not None:
            await self._busy
        if self._hosts or self._domains or self._count:
            self._start()
            assert self._busy is not None
            await self._busy

    async def call(self, fn: Callable[[], Any]) -> Any:
        """``fn`` in the writer's thread (database reads beside the writes, one at a time)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

