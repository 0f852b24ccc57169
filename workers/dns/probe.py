"""The I/O front end: drives many plans at once over one QueryEngine.

Identical queries within a batch are asked once (the zone material of a hoster's zone, the
DS of a TLD) and each distinct MX host is looked up once per batch, or not at all when the caller
passes it in ``known_hosts`` (the scan-wide registry of hosts already done).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Collection, Coroutine, Iterable
from typing import Any, TypeVar

import dns.name
import dns.rdata
import dns.rrset

from workers.dns.engine import EngineSettings, QueryEngine
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

T = TypeVar("T")


def load_trust_anchor(path: str) -> dns.rrset.RRset:
    """The DS records of a trust-anchor file in zone-file format (``. IN DS ...``)."""
    with open(path, encoding="ascii") as fh:
        text = fh.read()
    owner: dns.name.Name | None = None
    rdatas = []
    for line in text.splitlines():
        parts = line.split(";", 1)[0].split()
        if not parts:
            continue
        name = dns.name.from_text(parts.pop(0))
        while parts and (parts[0].isdigit() or parts[0].upper() == "IN"):
            parts.pop(0)
        if not parts or parts.pop(0).upper() != "DS":
            continue
        owner = owner or name
        rdatas.append(dns.rdata.from_text("IN", "DS", " ".join(parts)))
    if owner is None:
        raise ValueError(f"{path}: no DS record")
    return dns.rrset.from_rdata_list(owner, 0, rdatas)


class Session:
    """One batch: the query memo and the host registry. Not shared between batches."""

    def __init__(self, engine: QueryEngine, ctx: Context, skip: Collection[str] = ()) -> None:
        self.engine = engine
        self.ctx = ctx
        self.skip = skip
        self.memo: dict[Query, asyncio.Future[Answer]] = {}
        self.hosts: dict[str, asyncio.Task[MxHostEvidence]] = {}

    def ask(self, q: Query) -> asyncio.Future[Answer]:
        fut = self.memo.get(q)
        if fut is None:
            fut = asyncio.ensure_future(self.engine.query(q))
            self.memo[q] = fut
        return fut

    async def run(self, plan: Plan[T]) -> tuple[T, tuple[QueryRecord, ...]]:
        records: list[QueryRecord] = []
        try:
            qs = next(plan)
            while True:
                answers = tuple(await asyncio.gather(*(self.ask(q) for q in qs)))
                records.extend(a.record for a in answers)
                qs = plan.send(answers)
        except StopIteration as stop:
            return stop.value, tuple(records)

    async def domain(self, inp: DomainInput) -> DomainEvidence:
        ev, records = await self.run(domain_plan(inp, self.ctx))
        for host in ev.mx_hosts:
            if host not in self.hosts and host not in self.skip:
                self.hosts[host] = asyncio.ensure_future(self.host(host))
        return dataclasses.replace(ev, queries=records)

    async def host(self, host: str) -> MxHostEvidence:
        ev, records = await self.run(host_plan(host, self.ctx))
        return dataclasses.replace(ev, queries=records)


async def probe_batch(
    domains: Iterable[DomainInput | str],
    settings: EngineSettings,
    now: float,
    anchors: dns.rrset.RRset | None = None,
    known_hosts: Collection[str] = (),
    engine: QueryEngine | None = None,
) -> BatchResult:
    """Probe a batch of domains and each distinct MX host; failures are in the evidence."""
    inputs = [d if isinstance(d, DomainInput) else DomainInput(d) for d in domains]
    ctx = Context(now=now, anchors=anchors)
    started = time.time()
    own = engine is None
    eng = engine or QueryEngine(settings)
    if own:
        await eng.open()
    sent_before = eng.sent
    try:
        session = Session(eng, ctx, known_hosts)
        done = await asyncio.gather(*(session.domain(d) for d in inputs))
        hosts = await asyncio.gather(*session.hosts.values())
    finally:
        if own:
            eng.close()
    return BatchResult(domains=tuple(done), hosts=tuple(hosts), started_at=started,
                       finished_at=time.time(), queries_sent=eng.sent - sent_before,
                       stats={"distinct_queries": len(session.memo), "hosts": len(hosts)})


def probe_batch_sync(
    domains: Iterable[DomainInput | str],
    settings: EngineSettings,
    now: float,
    anchors: dns.rrset.RRset | None = None,
    known_hosts: Collection[str] = (),
) -> BatchResult:
    """Blocking wrapper of :func:`probe_batch` (uses uvloop when installed)."""
    return run_async(probe_batch(domains, settings, now, anchors, known_hosts))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on uvloop when it is installed, else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result
