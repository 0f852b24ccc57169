"""A worker process's one streaming pipeline: the chunks of every task it holds, in one event loop.

Celery runs this process with a thread pool of ``chunks_in_flight`` threads and late acks: each
task thread hands its chunk to the process's pipeline (``workers.scan.pipeline``, on uvloop in a
thread of its own) and blocks until every domain of it is done and its rows are pushed to the
results list; only then does the task return and its message get acknowledged. So many chunks are
in flight at once in one event loop (the process is CPU-bound, not latency-bound), a domain waiting
out a lame server holds only its small group, and a process killed with SIGKILL loses nothing: its
chunks stay in the scan's ledger (``workers.cluster.ledger``) until their rows are pushed, and
what no message carries any more is published again by the ledger's sweep.

The event loop stays a thread of the Celery process rather than a child process: with the ledger,
a consumer thread kept from the GIL can delay a ticket but not lose it, and a child would have to
send every row back through a pipe (CPU per domain is what the throughput goals are about).

The cluster's hooks of the pipeline: an MX host is owned by the first chunk of the scan that claims
it in Redis (HSETNX; a redelivered chunk keeps its hosts), STARTTLS slots are per-IP leases in Redis
(the cap holds across workers), an address that timed out or refused for one name spares its other
names across workers (``workers.cluster.downs``), and earlier certificates come from
clickhouse-server, read in a thread beside the loop. While clickhouse-server is away, a chunk's
DANE hosts (the only ones whose verdict needs earlier certificates) go to a host task on queue
``smtp`` and the rest of the chunk goes on: its domain rows wait in Redis like any result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from workers import gc_tuning
from workers.cluster.downs import SharedOutcomes
from workers.cluster.leases import IpLeases
from workers.cluster.ratelimit import cluster_throttle
from workers.cluster.state import key
from workers.dns import DomainInput, MxHostEvidence
from workers.loopwatch import LoopWatch, describe_tasks
from workers.scan.batch import ScanContext
from workers.scan.pipeline import GatedProber, HostRegistry, Pipeline, Scan, Work
from workers.settings import Settings
from workers.store.backend import StoreError
from workers.store.rows import DaneVerdictRow, Row

log = logging.getLogger("danescan.worker")

LoadHistory = Callable[[str, Any, Sequence[str]], Mapping[str, Sequence[bytes]]]
Defer = Callable[[str, str, Sequence[str]], None]


class RedisGate:
    """STARTTLS slots and address outcomes shared by every worker through Redis."""

    def __init__(self, client: aioredis.Redis, ctx: ScanContext, settings: Settings) -> None:
        self.leases = IpLeases(client, settings.per_ip_cap, settings.ip_lease_seconds)
        self.shared = SharedOutcomes(client, ctx.scan_id, settings.address_memo_seconds,
                                     ctx.outcomes)

    def hold(self, ip: str) -> contextlib.AbstractAsyncContextManager[Any]:
        return self.leases.hold(ip)

    async def known(self, ip: str, port: int) -> Any:
        return await self.shared.get(ip, port)

    async def record(self, ev: Any) -> None:
        await self.shared.record(ev)


def cluster_prober(client: aioredis.Redis, ctx: ScanContext, settings: Settings) -> GatedProber:
    """A worker's STARTTLS prober: per-IP leases, shared address outcomes and connection-rate
    limits, all through Redis."""
    return GatedProber(RedisGate(client, ctx, settings), ctx.limits.global_, settings.per_ip_cap,
                       cluster_throttle(client, settings.rate_limits()))


async def claim_hosts(client: aioredis.Redis, scan_id: str, owner: str,
                      hosts: Sequence[str]) -> dict[str, str]:
    """The owner of each host in the scan (``owner`` for those it claimed now, or claimed
    before: a redelivered chunk keeps its hosts)."""
    if not hosts:
        return {}
    name = key("hosts", scan_id)
    pipe = client.pipeline(transaction=False)
    for h in hosts:
        pipe.hsetnx(name, h, owner)
    pipe.hmget(name, list(hosts))
    owners = (await pipe.execute())[-1]
    return {h: o.decode() for h, o in zip(hosts, owners, strict=True) if o is not None}


class ChunkRows:
    """The pipeline's sink for one chunk: its rows, host rows first."""

    def __init__(self) -> None:
        self.host_rows: list[Row] = []
        self.domain_rows: list[Row] = []
        self.count = 0

    def hosts(self, work: Work, rows: list[Row]) -> None:
        self.host_rows.extend(rows)

    def domains(self, work: Work, rows: list[Row], count: int) -> None:
        self.domain_rows.extend(rows)
        self.count += count

    def judged_hosts(self) -> list[str]:
        """The MX hosts whose verdict is among the rows (fully qualified)."""
        return sorted({r.mx_host + "." for r in self.host_rows
                       if isinstance(r, DaneVerdictRow) and not r.ip})

    @property
    def rows(self) -> list[Row]:
        return [*self.host_rows, *self.domain_rows]


class Runtime:
    """The process's event loop (a thread) and pipeline; chunks come from any thread."""

    def __init__(self, settings: Settings, history: LoadHistory, defer: Defer) -> None:
        gc_tuning.tune()  # thousands of domains in flight (workers/gc_tuning.py)
        self.settings = settings
        self._history = history
        self._defer = defer
        self.loop = _new_loop()
        self.pipeline = Pipeline(window=settings.window, group=settings.group)
        self._scans: dict[str, Scan] = {}
        self._client: aioredis.Redis | None = None
        self._db_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
        self._cpu_mark = 0.0
        self._away_until = 0.0  # clickhouse-server failed a history lookup until then
        # No short GIL switch interval (the branch had 0.5 ms to keep kombu's window between BRPOP
        # and its unacknowledged record short): the ledger makes that window harmless, and the
        # forced hand-overs cost the pipeline thread CPU (measured: bench_cluster / py-spy).
        self.thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self.thread.start()
        self.watch = LoopWatch(self.loop)  # logs loop stalls > 100 ms with their stack
        self.watch.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run_chunk(self, setup: Any, owner: str, domains: Sequence[DomainInput] = (),
                  hosts: Sequence[str] = (), attempt: int = 0) -> tuple[ChunkRows, float]:
        """Blocks the calling (task) thread until the chunk is done: (its rows, the pipeline
        thread's CPU seconds since the last call, for the scan's accounting). Raises the first
        error of its groups."""
        fut = asyncio.run_coroutine_threadsafe(
            self._chunk(setup, owner, domains, hosts, attempt), self.loop)
        return fut.result()

    async def _chunk(self, setup: Any, owner: str, domains: Sequence[DomainInput],
                     hosts: Sequence[str], attempt: int) -> tuple[ChunkRows, float]:
        scan = self._scan(setup)
        rows = ChunkRows()
        finished: asyncio.Future[BaseException | None] = self.loop.create_future()

        def done(_work: Work, error: BaseException | None) -> None:
            if not finished.done():
                finished.set_result(error)

        await self.pipeline.submit(Work(scan, rows, domains=domains, hosts=hosts, tag=owner,
                                        attempt=attempt, done=done))
        error = await self._wait(finished, owner, len(domains) + len(hosts))
        if error is not None:
            raise error
        now = time.thread_time()
        cpu, self._cpu_mark = now - self._cpu_mark, now
        return rows, cpu

    async def _wait(self, finished: asyncio.Future[BaseException | None], owner: str,
                    size: int) -> BaseException | None:
        """The chunk's end; each ``stuck_report_seconds`` it is not there, the loop's waiting
        tasks are logged (a chunk that never ends holds its task, and the ledger keeps it)."""
        started = time.monotonic()
        while True:
            await asyncio.wait([finished], timeout=self.settings.stuck_report_seconds)
            if finished.done():
                return finished.result()
            log.warning("chunk %s (%d names) not done after %.0f s; the pipeline waits on:\n%s",
                        owner, size, time.monotonic() - started, describe_tasks(self.loop))

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            # a blocking pool: a probe or claim past its size waits for a connection (the
            # default pool raises at 100 commands in flight, and thousands of domains are).
            # socket_timeout set, not left to redis-py (its default moved: 5 s in 8.1): a command
            # unanswered for 30 s fails its group (the chunk is retried) instead of holding it,
            # and a loop stall of a few seconds fails none
            pool = aioredis.BlockingConnectionPool.from_url(
                self.settings.redis_url, max_connections=64, timeout=30, socket_connect_timeout=3,
                socket_timeout=30)
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    def _scan(self, setup: Any) -> Scan:
        ctx: ScanContext = setup.ctx
        scan = self._scans.get(ctx.scan_id)
        if scan is not None:
            return scan
        client = self._redis()

        async def history(names: Sequence[str]) -> Mapping[str, Sequence[bytes]]:
            # ClickHouse failed a moment ago: do not queue every group behind another attempt
            if time.monotonic() < self._away_until:
                raise StoreError("clickhouse-server failed a moment ago")
            try:
                return await self.loop.run_in_executor(self._db_thread, self._history,
                                                       ctx.scan_id, ctx.now, names)
            except StoreError:
                self._away_until = time.monotonic() + 5.0
                raise

        async def defer(hosts: Sequence[MxHostEvidence], work: Work) -> None:
            await self.loop.run_in_executor(None, self._defer, ctx.scan_id, str(work.tag),
                                            [h.host for h in hosts])

        async def own(names: Sequence[str], work: Work) -> dict[str, str]:
            return await claim_hosts(client, ctx.scan_id, str(work.tag), names)

        scan = Scan(ctx=ctx, resolver=setup.resolver,
                    prober=cluster_prober(client, ctx, self.settings),
                    public_ca=setup.public_ca, psl=setup.psl, history=history, own=own,
                    defer=defer, defer_on=(StoreError,), registry=HostRegistry())
        self._scans[ctx.scan_id] = scan
        return scan


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the embedded scan's runner, ``workers.dns.probe.run_async``, too)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
