"""Many probes in flight at once, never more than ``ProbeLimits.per_ip`` on one server address.

Scheduling model: targets are pulled from the iterable lazily. A target whose address is busy waits
in a per-address queue (at most ``max_pending`` targets wait in all; pulling stops while full);
when a probe ends, the next waiting target of that address starts first, then new targets are
pulled until ``global_`` probes run. Results come out in completion order.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime

from danescan.vocab import SmtpStatus
from workers.smtp.evidence import ProbeError, ProbeStep, ProbeTarget, StarttlsEvidence
from workers.smtp.probe import probe_starttls
from workers.smtp.settings import ProbeLimits, ProbeTimeouts, ReadLimits
from workers.smtp.tlscompat import client_context

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
    ) -> None:
        self._source: Iterator[ProbeTarget] | None = iter(targets)
        self._limits = limits
        self._done = start
        self._launch = launch
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, deque[ProbeTarget]] = {}
        self._n_waiting = 0
        self.running: set[_Task] = set()

    def _start(self, target: ProbeTarget) -> None:
        self._busy[target.ip] = self._busy.get(target.ip, 0) + 1
        task = self._launch(target)
        self.running.add(task)
        task.add_done_callback(lambda t: self._done.put_nowait((target, t)))

    def fill(self) -> None:
        while len(self.running) < self._limits.global_ and self._source is not None:
            if self._n_waiting >= self._limits.max_pending:
                return
            target = next(self._source, None)
            if target is None:
                self._source = None
                return
            if self._busy.get(target.ip, 0) < self._limits.per_ip:
                self._start(target)
            else:
                self._waiting.setdefault(target.ip, deque()).append(target)
                self._n_waiting += 1

    def finished(self, target: ProbeTarget, task: _Task) -> None:
        self.running.discard(task)
        ip = target.ip
        left = self._busy[ip] - 1
        if left:
            self._busy[ip] = left
        else:
            del self._busy[ip]
        queue = self._waiting.get(ip)
        if queue:
            self._n_waiting -= 1
            nxt = queue.popleft()
            if not queue:
                del self._waiting[ip]
            self._start(nxt)  # the freed slot (per address and global) goes to the same address
        self.fill()

    @property
    def idle(self) -> bool:
        return not self.running and not self._n_waiting and self._source is None


class _Launcher:
    def __init__(
        self, ehlo_name: str, timeouts: ProbeTimeouts, read_limits: ReadLimits, ctx: ssl.SSLContext
    ) -> None:
        self._ehlo_name = ehlo_name
        self._timeouts = timeouts
        self._read_limits = read_limits
        self._ctx = ctx

    def __call__(self, target: ProbeTarget) -> _Task:
        return asyncio.create_task(
            probe_starttls(
                target.host,
                target.ip,
                port=target.port,
                ehlo_name=self._ehlo_name,
                timeouts=self._timeouts,
                sni=target.sni,
                limits=self._read_limits,
                ssl_context=self._ctx,
            )
        )


async def probe_many(
    targets: Iterable[ProbeTarget],
    *,
    ehlo_name: str,
    timeouts: ProbeTimeouts | None = None,
    limits: ProbeLimits | None = None,
    read_limits: ReadLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[StarttlsEvidence]:
    """Probe every target once; yield each evidence as its probe ends (completion order).

    An exception inside a probe (a bug of ours: server faults are evidence) yields a
    ``SmtpStatus.PROBE_ERROR`` evidence for that target instead of ending the batch.
    Closing the generator early cancels the probes still running.
    """
    done: asyncio.Queue[tuple[ProbeTarget, _Task]] = asyncio.Queue()
    launcher = _Launcher(
        ehlo_name,
        timeouts or ProbeTimeouts(),
        read_limits or ReadLimits(),
        ssl_context or client_context(),
    )
    sched = _Scheduler(targets, limits or ProbeLimits(), done, launcher)
    try:
        sched.fill()
        while not sched.idle:
            target, task = await done.get()
            sched.finished(target, task)
            if task.cancelled():
                continue
            exc = task.exception()
            yield _bug(target, exc) if exc is not None else task.result()
    finally:
        for task in sched.running:
            task.cancel()
        if sched.running:
            await asyncio.gather(*sched.running, return_exceptions=True)
