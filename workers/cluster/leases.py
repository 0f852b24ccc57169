"""A per-IP connection cap that holds across every worker: a counting semaphore in Redis.

Each address has a sorted set of leases scored by their expiry (Redis's own clock, so workers on
different hosts agree). Taking a slot is one Lua script: drop expired leases, then add ours if fewer
than ``cap`` remain. A worker killed while holding a slot frees it when the lease expires. While a
slot is held, the lease is renewed every third of its length, so a probe longer than the lease
(the probe's own deadline is meant to stay below it) does not let another worker in.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
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

# extend our lease if it is still ours (an expired one is still ours until another worker's
# ACQUIRE drops it, and then nobody took its slot meanwhile)
RENEW = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


def lease_key(ip: str) -> str:
    return f"{PREFIX}ip:{ip}"


class IpLeases:
    """``async with leases.hold(ip)`` waits for one of the address's ``cap`` slots."""

    def __init__(self, client: aioredis.Redis, cap: int, lease_seconds: float,
                 poll: float = 0.05, renew: bool = True) -> None:
        if cap < 1:
            raise ValueError("the per-IP cap must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("the per-IP lease must be positive")
        self.client = client
        self.cap = cap
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.poll = poll
        self.renew = renew
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self.waits = 0  # times a slot was busy
        self.renewals = 0
        self.lost = 0  # leases found gone when renewing (another worker may have been let in)

    async def try_acquire(self, ip: str, token: str) -> bool:
        got = await self._acquire(keys=[lease_key(ip)], args=[token, self.cap, self.lease_ms])
        return bool(got)

    async def release(self, ip: str, token: str) -> None:
        await self.client.zrem(lease_key(ip), token)

    async def extend(self, ip: str, token: str) -> bool:
        """Renew our lease for another full length; False if it is gone."""
        return bool(await self._renew(keys=[lease_key(ip)], args=[token, self.lease_ms]))

    async def _keep(self, ip: str, token: str, released: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000.0)
            if released.is_set():
                return
            try:
                kept = await self.extend(ip, token)
            except redis.RedisError:
                continue  # Redis away: the release will tell; try again meanwhile
            if not kept:
                self.lost += 1
                return
            self.renewals += 1

    @asynccontextmanager
    async def hold(self, ip: str) -> AsyncIterator[str]:
        token = uuid.uuid4().hex
        while not await self.try_acquire(ip, token):
            self.waits += 1
            await asyncio.sleep(self.poll * (0.5 + random.random()))
        released = asyncio.Event()
        keeper = (asyncio.create_task(self._keep(ip, token, released)) if self.renew
                  else None)
        try:
            yield token
        finally:
            # The keeper stops on ``released``; the cancellation only cuts its sleep short. It is
            # not awaited: on Python 3.11 a cancellation can be lost (asyncio.wait_for, which
            # redis-py wraps around each command's write, returns the result when the command
            # ended in the same loop turn), and awaiting a keeper that lost it waited for ever,
            # renewing the lease (a worker held 32 chunks so, its loop idle: issue 13).
            released.set()
            if keeper is not None:
                keeper.cancel()
            # shielded: a cancellation of this task (a deadline around the probe) still ends it,
            # and the slot is freed now, not when the lease expires
            await asyncio.shield(self.release(ip, token))
