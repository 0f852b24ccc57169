"""Concurrent history lookups become few lookups; failures and cancellation reach every waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from workers.scan.coalesce import Coalesced


class Store:
    """A lookup that takes a while and remembers what it was asked."""

    def __init__(self, fail_first: bool = False) -> None:
        self.asked: list[list[str]] = []
        self.fail_first = fail_first

    async def __call__(self, names: Sequence[str]) -> Mapping[str, Sequence[bytes]]:
        self.asked.append(list(names))
        await asyncio.sleep(0.01)
        if self.fail_first and len(self.asked) == 1:
            raise OSError("database away")
        return {n: [n.encode()] for n in names if not n.startswith("none")}


def test_callers_that_ask_together_share_lookups_and_get_their_hosts() -> None:
    store = Store()
    history = Coalesced(store)

    async def main() -> list[Mapping[str, Sequence[bytes]]]:
        return await asyncio.gather(*(history([f"h{i}.", "none."]) for i in range(50)))

    results = asyncio.run(main())
    # the first call starts a lookup at the next turn of the loop: every call made in this turn
    # is in it
    assert len(store.asked) == 1 and history.loads == 1 and history.calls == 50
    assert store.asked[0] == sorted({f"h{i}." for i in range(50)} | {"none."})
    for i, got in enumerate(results):
        assert got[f"h{i}."] == [f"h{i}.".encode()] and "none." not in got


def test_calls_made_during_a_lookup_wait_for_the_next_one() -> None:
    store = Store()
    history = Coalesced(store)

    async def main() -> None:
        first = asyncio.ensure_future(history(["a."]))
        await asyncio.sleep(0.001)  # the first lookup is running now
        later = await asyncio.gather(*(history([f"b{i}."]) for i in range(10)))
        assert (await first)["a."] == [b"a."]
        assert all(got[f"b{i}."] == [f"b{i}.".encode()] for i, got in enumerate(later))

    asyncio.run(main())
    assert store.asked == [["a."], [f"b{i}." for i in range(10)]]


def test_a_failed_lookup_fails_its_batch_and_the_next_batch_is_tried_afresh() -> None:
    store = Store(fail_first=True)
    history = Coalesced(store)

    async def main() -> None:
        first = [asyncio.ensure_future(history([n])) for n in ("a.", "b.")]
        await asyncio.sleep(0.001)
        second = asyncio.ensure_future(history(["c."]))
        for fut in first:
            with pytest.raises(OSError, match="database away"):
                await fut
        assert (await second) == {"c.": [b"c."]}

    asyncio.run(main())
    assert store.asked == [["a.", "b."], ["c."]]


def test_a_cancelled_lookup_leaves_nobody_waiting() -> None:
    async def forever(names: Sequence[str]) -> Mapping[str, Sequence[bytes]]:
        await asyncio.sleep(3600)
        return {}

    history = Coalesced(forever)

    async def main() -> None:
        waiters = [asyncio.ensure_future(history([n])) for n in ("a.", "b.")]
        await asyncio.sleep(0.001)
        assert history._task is not None
        history._task.cancel()
        for fut in waiters:
            with pytest.raises(asyncio.CancelledError):
                await fut
        assert history._task is None

    asyncio.run(main())
