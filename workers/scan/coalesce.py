"""Many small history lookups as few queries.

In a streaming scan every group asks for the earlier certificates of its own few DANE hosts: one
ClickHouse query per group, about a tenth of a scan's CPU in a profile of the embedded scan (20,000
domains of the internet-shaped lab). :class:`Coalesced` runs one lookup at a time and hands the
next one every name asked for while the previous ran, so the number of queries follows the
database's speed, not the number of groups, and a lone request is not held back by a timer.

Every caller gets the whole mapping of its batch (callers look their own hosts up in it). A lookup
that fails fails every caller of its batch (each then does what it does on failure: the cluster
defers its hosts); the next batch is tried afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from workers.scan.batch import History

Earlier = Mapping[str, Sequence[bytes]]


class Coalesced:
    """A :data:`History` that batches concurrent calls of ``load`` (one in flight at a time)."""

    def __init__(self, load: History) -> None:
        self._load = load
        self._queue: list[tuple[Sequence[str], asyncio.Future[Earlier]]] = []
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # lookups asked for
        self.loads = 0  # lookups run

    async def __call__(self, names: Sequence[str]) -> Earlier:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Earlier] = loop.create_future()
        self._queue.append((names, fut))
        self.calls += 1
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        batch: list[tuple[Sequence[str], asyncio.Future[Earlier]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                names = sorted({n for ns, _ in batch for n in ns})
                self.loads += 1
                try:
                    found = await self._load(names)
                except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(found)
            batch = []
        finally:
            self._task = None
            for _, fut in [*batch, *self._queue]:  # cancelled half-way: nobody waits forever
                if not fut.done():
                    fut.cancel()
            if batch:
                self._queue = []
