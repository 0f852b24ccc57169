"""The cluster's connection-rate limits against real Redis: counts across processes, no timings.

Buckets that never refill make the counts exact whatever the scheduling: with K tokens, all
processes together get exactly K grants. The Lua script answers as the in-process buckets do.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from collections.abc import Iterator, Sequence

import pytest
import redis
import redis.asyncio as aioredis

from tests.integration.redis_dbs import claim
from workers.cluster.ratelimit import GLOBAL_KEY, RedisRateLimiter, cluster_throttle, ip_key
from workers.ratelimit import NEVER, Buckets, Rate, RateLimits

pytestmark = pytest.mark.redis

REDIS_URL = f"redis://127.0.0.1:6379/{claim(9)}"


@pytest.fixture
def clean() -> Iterator[None]:
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    yield
    r.flushdb()
    r.close()


async def _grant_all(limits: RateLimits, ips: Sequence[str], batch: int,
                     url: str = REDIS_URL) -> list[float]:
    client = aioredis.Redis.from_url(url)
    try:
        limiter = RedisRateLimiter(client, limits)
        out: list[float] = []
        for i in range(0, len(ips), batch):
            out += await limiter.grant(ips[i:i + batch])
        return out
    finally:
        await client.aclose()


def _worker(url: str, limits: RateLimits, ips: list[str], batch: int,
            start: mp.synchronize.Barrier, results: mp.Queue[int]) -> None:
    import redis.asyncio  # noqa: F401  imported before the barrier, so both start together

    start.wait()
    answers = asyncio.run(_grant_all(limits, ips, batch, url))  # the parent's database
    results.put(sum(1 for a in answers if a == 0.0))


def _two_processes(limits: RateLimits, ips: list[str], batch: int) -> list[int]:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    results: mp.Queue[int] = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(REDIS_URL, limits, ips, batch, start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    counts = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return counts


def test_two_processes_share_a_per_address_bucket(clean: None) -> None:
    k = 150
    counts = _two_processes(RateLimits(per_ip=Rate(k, 0.0)), ["127.0.0.25"] * 400, batch=3)
    assert sum(counts) == k  # who gets how many is scheduling; the sum is not


def test_two_processes_share_the_global_bucket(clean: None) -> None:
    k = 160
    ips = [f"127.0.{i // 250}.{i % 250}" for i in range(400)]
    counts = _two_processes(RateLimits(per_ip=Rate(1, 0.0), overall=Rate(k, 0.0)), ips, batch=9)
    assert sum(counts) == k


def test_lua_answers_as_the_python_buckets(clean: None) -> None:
    limits = RateLimits(per_ip=Rate(2, 0.0), overall=Rate(5, 0.0))
    ips = ["a", "a", "a", "b", "c", "c", "d", "e", "a"]
    expected = Buckets(limits).grant(ips, now=0.0)
    assert expected == [0.0, 0.0, NEVER, 0.0, 0.0, 0.0, NEVER, NEVER, NEVER]
    assert asyncio.run(_grant_all(limits, ips, batch=4)) == expected


def test_waits_and_expiry_with_refill(clean: None) -> None:
    limits = RateLimits(per_ip=Rate(1, 0.5))  # 30 a minute
    answers = asyncio.run(_grant_all(limits, ["x", "x"], batch=2))
    assert answers[0] == 0.0
    assert 0 < answers[1] <= 2.0  # about two seconds until the next token
    r = redis.Redis.from_url(REDIS_URL)
    assert 0 < r.pttl(ip_key("x")) <= 3000  # gone once full again: idle addresses leave nothing
    assert not r.exists(GLOBAL_KEY)  # no global limit: no global key
    r.close()


def test_cluster_throttle_admits_through_redis(clean: None) -> None:
    async def main() -> int:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            throttle = cluster_throttle(client, RateLimits(overall=Rate(100, 1000.0)))
            assert throttle is not None
            await asyncio.gather(*(throttle.admit(f"127.0.0.{i}") for i in range(30)))
            return throttle.calls
        finally:
            await client.aclose()

    assert asyncio.run(main()) == 1  # thirty connections at once: one round-trip
    assert cluster_throttle(aioredis.Redis.from_url(REDIS_URL), RateLimits()) is None
