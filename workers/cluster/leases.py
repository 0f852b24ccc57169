"""A per-IP connection cap that holds across every worker: a counting semaphore in Redis.

Each address has a sorted set of leases scored by their expiry (Redis's own clock, so workers on
different hosts agree). Taking a slot is one Lua script: drop expired leases, then add ours if fewer
than ``cap`` remain. A worker killed while holding a slot frees it when the lease expires.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from workers.cluster.state import PREFIX

ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""


def lease_key(ip: str) -> str:
    return f"{PREFIX}ip:{ip}"


class IpLeases:
    """``async with leases.hold(ip)`` waits for one of the address's ``cap`` slots."""

    def __init__(self, client: aioredis.Redis, cap: int, lease_seconds: float,
                 poll: float = 0.05) -> None:
        if cap < 1:
            raise ValueError("the per-IP cap must be at least 1")
        self.client = client
        self.cap = cap
        self.lease_ms = int(lease_seconds * 1000)
        self.poll = poll
        self._acquire = client.register_script(ACQUIRE)
        self.waits = 0  # times a slot was busy

    async def try_acquire(self, ip: str, token: str) -> bool:
        got = await self._acquire(keys=[lease_key(ip)], args=[token, self.cap, self.lease_ms])
        return bool(got)

    async def release(self, ip: str, token: str) -> None:
        await self.client.zrem(lease_key(ip), token)

    @asynccontextmanager
    async def hold(self, ip: str) -> AsyncIterator[str]:
        token = uuid.uuid4().hex
        while not await self.try_acquire(ip, token):
            self.waits += 1
            await asyncio.sleep(self.poll * (0.5 + random.random()))
        try:
            yield token
        finally:
            await self.release(ip, token)
