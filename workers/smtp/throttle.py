"""Waiting for the connection-rate limits before each new SMTP connection, in batches.

``await throttle.admit(ip)`` returns once a token of the address and a global token were granted.
The requests of all probes waiting at one moment go to the grant function together (one call, so
in the cluster one Redis round-trip per batch of grants, not one per connection); a request that
was not granted asks again after the wait its answer suggested. The grant function is the
in-process :class:`workers.ratelimit.Buckets` (embedded scan) or the Redis script
(``workers.cluster.ratelimit``): the waiting logic is the same for both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from workers.ratelimit import NEVER, Buckets, RateLimits

Grant = Callable[[Sequence[str]], Awaitable[list[float]]]

MIN_WAIT = 0.005  # seconds: the shortest retry, so that a batch collects its neighbours
MAX_WAIT = 1.0  # a request re-asks at least this often (another process may have freed tokens)


class Throttle:
    def __init__(self, grant: Grant, max_batch: int = 500) -> None:
        self._grant = grant
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.granted = 0
        self.waits = 0  # requests told to wait (one request can be told several times)
        self.calls = 0  # grant calls (Redis round-trips in the cluster)

    async def admit(self, ip: str) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(ip, fut)
        await fut

    def _enqueue(self, ip: str, fut: asyncio.Future[None]) -> None:
        if fut.done():
            return
        self._pending.append((ip, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(0)  # let the probes started in this turn join the batch
            batch = [(ip, f) for ip, f in self._pending[: self._max_batch] if not f.done()]
            del self._pending[: self._max_batch]
            if not batch:
                continue
            try:
                self.calls += 1
                answers = await self._grant([ip for ip, _ in batch])
            except Exception as exc:  # noqa: BLE001  handed to every waiting probe
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (ip, fut), wait in zip(batch, answers, strict=True):
                if fut.done():
                    continue
                if wait == 0:
                    self.granted += 1
                    fut.set_result(None)
                    continue
                self.waits += 1
                delay = MAX_WAIT if wait == NEVER else min(MAX_WAIT, max(MIN_WAIT, wait))
                loop.call_later(delay, self._enqueue, ip, fut)


def local_throttle(limits: RateLimits) -> Throttle | None:
    """The embedded scan's throttle (None when no limit is set): buckets in this process."""
    if not limits.active:
        return None
    buckets = Buckets(limits)

    async def grant(ips: Sequence[str]) -> list[float]:
        return buckets.grant(ips, time.monotonic())

    return Throttle(grant)
