"""The I/O front end: drives many plans at once over one QueryEngine, from callbacks.

Identical queries within a batch are asked once (the zone material of a hoster's zone, the
DS of a TLD) and each distinct MX host is looked up once per batch, or not at all when the caller
passes it in ``known_hosts`` (the scan-wide registry of hosts already done).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Collection, Coroutine, Iterable
from functools import partial
from typing import Any, TypeVar

import dns.exception
import dns.name
import dns.rdata
import dns.rrset

from workers.dns.bounds import Bounds
from workers.dns.engine import EngineSettings, QueryEngine
from workers.dns.mail_service import settle_implicit_mx
from workers.dns.plan import Context, Plan, domain_plan, host_plan
from workers.dns.records import (
    Answer,
    BatchResult,
    DomainEvidence,
    DomainInput,
    MxHostEvidence,
    Query,
    QueryRecord,
)
from workers.exclusion import NOTHING, Exclusions
from workers.vocab import QueryStatus

T = TypeVar("T")


def excluded_answer(q: Query) -> Answer:
    """The answer to a query that is never sent: its name is on the exclusion list."""
    return Answer(QueryRecord(status=QueryStatus.EXCLUDED, qname=q.qname, qtype=q.qtype, cd=q.cd,
                              ad=False, resolver="", sent_at=time.time(), duration=0.0,
                              attempts=0, transport="", error="on the exclusion list"), None)


def load_trust_anchor(path: str) -> dns.rrset.RRset:
    """The DS records of a trust-anchor file in zone-file format (``. IN DS ...``)."""
    with open(path, encoding="ascii") as fh:
        text = fh.read()
    owner: dns.name.Name | None = None
    rdatas = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(";", 1)[0].split()
        if not parts:
            continue
        try:
            name = dns.name.from_text(parts.pop(0))
            while parts and (parts[0].isdigit() or parts[0].upper() == "IN"):
                parts.pop(0)
            if not parts or parts.pop(0).upper() != "DS":
                continue
            rdatas.append(dns.rdata.from_text("IN", "DS", " ".join(parts)))
        except dns.exception.DNSException as exc:  # a file of anything: one ValueError
            raise ValueError(f"{path}:{number}: {exc}") from None
        owner = owner or name
    if owner is None:
        raise ValueError(f"{path}: no DS record")
    return dns.rrset.from_rdata_list(owner, 0, rdatas)


class _Run:
    """One plan being driven: the answers of the current round as they arrive."""

    __slots__ = ("answers", "on_done", "plan", "records", "remaining")

    def __init__(self, plan: Plan[Any], on_done: Callable[[Any, tuple[QueryRecord, ...]], None]
                 ) -> None:
        self.plan = plan
        self.records: list[QueryRecord] = []
        self.on_done = on_done
        self.answers: list[Answer | None] = []
        self.remaining = 0


class Session:
    """One batch: the query memo, the host registry and the plans in flight. Not shared between
    batches.

    Performance model: no task and no coroutine per plan or per query. A plan is stepped from the
    callbacks of the engine's futures; a round whose answers are all in the memo steps on at once.
    """

    def __init__(self, engine: QueryEngine, ctx: Context, skip: Collection[str] = (),
                 memo: dict[Query, asyncio.Future[Answer] | Answer] | None = None,
                 claim: Callable[[str], bool] | None = None,
                 exclusions: Exclusions = NOTHING) -> None:
        self.engine = engine
        self.ctx = ctx
        self.skip = skip
        self.exclusions = exclusions  # never queried: their lookups say EXCLUDED (issue 14)
        # shared by the groups of a streaming scan (workers.scan.pipeline), else the batch's own
        self.memo: dict[Query, asyncio.Future[Answer] | Answer] = {} if memo is None else memo
        self.claim = claim  # a host is looked up only when claim(host) is True (scan-wide)
        # implicit MX hosts looked up without the claim: their evidence settles the domain's
        # mail service (workers.dns.mail_service) but belongs to the group that claimed them
        self.unclaimed: set[str] = set()
        self.hosts: dict[str, MxHostEvidence | None] = {}
        self.domains: list[DomainEvidence | None] = []
        self._open = 0
        self._finished: asyncio.Future[None] | None = None

    async def run_all(self, inputs: list[DomainInput]) -> None:
        """Probe ``inputs`` and every new MX host they name; returns when all are done."""
        self._finished = asyncio.get_running_loop().create_future()
        self.domains = [None] * len(inputs)
        self._open += 1  # held until every domain plan has started
        for i, inp in enumerate(inputs):
            self._start(domain_plan(inp, self.ctx), partial(self._domain_done, i))
        self._close_one()
        await self._finished

    async def run_hosts(self, hosts: list[str]) -> None:
        """Probe the given MX hosts (A, AAAA, TLSA): the hourly re-scan of DANE hosts."""
        self._finished = asyncio.get_running_loop().create_future()
        self._open += 1
        for host in hosts:
            if host not in self.hosts and (self.claim is None or self.claim(host)):
                self.hosts[host] = None
                self._start(host_plan(host, self.ctx), partial(self._host_done, host))
        self._close_one()
        await self._finished

    def _start(self, plan: Plan[Any], on_done: Callable[[Any, tuple[QueryRecord, ...]], None]
               ) -> None:
        self._open += 1
        self._step(_Run(plan, on_done), None)

    def _close_one(self) -> None:
        self._open -= 1
        if self._open == 0 and self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _step(self, run: _Run, answers: tuple[Answer, ...] | None) -> None:
        memo = self.memo
        while True:
            try:
                qs = next(run.plan) if answers is None else run.plan.send(answers)
            except StopIteration as stop:
                try:
                    run.on_done(stop.value, tuple(run.records))
                except Exception as exc:  # noqa: BLE001  our bug: re-raised by run_all
                    self._fail(exc)
                self._close_one()
                return
            except Exception as exc:  # noqa: BLE001  a plan bug: re-raised by run_all
                self._fail(exc)
                return
            got: list[Answer | None] = [None] * len(qs)
            remaining = 0
            for i, q in enumerate(qs):
                entry = memo.get(q)
                if entry is None:
                    entry = memo[q] = self._ask(q)
                if isinstance(entry, Answer):
                    got[i] = entry
                elif entry.done():
                    got[i] = memo[q] = entry.result()
                else:
                    remaining += 1
                    entry.add_done_callback(partial(self._arrived, run, i, q))
            if remaining:
                run.answers, run.remaining = got, remaining
                return
            done = tuple(a for a in got if a is not None)
            run.records.extend(a.record for a in done)
            answers = done

    def _ask(self, q: Query) -> asyncio.Future[Answer] | Answer:
        """The one place a query goes to the resolver: a name on the exclusion list (or below
        an entry) is never sent; its answer says so (``QueryStatus.EXCLUDED``)."""
        if self.exclusions.suffixes and self.exclusions.excludes_name(q.qname):
            return excluded_answer(q)
        return self.engine.submit(q)

    def _arrived(self, run: _Run, i: int, q: Query, fut: asyncio.Future[Answer]) -> None:
        if fut.cancelled():
            self._fail(RuntimeError(f"query {q} cancelled (engine closed)"))
            return
        answer = fut.result()
        self.memo[q] = answer
        run.answers[i] = answer
        run.remaining -= 1
        if run.remaining == 0:
            done = tuple(a for a in run.answers if a is not None)
            run.records.extend(a.record for a in done)
            self._step(run, done)

    def _fail(self, exc: BaseException) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_exception(exc)

    def _domain_done(self, i: int, ev: DomainEvidence, records: tuple[QueryRecord, ...]) -> None:
        self.domains[i] = dataclasses.replace(ev, queries=records)
        for host in ev.mx_hosts:
            if host in self.hosts or host in self.skip:
                continue
            if self.claim is not None and not self.claim(host):
                if not ev.implicit_mx:
                    continue
                self.unclaimed.add(host)
            self.hosts[host] = None
            self._start(host_plan(host, self.ctx), partial(self._host_done, host))

    def _host_done(self, host: str, ev: MxHostEvidence, records: tuple[QueryRecord, ...]) -> None:
        self.hosts[host] = dataclasses.replace(ev, queries=records)


async def probe_batch(
    domains: Iterable[DomainInput | str],
    settings: EngineSettings,
    now: float,
    anchors: dns.rrset.RRset | None = None,
    known_hosts: Collection[str] = (),
    engine: QueryEngine | None = None,
    bounds: Bounds | None = None,
    exclusions: Exclusions = NOTHING,
) -> BatchResult:
    """Probe a batch of domains and each distinct MX host; failures are in the evidence.
    ``bounds`` caps the MX hosts per domain and the addresses per host (default ``Bounds()``);
    no query is sent for a name that ``exclusions`` covers (its lookups say ``EXCLUDED``)."""
    inputs = [d if isinstance(d, DomainInput) else DomainInput(d) for d in domains]
    ctx = Context(now=now, anchors=anchors, bounds=bounds or Bounds())
    started = time.time()
    own = engine is None
    eng = engine or QueryEngine(settings)
    if own:
        await eng.open()
    sent_before = eng.sent
    try:
        session = Session(eng, ctx, known_hosts, exclusions=exclusions)
        await session.run_all(inputs)
    finally:
        if own:
            eng.close()
    done, hosts = settle_implicit_mx(tuple(d for d in session.domains if d is not None),
                                     tuple(h for h in session.hosts.values() if h is not None))
    return BatchResult(domains=done, hosts=hosts, started_at=started,
                       finished_at=time.time(), queries_sent=eng.sent - sent_before,
                       stats={"distinct_queries": len(session.memo), "hosts": len(hosts)})


async def probe_group(
    inputs: list[DomainInput],
    engine: QueryEngine,
    ctx: Context,
    memo: dict[Query, asyncio.Future[Answer] | Answer],
    claim: Callable[[str], bool],
    exclusions: Exclusions = NOTHING,
) -> BatchResult:
    """A small group of a streaming scan over a long-lived engine: the query memo and the chain
    memo (``ctx.chains``) are the scan's, and an MX host is looked up by the first group whose
    ``claim`` of it succeeds, only once in the scan; no query is sent for a name that
    ``exclusions`` covers."""
    started = time.time()
    sent_before = engine.sent
    session = Session(engine, ctx, memo=memo, claim=claim, exclusions=exclusions)
    await session.run_all(inputs)
    done, hosts = settle_implicit_mx(tuple(d for d in session.domains if d is not None),
                                     tuple(h for h in session.hosts.values() if h is not None))
    if session.unclaimed:
        hosts = tuple(h for h in hosts if h.host not in session.unclaimed)
    return BatchResult(domains=done, hosts=hosts, started_at=started, finished_at=time.time(),
                       queries_sent=engine.sent - sent_before, stats={"hosts": len(hosts)})


async def probe_host_group(
    hosts: list[str],
    engine: QueryEngine,
    ctx: Context,
    memo: dict[Query, asyncio.Future[Answer] | Answer],
    claim: Callable[[str], bool],
    exclusions: Exclusions = NOTHING,
) -> BatchResult:
    """MX hosts by name (fully qualified, trailing dot), without their domains."""
    started = time.time()
    sent_before = engine.sent
    session = Session(engine, ctx, memo=memo, claim=claim, exclusions=exclusions)
    await session.run_hosts(hosts)
    found = tuple(h for h in session.hosts.values() if h is not None)
    return BatchResult(domains=(), hosts=found, started_at=started, finished_at=time.time(),
                       queries_sent=engine.sent - sent_before, stats={"hosts": len(found)})


def probe_batch_sync(
    domains: Iterable[DomainInput | str],
    settings: EngineSettings,
    now: float,
    anchors: dns.rrset.RRset | None = None,
    known_hosts: Collection[str] = (),
    bounds: Bounds | None = None,
) -> BatchResult:
    """Blocking wrapper of :func:`probe_batch` (uses uvloop when installed)."""
    return run_async(probe_batch(domains, settings, now, anchors, known_hosts, bounds=bounds))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on uvloop when it is installed, else asyncio.

    The result travels in a box: the main task returns None, because asyncio's runner formats
    the main task's repr (result included) when it restores the SIGINT handler, which for a
    batch of thousands of domains costs seconds."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    return box[0]
