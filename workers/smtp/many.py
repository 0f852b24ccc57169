"""Many probes in flight at once, never more than ``ProbeLimits.per_ip`` on one server address.

Scheduling model: targets are pulled from the iterable lazily. A target whose address is busy waits
in a per-address queue (at most ``max_pending`` targets wait in all; pulling stops while full);
when a probe ends, the next waiting target of that address starts first, then new targets are
pulled until ``global_`` probes run. Results come out in completion order.

Outcomes of an address (``workers.smtp.outcomes``): when a probe ends in a timeout or refusal before
TLS, the targets waiting for that address, and those pulled later for it, take that outcome at once
without connecting (four names on one silent address cost one timeout, not four).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime

from workers.smtp.evidence import ProbeError, ProbeStep, ProbeTarget, StarttlsEvidence
from workers.smtp.outcomes import AddressOutcomes, inferred
from workers.smtp.probe import probe_starttls
from workers.smtp.settings import ProbeLimits, ProbeTimeouts, ReadLimits
from workers.smtp.throttle import Throttle
from workers.smtp.tlscompat import client_context
from workers.vocab import SmtpStatus

_Task = asyncio.Task[StarttlsEvidence]


def _bug(target: ProbeTarget, exc: BaseException) -> StarttlsEvidence:
    return StarttlsEvidence(
        status=SmtpStatus.PROBE_ERROR,
        host=target.host,
        ip=target.ip,
        port=target.port,
        sni=target.sni or target.host,
        started_at=datetime.now(UTC),
        step=ProbeStep.CONNECT,
        error=ProbeError.INTERNAL,
        detail=f"{type(exc).__name__}: {exc}",
    )


class _Scheduler:
    def __init__(
        self,
        targets: Iterable[ProbeTarget],
        limits: ProbeLimits,
        start: asyncio.Queue[tuple[ProbeTarget, _Task]],
        launch: _Launcher,
        outcomes: AddressOutcomes,
    ) -> None:
        self._source: Iterator[ProbeTarget] | None = iter(targets)
        self._limits = limits
        self._done = start
        self._launch = launch
        self._outcomes = outcomes
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, deque[ProbeTarget]] = {}
        self._n_waiting = 0
        self.running: set[_Task] = set()
        self.ready: deque[StarttlsEvidence] = deque()  # inferred, not yet handed out

    def _start(self, target: ProbeTarget) -> None:
        self._busy[target.ip] = self._busy.get(target.ip, 0) + 1
        task = self._launch(target)
        self.running.add(task)
        task.add_done_callback(lambda t: self._done.put_nowait((target, t)))

    def _known(self, target: ProbeTarget) -> bool:
        """Take the address's outcome if it has one (then the target is done)."""
        source = self._outcomes.get(target.ip, target.port)
        if source is None:
            return False
        self.ready.append(inferred(source, target, datetime.now(UTC)))
        return True

    def fill(self) -> None:
        while len(self.running) < self._limits.global_ and self._source is not None:
            if max(self._n_waiting, len(self.ready)) >= self._limits.max_pending:
                return
            target = next(self._source, None)
            if target is None:
                self._source = None
                return
            if self._known(target):
                continue
            if self._busy.get(target.ip, 0) < self._limits.per_ip:
                self._start(target)
            else:
                self._waiting.setdefault(target.ip, deque()).append(target)
                self._n_waiting += 1

    def finished(self, target: ProbeTarget, task: _Task, ev: StarttlsEvidence | None) -> None:
        self.running.discard(task)
        ip = target.ip
        left = self._busy[ip] - 1
        if left:
            self._busy[ip] = left
        else:
            del self._busy[ip]
        queue = self._waiting.get(ip)
        spread = ev is not None and self._outcomes.record(ev)
        if queue and spread:
            kept = deque(t for t in queue if not self._known(t))
            self._n_waiting -= len(queue) - len(kept)
            queue = self._waiting[ip] = kept
            if not kept:
                del self._waiting[ip]
        if queue:
            self._n_waiting -= 1
            nxt = queue.popleft()
            if not queue:
                del self._waiting[ip]
            self._start(nxt)  # the freed slot (per address and global) goes to the same address
        self.fill()

    @property
    def idle(self) -> bool:
        return (
            not self.running and not self._n_waiting and not self.ready and self._source is None
        )


class _Launcher:
    def __init__(
        self,
        ehlo_name: str,
        timeouts: ProbeTimeouts,
        read_limits: ReadLimits,
        ctx: ssl.SSLContext,
        throttle: Throttle | None = None,
    ) -> None:
        self._ehlo_name = ehlo_name
        self._timeouts = timeouts
        self._read_limits = read_limits
        self._ctx = ctx
        self._throttle = throttle

    def __call__(self, target: ProbeTarget) -> _Task:
        return asyncio.create_task(self._probe(target))

    async def _probe(self, target: ProbeTarget) -> StarttlsEvidence:
        if self._throttle is not None:  # the connection-rate limits, before the connection
            await self._throttle.admit(target.ip)
        return await probe_starttls(
            target.host,
            target.ip,
            port=target.port,
            ehlo_name=self._ehlo_name,
            timeouts=self._timeouts,
            sni=target.sni,
            limits=self._read_limits,
            ssl_context=self._ctx,
        )


async def probe_many(
    targets: Iterable[ProbeTarget],
    *,
    ehlo_name: str,
    timeouts: ProbeTimeouts | None = None,
    limits: ProbeLimits | None = None,
    read_limits: ReadLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    outcomes: AddressOutcomes | None = None,
    throttle: Throttle | None = None,
) -> AsyncIterator[StarttlsEvidence]:
    """Probe every target once; yield each evidence as its probe ends (completion order).

    An exception inside a probe (a bug of ours: server faults are evidence) yields a
    ``SmtpStatus.PROBE_ERROR`` evidence for that target instead of ending the batch.
    ``outcomes`` holds the address outcomes that spread (pass one per scan to share them between
    calls; by default they are shared within this call). ``throttle`` applies the connection-rate
    limits before each connection (its wait does not count against the probe's timeouts).
    Closing the generator early cancels the probes still running.
    """
    done: asyncio.Queue[tuple[ProbeTarget, _Task]] = asyncio.Queue()
    launcher = _Launcher(
        ehlo_name,
        timeouts or ProbeTimeouts(),
        read_limits or ReadLimits(),
        ssl_context or client_context(),
        throttle,
    )
    memo = outcomes if outcomes is not None else AddressOutcomes()
    sched = _Scheduler(targets, limits or ProbeLimits(), done, launcher, memo)
    try:
        while True:
            while sched.ready:
                yield sched.ready.popleft()
            sched.fill()
            if sched.ready:
                continue
            if sched.idle:
                break
            target, task = await done.get()
            ev: StarttlsEvidence | None = None
            if not task.cancelled():
                exc = task.exception()
                ev = _bug(target, exc) if exc is not None else task.result()
            sched.finished(target, task, ev)
            if ev is not None:
                yield ev
    finally:
        for task in sched.running:
            task.cancel()
        if sched.running:
            await asyncio.gather(*sched.running, return_exceptions=True)
