"""Cluster pieces against a real Redis: the cross-worker per-IP cap, host claims, and a Redis that
is not there."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from tests.integration.cluster_procs import REDIS_URL, fresh_redis
from workers.cluster.leases import IpLeases, lease_key
from workers.cluster.state import ClusterError, connect
from workers.cluster.stream import claim_hosts

pytestmark = pytest.mark.redis


def test_per_ip_cap_holds_across_clients_and_expires() -> None:
    fresh_redis()

    async def run() -> None:
        a = aioredis.Redis.from_url(REDIS_URL)  # two workers: two connections
        b = aioredis.Redis.from_url(REDIS_URL)
        la, lb = IpLeases(a, cap=2, lease_seconds=0.5), IpLeases(b, cap=2, lease_seconds=0.5)
        try:
            assert await la.try_acquire("127.9.9.9", "t1")
            assert await lb.try_acquire("127.9.9.9", "t2")
            assert not await lb.try_acquire("127.9.9.9", "t3")  # the cap is 2 across both
            assert await lb.try_acquire("127.9.9.8", "t3")  # another address is free
            await la.release("127.9.9.9", "t1")
            assert await lb.try_acquire("127.9.9.9", "t4")
            await asyncio.sleep(0.6)  # holders died without releasing: the leases expire
            assert await la.try_acquire("127.9.9.9", "t5")
            # many waiters, cap 1: never two inside at once
            inside: list[int] = []
            peak: list[int] = []

            async def probe(leases: IpLeases) -> None:
                async with leases.hold("127.9.9.7"):
                    inside.append(1)
                    peak.append(len(inside))
                    await asyncio.sleep(0.01)
                    inside.pop()

            one_a = IpLeases(a, cap=1, lease_seconds=5, poll=0.005)
            one_b = IpLeases(b, cap=1, lease_seconds=5, poll=0.005)
            await asyncio.gather(*(probe(one_a if i % 2 else one_b) for i in range(12)))
            assert max(peak) == 1 and len(peak) == 12
            assert await a.zcard(lease_key("127.9.9.7")) == 0
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(run())


def test_a_cancelled_holder_ends_cancelled_and_frees_its_slot() -> None:
    """A deadline that fires as the holder leaves (here: a cancellation pending when the body
    ends) must end the holder, not be swallowed while the lease's keeper is stopped, and the
    slot must be free at once, not when the lease expires."""
    fresh_redis()

    async def run() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        leases = IpLeases(client, cap=1, lease_seconds=30)
        after: list[str] = []

        async def holder() -> None:
            async with leases.hold("127.9.9.6"):
                assert await client.zcard(lease_key("127.9.9.6")) == 1
                task = asyncio.current_task()
                assert task is not None
                task.cancel()  # lands at the holder's next await: inside the release
            after.append("went on")  # a swallowed cancellation: the deadline did not end it

        try:
            task = asyncio.create_task(holder())
            with pytest.raises(asyncio.CancelledError):
                await task
            assert after == []
            for _ in range(100):  # the shielded release completes on its own
                if await client.zcard(lease_key("127.9.9.6")) == 0:
                    break
                await asyncio.sleep(0.01)
            assert await client.zcard(lease_key("127.9.9.6")) == 0
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_keeper_that_loses_its_cancellation_neither_holds_the_holder_nor_renews_on() -> None:
    """Python 3.11's asyncio.wait_for (around each redis-py command's write) returns the
    command's result when it ended in the turn the task was cancelled: the keeper's cancellation
    is lost. Awaiting the keeper then waited for ever, renewing the lease (a worker's chunks all
    stuck behind one host). The holder must leave at once, and the keeper stop by itself."""
    fresh_redis()

    async def run() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        leases = IpLeases(client, cap=1, lease_seconds=0.15)  # renewed every 0.05 s
        in_extend = asyncio.Event()
        calls: list[int] = []

        async def extend(ip: str, token: str) -> bool:
            calls.append(1)
            in_extend.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if len(calls) > 1:
                    raise
                return True  # the first cancellation lost, as wait_for loses one
            return True

        leases.extend = extend  # type: ignore[method-assign]

        async def holder() -> None:
            async with leases.hold("127.9.9.5"):
                await in_extend.wait()  # the keeper is inside its renewal now

        try:
            task = asyncio.create_task(holder())
            await asyncio.wait([task], timeout=5)
            assert task.done(), "the holder waits for a keeper that lost its cancellation"
            assert await client.zcard(lease_key("127.9.9.5")) == 0
            await asyncio.sleep(0.3)  # six renewal periods
            assert calls == [1]  # the keeper stopped: no renewal after the release
        finally:
            await client.aclose()

    asyncio.run(run())


def test_a_host_belongs_to_one_chunk_and_stays_with_it() -> None:
    fresh_redis()

    async def run() -> None:
        r = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await claim_hosts(r, "s", "c1", ["mx1.", "mx2."]) == {"mx1.": "c1",
                                                                         "mx2.": "c1"}
            assert await claim_hosts(r, "s", "c2", ["mx2.", "mx3."]) == {"mx2.": "c1",
                                                                         "mx3.": "c2"}
            # redelivered: c1 keeps its hosts
            assert await claim_hosts(r, "s", "c1", ["mx1.", "mx2.", "mx3."]) == {
                "mx1.": "c1", "mx2.": "c1", "mx3.": "c2"}
            assert await claim_hosts(r, "other-scan", "c2", ["mx1."]) == {"mx1.": "c2"}
        finally:
            await r.aclose()

    asyncio.run(run())


def test_redis_down_gives_one_line_after_retries() -> None:
    said: list[str] = []
    with pytest.raises(ClusterError, match=r"^Redis at redis://127.0.0.1:1/0 is not reachable"):
        connect("redis://127.0.0.1:1/0", retries=2, delay=0.01, say=said.append)
    assert len(said) == 2 and "retry 1/2" in said[0]
    out = subprocess.run([sys.executable, "-c", "from danescan.cli import main; main()", "status"],
                         env={"DANESCAN_REDIS_URL": "redis://127.0.0.1:1/0",
                              "DANESCAN_REDIS_RETRIES": "1", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("danescan: Redis at redis://127.0.0.1:1/0 is not reachable")
    assert len(lines) == 2  # one retry notice, one final line; no traceback
